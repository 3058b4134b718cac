/**
 * Quota accounting in real time. Two shapes, as providers describe them: a sliding window (Bedrock and Vertex
 * per-minute quotas: what started in the last window counts) and a continuously refilled token bucket (Anthropic
 * says so outright; OpenAI's reset headers describe the same "time until fully replenished").
 */

export const DIMS = ["requests", "tokens", "input", "output"] as const;
export type Dim = (typeof DIMS)[number];
export type Amounts = Record<Dim, number>;

export const zero = (): Amounts => ({ requests: 0, tokens: 0, input: 0, output: 0 });

export interface Ticket {
  charged: Amounts;
}

export type Admission = { ok: true; ticket: Ticket } | { ok: false; dim: Dim; retryAfterMs: number };

export interface DimState {
  limit: number;
  remaining: number;
  /** ms until the dimension is back to its full limit. */
  resetMs: number;
}

export interface Quota {
  /** Admits and charges `need`, or says which dimension refused and when it would fit. */
  admit(now: number, need: Amounts): Admission;
  /** Replaces what the ticket charged with the settled amounts (only the dimensions given). */
  settle(now: number, ticket: Ticket, final: Partial<Amounts>): void;
  state(now: number): Partial<Record<Dim, DimState>>;
  reset(): void;
}

/** Limits per dimension; 0 = not enforced. */
export type Limits = Amounts;

export class SlidingWindowQuota implements Quota {
  #entries: Array<{ t: number; ticket: Ticket }> = [];
  constructor(
    readonly limits: Limits,
    readonly windowMs: number,
  ) {}

  #prune(now: number) {
    let drop = 0;
    while (drop < this.#entries.length && this.#entries[drop]!.t <= now - this.windowMs) drop++;
    if (drop > 0) this.#entries.splice(0, drop);
  }

  #used(): Amounts {
    const used = zero();
    for (const e of this.#entries) for (const d of DIMS) used[d] += e.ticket.charged[d];
    return used;
  }

  admit(now: number, need: Amounts): Admission {
    this.#prune(now);
    const used = this.#used();
    const over = DIMS.filter((d) => this.limits[d] > 0 && used[d] + need[d] > this.limits[d]);
    if (over.length === 0) {
      const ticket = { charged: { ...need } };
      this.#entries.push({ t: now, ticket });
      return { ok: true, ticket };
    }
    // Earliest time at which enough of the window has slid out for every refusing dimension.
    let retryAfterMs = this.windowMs;
    const freed = zero();
    for (const e of this.#entries) {
      for (const d of DIMS) freed[d] += e.ticket.charged[d];
      if (over.every((d) => used[d] - freed[d] + need[d] <= this.limits[d])) {
        retryAfterMs = Math.max(1, e.t + this.windowMs - now);
        break;
      }
    }
    return { ok: false, dim: over[0]!, retryAfterMs };
  }

  settle(_now: number, ticket: Ticket, final: Partial<Amounts>): void {
    for (const d of DIMS) {
      const v = final[d];
      if (v !== undefined) ticket.charged[d] = v;
    }
  }

  state(now: number): Partial<Record<Dim, DimState>> {
    this.#prune(now);
    const used = this.#used();
    const out: Partial<Record<Dim, DimState>> = {};
    for (const d of DIMS) {
      const limit = this.limits[d];
      if (limit <= 0) continue;
      const last = this.#entries.at(-1);
      out[d] = {
        limit,
        remaining: Math.max(0, limit - used[d]),
        resetMs: last ? Math.max(0, last.t + this.windowMs - now) : 0,
      };
    }
    return out;
  }

  reset(): void {
    this.#entries = [];
  }
}

export class TokenBucketQuota implements Quota {
  #level: Amounts;
  #at = 0;
  constructor(
    readonly limits: Limits,
    readonly windowMs: number,
  ) {
    this.#level = { ...limits };
  }

  #refill(now: number) {
    const dt = Math.max(0, now - this.#at);
    this.#at = Math.max(this.#at, now);
    for (const d of DIMS) {
      const cap = this.limits[d];
      if (cap > 0) this.#level[d] = Math.min(cap, this.#level[d] + (cap * dt) / this.windowMs);
    }
  }

  admit(now: number, need: Amounts): Admission {
    this.#refill(now);
    let refused: { dim: Dim; retryAfterMs: number } | undefined;
    for (const d of DIMS) {
      const cap = this.limits[d];
      if (cap <= 0 || this.#level[d] >= need[d]) continue;
      // A request bigger than the bucket never fits: say "one window" like providers do for oversized requests.
      const wait = need[d] > cap ? this.windowMs : ((need[d] - this.#level[d]) * this.windowMs) / cap;
      if (!refused || wait > refused.retryAfterMs) refused = { dim: d, retryAfterMs: Math.max(1, Math.ceil(wait)) };
    }
    if (refused) return { ok: false, ...refused };
    for (const d of DIMS) if (this.limits[d] > 0) this.#level[d] -= need[d];
    return { ok: true, ticket: { charged: { ...need } } };
  }

  settle(now: number, ticket: Ticket, final: Partial<Amounts>): void {
    this.#refill(now);
    for (const d of DIMS) {
      const v = final[d];
      if (v === undefined) continue;
      // A refund can't overfill the bucket; an overrun can drive it negative (the provider then refuses longer).
      if (this.limits[d] > 0) this.#level[d] = Math.min(this.limits[d], this.#level[d] + ticket.charged[d] - v);
      ticket.charged[d] = v;
    }
  }

  state(now: number): Partial<Record<Dim, DimState>> {
    this.#refill(now);
    const out: Partial<Record<Dim, DimState>> = {};
    for (const d of DIMS) {
      const limit = this.limits[d];
      if (limit <= 0) continue;
      const level = this.#level[d];
      out[d] = {
        limit,
        remaining: Math.max(0, Math.floor(level)),
        resetMs: Math.ceil(((limit - level) * this.windowMs) / limit),
      };
    }
    return out;
  }

  /** Full again; the clock restarts at 0 with the simulator's. */
  reset(): void {
    this.#level = { ...this.limits };
    this.#at = 0;
  }
}
