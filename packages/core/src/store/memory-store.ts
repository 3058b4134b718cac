import { EventEmitter } from "node:events";
import {
  formatRecordId,
  type LimiterSpec,
  type MoveNotice,
  type Quad,
  type Store,
  type StoreAcquireArgs,
  type StoreAcquireReply,
  type StoreAdjustStatus,
  type StoreReleaseStatus,
  type StoreStatus,
} from "./store.js";

/**
 * The embedded store: the algorithm of src/lua/*.lua, step for step, over JavaScript arrays. Same pointers
 * (head, frontier, cursor, tail), same running sums, same results; lib.lua explains the invariants. One process
 * only. Share one instance between limiters with `new RateLimiter({ store })` if several must see each other.
 */
type Sums = [number, number, number, number];

interface MemRecord {
  seq: number;
  token: number;
  /** Earliest instant the caller may start. */
  slot: number;
  /** Latest instant the caller may start (a pause moves it later); the record counts until hold + W. */
  hold: number;
  /** combined, input, output, requests (1 live, 0 released) */
  cost: Sums;
}

interface State {
  head: number;
  frontier: number;
  cursor: number;
  tail: number;
  last: number;
  lasthold: number;
  paused: number;
  U: Sums;
  Q: Sums;
  WS: Sums;
  /** records[seq - base] */
  records: MemRecord[];
  base: number;
  /** Like the Redis key's TTL: the state is dropped once this store-clock time passes. */
  expiresAt: number;
}

const zero = (): Sums => [0, 0, 0, 0];

/** A moved record and the instant its caller should now start. */
type Move = [MemRecord, number];

function add(sums: Sums, cost: Quad, sign: 1 | -1): void {
  for (let d = 0; d < 4; d++) sums[d] = sums[d]! + sign * cost[d]!;
}

/**
 * Waiters ahead of a reservation that starts at `slot`; 0 when it starts now. A function rather than a closure made
 * per acquire: under tsx (the benchmarks, the tests) every named closure also costs a defineProperty for its name.
 */
function queuePosition(st: State, seq: number, slot: number, now: number): number {
  return slot <= now ? 0 : seq - st.frontier;
}

function exceeds(sums: Quad, cost: Quad, limits: Quad): boolean {
  for (let d = 0; d < 4; d++) {
    if (limits[d]! > 0 && sums[d]! + cost[d]! > limits[d]!) return true;
  }
  return false;
}

export interface MemoryStoreOptions {
  /** Clock in epoch ms; replaceable for tests. @default a monotonic wall clock */
  now?: () => number;
}

export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #states = new Map<string, State>();
  readonly #events = new EventEmitter();
  readonly #clock: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    const origin = performance.timeOrigin;
    this.#clock = options.now ?? (() => Math.floor(origin + performance.now()));
    this.#events.setMaxListeners(0);
  }

  async acquire(spec: LimiterSpec, args: StoreAcquireArgs): Promise<StoreAcquireReply> {
    const now = this.#clock();
    const st = this.#load(spec.key, now);
    this.#advance(st, now, spec.windowMs);

    if (args.retry) {
      for (let s = st.tail - 1; s >= st.head; s--) {
        const r = this.#rec(st, s);
        if (r.token === args.token) {
          return {
            kind: "duplicate",
            seq: s,
            slot: r.hold,
            now,
            queuePosition: queuePosition(st, s, r.hold, now),
            waiting: st.tail - st.frontier,
          };
        }
      }
    }

    const cost: Sums = [args.combined, args.input, args.output, 1];
    let slot = Math.max(now, st.last, st.paused);
    let cursor = st.cursor;
    const ws: Sums = [...st.WS];
    // See acquire.lua: step back over reservations inside the candidate's window again, then forward.
    while (cursor > st.head) {
      const r = this.#rec(st, cursor - 1);
      if (r.hold + spec.windowMs <= slot) break;
      add(ws, r.cost, 1);
      cursor--;
    }
    while (exceeds(ws, cost, spec.limits) && cursor < st.tail) {
      const r = this.#rec(st, cursor);
      add(ws, r.cost, -1);
      cursor++;
      if (r.hold + spec.windowMs > slot) slot = r.hold + spec.windowMs;
    }
    if (exceeds(ws, cost, spec.limits)) throw new Error("LLMRL_TOO_LARGE request exceeds a limit on its own");

    const waiting = st.tail - st.frontier;
    if (args.maxWaitMs >= 0 && slot - now > args.maxWaitMs) return { kind: "timeout", slot, now, waiting };
    if (args.maxQueue >= 0 && slot > now && waiting >= args.maxQueue) return { kind: "queue-full", slot, now, waiting };

    // `cost` is never written to (setCost swaps in a new array), so the record can keep it rather than a copy.
    const rec: MemRecord = { seq: st.tail, token: args.token, slot, hold: slot, cost };
    st.records.push(rec);
    st.tail++;
    st.cursor = cursor;
    st.WS = ws;
    add(st.WS, cost, 1);
    if (slot <= now) {
      add(st.U, cost, 1);
      st.frontier = st.tail;
    } else {
      add(st.Q, cost, 1);
    }
    st.last = slot;
    if (slot > st.lasthold) st.lasthold = slot;
    this.#save(spec.key, st, now, spec.windowMs);
    return {
      kind: "reserved",
      seq: rec.seq,
      slot,
      now,
      queuePosition: queuePosition(st, rec.seq, slot, now),
      waiting: st.tail - st.frontier,
    };
  }

  async adjust(
    spec: LimiterSpec,
    seq: number,
    token: number,
    input: number,
    output: number,
  ): Promise<{ status: StoreAdjustStatus; moved: number }> {
    const now = this.#clock();
    const st = this.#load(spec.key, now);
    this.#advance(st, now, spec.windowMs);
    const found = this.#find(st, seq, token);
    if (typeof found === "string") return { status: found, moved: 0 };
    if (found.cost[3] === 0) return { status: "released", moved: 0 };
    const inp = input < 0 ? found.cost[1] : input;
    const out = output < 0 ? found.cost[2] : output;
    const delta = this.#setCost(st, found, [Math.ceil(inp + spec.burndownRate * out), inp, out, 1]);
    const status = delta[0] !== 0 || delta[1] !== 0 || delta[2] !== 0 ? "adjusted" : "unchanged";
    const moved = delta[0] < 0 || delta[1] < 0 || delta[2] < 0 ? this.#reslot(st, now, spec.windowMs, spec.limits) : [];
    this.#save(spec.key, st, now, spec.windowMs);
    this.#publish(spec, now, moved);
    return { status, moved: moved.length };
  }

  async release(spec: LimiterSpec, seq: number, token: number): Promise<{ status: StoreReleaseStatus; moved: number }> {
    const now = this.#clock();
    const st = this.#load(spec.key, now);
    this.#advance(st, now, spec.windowMs);
    const found = this.#find(st, seq, token);
    if (typeof found === "string") return { status: found, moved: 0 };
    if (found.cost[3] === 0) return { status: "already-released", moved: 0 };
    this.#setCost(st, found, [0, 0, 0, 0]);
    const moved = this.#reslot(st, now, spec.windowMs, spec.limits);
    this.#save(spec.key, st, now, spec.windowMs);
    this.#publish(spec, now, moved);
    return { status: "released", moved: moved.length };
  }

  async pause(spec: LimiterSpec, durationMs: number): Promise<{ pausedUntil: number; now: number; moved: number }> {
    const now = this.#clock();
    const st = this.#load(spec.key, now);
    this.#advance(st, now, spec.windowMs);
    const until = now + durationMs;
    if (until <= st.paused) return { pausedUntil: st.paused, now, moved: 0 };
    st.paused = until;
    const moved: Move[] = [];
    for (let s = st.frontier; s < st.tail; s++) {
      const r = this.#rec(st, s);
      if (r.hold >= until) break;
      r.hold = until;
      moved.push([r, until]);
    }
    if (moved.length > 0 && until > st.lasthold) st.lasthold = until;
    this.#save(spec.key, st, now, spec.windowMs);
    this.#publish(spec, now, moved);
    return { pausedUntil: until, now, moved: moved.length };
  }

  async status(spec: LimiterSpec): Promise<StoreStatus> {
    const now = this.#clock();
    const existing = this.#states.get(spec.key);
    // Read-only like status.lua: advance a copy.
    const st = existing && existing.expiresAt > now ? cloneState(existing) : this.#fresh();
    this.#advance(st, now, spec.windowMs);
    return {
      now,
      pausedUntil: st.paused > now ? st.paused : 0,
      waiting: st.tail - st.frontier,
      used: [...st.U],
      queued: [...st.Q],
      liveRecords: st.tail - st.head,
    };
  }

  async peek(spec: LimiterSpec, seq: number, token: number) {
    const now = this.#clock();
    const existing = this.#states.get(spec.key);
    const st = existing && existing.expiresAt > now ? cloneState(existing) : this.#fresh();
    this.#advance(st, now, spec.windowMs);
    const found = this.#find(st, seq, token);
    if (typeof found === "string") return { status: found, start: 0, now };
    return { status: found.cost[3] === 0 ? ("released" as const) : ("found" as const), start: found.hold, now };
  }

  /** In-process events are never lost. */
  subscriptionEpoch(): number {
    return 0;
  }

  async subscribe(spec: LimiterSpec, onMoves: (notice: MoveNotice) => void): Promise<() => Promise<void>> {
    this.#events.on(spec.channel, onMoves);
    return async () => {
      this.#events.off(spec.channel, onMoves);
    };
  }

  async close(): Promise<void> {
    this.#states.clear();
    this.#events.removeAllListeners();
  }

  /** Number of limiter states held (they expire like Redis keys). For tests and leak checks. */
  get size(): number {
    const now = this.#clock();
    for (const [key, st] of this.#states) if (st.expiresAt <= now) this.#states.delete(key);
    return this.#states.size;
  }

  #fresh(): State {
    return {
      head: 0,
      frontier: 0,
      cursor: 0,
      tail: 0,
      last: 0,
      lasthold: 0,
      paused: 0,
      U: zero(),
      Q: zero(),
      WS: zero(),
      records: [],
      base: 0,
      expiresAt: Number.POSITIVE_INFINITY,
    };
  }

  #load(key: string, now: number): State {
    const st = this.#states.get(key);
    if (st && st.expiresAt > now) return st;
    const fresh = this.#fresh();
    this.#states.set(key, fresh);
    return fresh;
  }

  #save(key: string, st: State, now: number, windowMs: number): void {
    // Drop records before head; compact the array once the dead prefix is large (amortised O(1)).
    const dead = st.head - st.base;
    if (dead > 1024 && dead * 2 > st.records.length) {
      st.records = st.records.slice(dead);
      st.base = st.head;
    }
    st.expiresAt = now + Math.max(Math.max(st.lasthold, st.paused) - now, 0) + windowMs + 1000;
    this.#states.set(key, st);
  }

  #rec(st: State, seq: number): MemRecord {
    return st.records[seq - st.base]!;
  }

  #find(st: State, seq: number, token: number): MemRecord | "expired" | "unknown" {
    if (st.tail === 0 || seq < st.head) return "expired";
    if (seq >= st.tail || seq < 0) return "unknown";
    const r = this.#rec(st, seq);
    return r.token === token ? r : "unknown";
  }

  #advance(st: State, now: number, w: number): void {
    if (st.tail === st.head) return;
    if (st.lasthold + w <= now) {
      st.head = st.frontier = st.cursor = st.tail;
      st.U = zero();
      st.Q = zero();
      st.WS = zero();
      return;
    }
    while (st.head < st.tail) {
      const r = this.#rec(st, st.head);
      if (r.hold + w > now) break;
      if (st.head >= st.frontier) {
        add(st.Q, r.cost, -1);
        st.frontier = st.head + 1;
      } else {
        add(st.U, r.cost, -1);
      }
      if (st.head >= st.cursor) {
        add(st.WS, r.cost, -1);
        st.cursor = st.head + 1;
      }
      st.head++;
    }
    if (st.last <= now) {
      add(st.U, st.Q, 1);
      st.Q = zero();
      st.frontier = st.tail;
    } else {
      while (st.frontier < st.tail) {
        const r = this.#rec(st, st.frontier);
        if (r.slot > now) break;
        add(st.Q, r.cost, -1);
        add(st.U, r.cost, 1);
        st.frontier++;
      }
    }
  }

  #setCost(st: State, r: MemRecord, cost: Sums): Sums {
    const delta: Sums = [cost[0] - r.cost[0], cost[1] - r.cost[1], cost[2] - r.cost[2], cost[3] - r.cost[3]];
    add(r.seq < st.frontier ? st.U : st.Q, delta, 1);
    if (r.seq >= st.cursor) add(st.WS, delta, 1);
    r.cost = cost;
    return delta;
  }

  /** See reslot in lib.lua: the slot walk replayed over the first waiters after capacity came back. */
  #reslot(st: State, now: number, w: number, limits: Quad): Move[] {
    const moved: Move[] = [];
    let t = Math.max(now, st.paused);
    let p = st.head;
    const sums: Sums = [...st.U];
    let steps = 0;
    for (let i = st.frontier; i < st.tail && moved.length < MAX_MOVES && steps < STEP_BUDGET; i++) {
      const r = this.#rec(st, i);
      steps++;
      while (exceeds(sums, r.cost, limits) && p < i) {
        const q = this.#rec(st, p);
        add(sums, q.cost, -1);
        p++;
        steps++;
        if (q.hold + w > t) t = q.hold + w;
      }
      if (exceeds(sums, r.cost, limits) || t >= r.slot || r.slot - now < MOVE_GUARD_MS) {
        if (r.slot > t) t = r.slot;
      } else {
        r.slot = t;
        r.hold = t;
        moved.push([r, t]);
        if (i === st.tail - 1) st.last = t;
      }
      add(sums, r.cost, 1);
    }
    while (st.frontier < st.tail) {
      const r = this.#rec(st, st.frontier);
      if (r.slot > now) break;
      add(st.Q, r.cost, -1);
      add(st.U, r.cost, 1);
      st.frontier++;
    }
    return moved;
  }

  #publish(spec: LimiterSpec, now: number, moved: Move[]): void {
    if (moved.length === 0) return;
    const notice: MoveNotice = {
      now,
      moves: moved.map(([r, start]) => ({ recordId: formatRecordId(r.seq, r.token), slot: start })),
    };
    // Delivered asynchronously, like a pub/sub message, so callers never re-enter the store mid-operation.
    queueMicrotask(() => this.#events.emit(spec.channel, notice));
  }
}

/** Waiters one refund may move at most; bounds the cost of adjust/release (same value is passed to Redis). */
export const MAX_MOVES = 256;
/** Record reads one reslot may make (STEP_BUDGET in lib.lua). */
const STEP_BUDGET = 1024;
/** Waiters this close to their slot are not moved (MOVE_GUARD in lib.lua). */
const MOVE_GUARD_MS = 100;

function cloneState(st: State): State {
  return {
    ...st,
    U: [...st.U],
    Q: [...st.Q],
    WS: [...st.WS],
    // status only reads records; sharing the array is safe because advance never mutates records
    records: st.records,
  };
}
