import type { MoveNotice } from "./store/store.js";

/**
 * The requests of this process that sleep until their slot. A store notice (one per refund, for every process)
 * reschedules the ones it names, so a waiter moves up without any polling. Moves that arrive before the acquire
 * reply registered their waiter are remembered for a few seconds and applied on registration.
 */
interface Waiter {
  slot: number;
  timer: NodeJS.Timeout | undefined;
  fire: () => void;
}

const EARLY_MOVE_TTL_MS = 10_000;

export class Waiters {
  readonly #waiters = new Map<string, Waiter>();
  readonly #early = new Map<string, { slot: number; delayMs: number; at: number }>();
  #onMove: (recordId: string, slot: number) => void;

  constructor(onMove: (recordId: string, slot: number) => void) {
    this.#onMove = onMove;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves with the final slot once `delayMs` (from now) has passed or a notice moved it.
   * `fire` is internal; cancellation goes through `cancel`.
   */
  wait(recordId: string, slot: number, delayMs: number): Promise<number> {
    return new Promise<number>((resolve) => {
      const waiter: Waiter = {
        slot,
        timer: undefined,
        fire: () => {
          if (this.#waiters.get(recordId) !== waiter) return; // cancelled meanwhile
          this.#waiters.delete(recordId);
          resolve(waiter.slot);
        },
      };
      this.#waiters.set(recordId, waiter);
      const early = this.#early.get(recordId);
      if (early) {
        this.#early.delete(recordId);
        waiter.slot = early.slot;
        this.#schedule(waiter, early.delayMs - (Date.now() - early.at));
        this.#onMove(recordId, early.slot);
      } else {
        this.#schedule(waiter, delayMs);
      }
    });
  }

  /** Stops waiting (abort, close); returns false when the waiter already fired. */
  cancel(recordId: string): boolean {
    const waiter = this.#waiters.get(recordId);
    if (!waiter) return false;
    clearTimeout(waiter.timer);
    this.#waiters.delete(recordId);
    return true;
  }

  ids(): string[] {
    return [...this.#waiters.keys()];
  }

  apply(notice: MoveNotice): void {
    const at = Date.now();
    for (const move of notice.moves) {
      const delayMs = move.slot - notice.now;
      const waiter = this.#waiters.get(move.recordId);
      if (waiter) {
        waiter.slot = move.slot;
        this.#schedule(waiter, delayMs);
        this.#onMove(move.recordId, move.slot);
      } else {
        this.#early.set(move.recordId, { slot: move.slot, delayMs, at });
      }
    }
    for (const [id, early] of this.#early) if (at - early.at > EARLY_MOVE_TTL_MS) this.#early.delete(id);
  }

  #schedule(waiter: Waiter, delayMs: number): void {
    clearTimeout(waiter.timer);
    if (delayMs <= 0) {
      waiter.timer = undefined;
      queueMicrotask(waiter.fire);
    } else {
      waiter.timer = setTimeout(waiter.fire, Math.ceil(delayMs));
    }
  }
}
