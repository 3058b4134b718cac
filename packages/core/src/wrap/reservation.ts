import type { AcquireResult } from "../options.js";
import type { RateLimiter } from "../rate-limiter.js";

/**
 * One provider call's reservation, as every SDK wrapper handles it: acquire before the request, then settle exactly
 * once — `settle` with the reported usage, `release` when the request never reached the provider, `failed` for an
 * HTTP error (a 429 also pauses every process sharing the limiter). Settlement errors never reach the caller's
 * result: the limiter already applied its `onRedisError` policy and emitted `degraded`.
 */
export interface OpenOptions {
  inputTokens: number;
  outputTokens: number;
  signal?: AbortSignal | undefined;
  maxWaitMs?: number | undefined;
}

/**
 * Backoff after a 429 that named no delay (Google and AWS never do): doubling from a quarter of the window (at most
 * 1 s), capped at one window (at most 60 s), ±20 % so processes do not retry in lockstep. With the usual 60 s
 * window: 1 s, 2 s, 4 s … 60 s.
 */
export function backoffFor429(consecutive: number, windowMs = 60_000, random: () => number = Math.random): number {
  const first = Math.min(1000, windowMs / 4);
  const base = Math.min(first * 2 ** Math.max(0, consecutive - 1), Math.min(60_000, windowMs));
  return Math.max(1, Math.round(base * (0.8 + 0.4 * random())));
}

const consecutive429 = new WeakMap<RateLimiter, number>();

export class Reservation {
  readonly limiter: RateLimiter;
  readonly result: AcquireResult;
  #settled = false;

  private constructor(limiter: RateLimiter, result: AcquireResult) {
    this.limiter = limiter;
    this.result = result;
  }

  static async open(limiter: RateLimiter, options: OpenOptions): Promise<Reservation> {
    const result = await limiter.acquire({
      inputTokens: options.inputTokens,
      outputTokens: options.outputTokens,
      signal: options.signal,
      maxWaitMs: options.maxWaitMs,
    });
    return new Reservation(limiter, result);
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Sets the reservation to the usage the provider reported (either side may be unknown: keeps the estimate). */
  async settle(usage: { input?: number | undefined; output?: number | undefined }): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    consecutive429.delete(this.limiter);
    const actualInput = clean(usage.input);
    const actualOutput = clean(usage.output);
    if (actualInput === undefined && actualOutput === undefined) return; // nothing reported: keep the estimate
    await this.limiter
      .adjust(this.result.recordId, {
        ...(actualInput === undefined ? {} : { actualInput }),
        ...(actualOutput === undefined ? {} : { actualOutput }),
      })
      .catch(() => {});
  }

  /** The request never reached the provider: give everything back. */
  async release(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.limiter.release(this.result.recordId).catch(() => {});
  }

  /**
   * The provider answered with an error. A 429 pauses the limiter for `retryAfterMs` (or an exponential backoff)
   * in every process; the request stays counted (providers count failed requests) but its tokens are refunded.
   * No status means the request never got an answer: released.
   */
  async failed(status: number | undefined, retryAfterMs?: number): Promise<void> {
    if (this.#settled) return;
    if (status === undefined) return this.release();
    if (status === 429) {
      const n = (consecutive429.get(this.limiter) ?? 0) + 1;
      consecutive429.set(this.limiter, n);
      const ms =
        retryAfterMs !== undefined && retryAfterMs > 0
          ? retryAfterMs
          : backoffFor429(n, this.limiter.windowSeconds * 1000);
      await this.limiter.pause(Math.min(Math.max(ms, 1), 86_400_000)).catch(() => {});
    }
    this.#settled = true;
    await this.limiter.adjust(this.result.recordId, { actualInput: 0, actualOutput: 0 }).catch(() => {});
  }
}

function clean(n: number | undefined): number | undefined {
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? Math.round(n) : undefined;
}

/**
 * Wraps an async iterator so `onItem` sees every item and `onEnd` runs exactly once when the consumer finishes,
 * breaks off (return) or the source throws. The items pass through untouched.
 */
export function tapAsyncIterable<T>(
  source: AsyncIterable<T>,
  onItem: (item: T) => void,
  onEnd: (outcome: { completed: boolean; error?: unknown }) => void,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      let done = false;
      const end = (outcome: { completed: boolean; error?: unknown }) => {
        if (done) return;
        done = true;
        onEnd(outcome);
      };
      return {
        async next() {
          try {
            const step = await it.next();
            if (step.done) end({ completed: true });
            else onItem(step.value);
            return step;
          } catch (error) {
            end({ completed: false, error });
            throw error;
          }
        },
        async return(value?: unknown) {
          end({ completed: false });
          return (await it.return?.(value)) ?? { done: true, value: undefined as unknown as T };
        },
        async throw(error?: unknown) {
          end({ completed: false, error });
          if (it.throw) return it.throw(error);
          throw error;
        },
      };
    },
  };
}
