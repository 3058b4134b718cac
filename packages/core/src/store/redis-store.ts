import { createHash } from "node:crypto";
import { StoreError } from "../errors.js";
import { acquireLua, adjustLua, pauseLua, peekLua, releaseLua, statusLua } from "../lua/scripts.generated.js";
import type { RedisAdapter } from "../redis/client.js";
import { MAX_MOVES } from "./memory-store.js";
import {
  type LimiterSpec,
  type MoveNotice,
  parseMoveNotice,
  type Quad,
  type Store,
  type StoreAcquireArgs,
  type StoreAcquireReply,
  type StoreAdjustStatus,
  type StoreReleaseStatus,
  type StoreStatus,
} from "./store.js";

/** A script with its SHA1, computed once at load. */
interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

const script = (name: string, source: string): Script => ({
  name,
  source,
  sha: createHash("sha1").update(source).digest("hex"),
});

export const SCRIPTS = {
  acquire: script("acquire", acquireLua),
  adjust: script("adjust", adjustLua),
  release: script("release", releaseLua),
  pause: script("pause", pauseLua),
  status: script("status", statusLua),
  peek: script("peek", peekLua),
} as const;

/**
 * The byte layout of a limiter's state string (see src/lua/lib.lua, which is the authority): a header of
 * little-endian doubles, then a ring of fixed-size records. Exported for tools and tests that inspect the key;
 * test/redis-store checks it against a real key.
 */
export const STATE_LAYOUT = Object.freeze({ headerBytes: 192, recordBytes: 31, initialCapacity: 64 });

/** How many of the newest records a resent acquire looks through for its own token. */
export const RETRY_SCAN = 20_000;

/**
 * Most acquires one script call carries. The script spends a few µs per request, so this bounds how long one call
 * holds Redis (well under a millisecond) while still amortising the call's fixed cost over a burst.
 */
export const MAX_BATCH = 64;

interface PendingAcquire {
  readonly args: StoreAcquireArgs;
  readonly resolve: (reply: StoreAcquireReply) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The Redis store: each operation is one EVALSHA of one script on one key (acquires started in the same tick share
 * one). Only NOSCRIPT triggers a second call (EVAL, which also caches the script); every other error goes back to the
 * caller, which decides on retries.
 */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly #redis: RedisAdapter;
  readonly #owned: (() => Promise<void>) | undefined;
  /** Acquires waiting for this tick's script call, per limiter. */
  readonly #batches = new Map<LimiterSpec, PendingAcquire[]>();

  /** @param close what to close on `close()`: only what the limiter created. */
  constructor(redis: RedisAdapter, close?: () => Promise<void>) {
    this.#redis = redis;
    this.#owned = close;
  }

  async #run(s: Script, key: string, args: readonly (string | number)[]): Promise<unknown[]> {
    let reply: unknown;
    try {
      reply = await this.#redis.evalsha(s.sha, [key], args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw this.#classify(s, error);
      try {
        reply = await this.#redis.eval(s.source, [key], args);
      } catch (again) {
        throw this.#classify(s, again);
      }
    }
    if (!Array.isArray(reply) || !reply.every((v) => typeof v === "number" || typeof v === "string")) {
      throw new StoreError(s.name, `unexpected reply ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  #classify(s: Script, error: unknown): unknown {
    const message = error instanceof Error ? error.message : String(error);
    // Our own script errors and foreign data are bugs or misconfiguration, never retried or hidden by the policy.
    if (/LLMRL_|WRONGTYPE|user_script|ERR Error running script/.test(message)) {
      return new StoreError(s.name, message, error);
    }
    return error;
  }

  /**
   * Acquires made in the same tick for the same limiter travel in one script call (at most MAX_BATCH). The script
   * places them in call order exactly as separate calls would, so batching changes no result; it only saves round
   * trips and the per-call cost of the script when many requests start together (a burst, a hot key).
   */
  acquire(spec: LimiterSpec, a: StoreAcquireArgs): Promise<StoreAcquireReply> {
    return new Promise((resolve, reject) => {
      let batch = this.#batches.get(spec);
      if (!batch) {
        const fresh: PendingAcquire[] = [];
        batch = fresh;
        this.#batches.set(spec, fresh);
        // nextTick runs once every promise continuation queued so far has run: the acquires their callers make
        // in reaction to the same event all join this batch, and a lone acquire waits for nothing.
        process.nextTick(() => this.#flush(spec, fresh));
      }
      batch.push({ args: a, resolve, reject });
      if (batch.length >= MAX_BATCH) this.#flush(spec, batch);
    });
  }

  #flush(spec: LimiterSpec, batch: PendingAcquire[]): void {
    if (this.#batches.get(spec) !== batch) return; // already sent (it filled up)
    this.#batches.delete(spec);
    const args: (string | number)[] = [...spec.limits, spec.windowMs, RETRY_SCAN];
    for (const { args: a } of batch) {
      args.push(a.token, a.input, a.output, a.combined, a.maxWaitMs, a.maxQueue, a.retry ? 1 : 0);
    }
    this.#run(SCRIPTS.acquire, spec.key, args).then(
      (reply) => {
        let replies: ReturnType<typeof parseAcquireReply>;
        try {
          replies = parseAcquireReply(reply, batch.length);
        } catch (error) {
          for (const p of batch) p.reject(error);
          return;
        }
        batch.forEach((p, k) => {
          const r = replies[k]!;
          if (r.kind === "too-large")
            p.reject(new StoreError("acquire", "LLMRL_TOO_LARGE request exceeds a limit on its own"));
          else p.resolve(r);
        });
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
      },
    );
  }

  async adjust(spec: LimiterSpec, seq: number, token: number, input: number, output: number) {
    const r = nums(
      await this.#run(SCRIPTS.adjust, spec.key, [
        seq,
        token,
        input,
        output,
        spec.burndownRate,
        ...spec.limits,
        spec.windowMs,
        spec.channel,
        MAX_MOVES,
      ]),
      5,
      "adjust",
    );
    const statuses: Record<number, StoreAdjustStatus> = {
      1: "adjusted",
      2: "unchanged",
      3: "expired",
      4: "unknown",
      5: "released",
    };
    const status = statuses[r[0]!];
    if (!status) throw new StoreError("adjust", `unknown status ${r[0]}`);
    return { status, moved: r[4]! };
  }

  async release(spec: LimiterSpec, seq: number, token: number) {
    const r = nums(
      await this.#run(SCRIPTS.release, spec.key, [seq, token, ...spec.limits, spec.windowMs, spec.channel, MAX_MOVES]),
      2,
      "release",
    );
    const statuses: Record<number, StoreReleaseStatus> = {
      1: "released",
      3: "expired",
      4: "unknown",
      5: "already-released",
    };
    const status = statuses[r[0]!];
    if (!status) throw new StoreError("release", `unknown status ${r[0]}`);
    return { status, moved: r[1]! };
  }

  async pause(spec: LimiterSpec, durationMs: number) {
    const r = nums(
      await this.#run(SCRIPTS.pause, spec.key, [Math.ceil(durationMs), spec.windowMs, spec.channel]),
      3,
      "pause",
    );
    return { pausedUntil: r[0]!, now: r[1]!, moved: r[2]! };
  }

  async status(spec: LimiterSpec): Promise<StoreStatus> {
    const r = nums(await this.#run(SCRIPTS.status, spec.key, [spec.windowMs]), 13, "status");
    return {
      now: r[0]!,
      pausedUntil: r[1]!,
      waiting: r[2]!,
      used: r.slice(3, 7) as unknown as Quad,
      queued: r.slice(7, 11) as unknown as Quad,
      liveRecords: r[11]!,
    };
  }

  async peek(spec: LimiterSpec, seq: number, token: number) {
    const r = nums(await this.#run(SCRIPTS.peek, spec.key, [seq, token, spec.windowMs]), 3, "peek");
    const statuses = { 1: "found", 3: "expired", 4: "unknown", 5: "released" } as const;
    const status = statuses[r[0] as 1 | 3 | 4 | 5];
    if (!status) throw new StoreError("peek", `unknown status ${r[0]}`);
    return { status, start: r[1]!, now: r[2]! };
  }

  subscriptionEpoch(): number {
    return this.#redis.subscriptionEpoch?.() ?? 0;
  }

  async subscribe(spec: LimiterSpec, onMoves: (notice: MoveNotice) => void) {
    return this.#redis.subscribe(spec.channel, (message) => {
      const notice = parseMoveNotice(message);
      if (notice) onMoves(notice);
    });
  }

  async close(): Promise<void> {
    await this.#owned?.();
  }
}

/** Splits the acquire script's reply: store now, then five numbers per request (see acquire.lua). */
function parseAcquireReply(reply: unknown[], count: number): Array<StoreAcquireReply | { kind: "too-large" }> {
  const r = nums(reply, 1 + 5 * count, "acquire");
  const now = r[0]!;
  const out: Array<StoreAcquireReply | { kind: "too-large" }> = [];
  for (let k = 0; k < count; k++) {
    const base = 1 + 5 * k;
    const status = r[base]!;
    const seq = r[base + 1]!;
    const slot = r[base + 2]!;
    const queuePosition = r[base + 3]!;
    const waiting = r[base + 4]!;
    switch (status) {
      case 1:
      case 2:
        out.push({ kind: status === 1 ? "reserved" : "duplicate", seq, slot, now, queuePosition, waiting });
        break;
      case 3:
        out.push({ kind: "timeout", slot, now, waiting });
        break;
      case 4:
        out.push({ kind: "queue-full", slot, now, waiting });
        break;
      case 5:
        out.push({ kind: "too-large" });
        break;
      default:
        throw new StoreError("acquire", `unknown status ${status}`);
    }
  }
  return out;
}

function nums(reply: unknown[], length: number, operation: string): number[] {
  const out = reply.map(Number);
  if (out.length !== length || out.some((n) => !Number.isFinite(n))) {
    throw new StoreError(operation, `unexpected reply ${JSON.stringify(reply)}`);
  }
  return out;
}
