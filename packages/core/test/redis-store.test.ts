/**
 * What only the Redis store has to prove: one key per limiter with a TTL that outlives the queue, bounded memory per
 * reservation, exactly one Redis call per operation (EVALSHA; EVAL only after NOSCRIPT), idempotent resends, the
 * store clock (a skewed client clock changes nothing), and surfaced errors for foreign data.
 */
import { randomUUID } from "node:crypto";
import {
  ioredisAdapter,
  MAX_BATCH,
  QueueFullError,
  RateLimiter,
  type RateLimiterOptions,
  RedisStore,
  SCRIPTS,
  STATE_LAYOUT,
  StoreError,
  WaitTimeoutError,
} from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/harness/redis-server.js";

// A server of its own: command counts (INFO commandstats) and SCRIPT FLUSH are server-wide.
let server: RedisServer;
let redis: Redis;
const inject = (_: "redisUrl") => server.url;
const limiters: RateLimiter[] = [];

function make(options: Omit<RateLimiterOptions, "model" | "redis">) {
  const limiter = new RateLimiter({ redis: redis, model: "m", keyPrefix: `r-${randomUUID()}`, ...options });
  limiters.push(limiter);
  return limiter;
}

async function commandCalls(): Promise<{ evalsha: number; eval: number }> {
  const info = await redis.info("commandstats");
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { evalsha: calls("evalsha"), eval: calls("eval") };
}

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});
afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()));
  vi.restoreAllMocks();
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe("Redis store", () => {
  it("keeps all of a limiter in one hash-tagged key whose TTL outlives the furthest reservation plus the window", async () => {
    const limiter = make({ rpm: 1, windowSeconds: 1 });
    expect(limiter.key).toMatch(/^\{[^{}]+\}:state$/);
    await limiter.acquire({ tokens: 1 });
    const queued = [1, 2, 3].map(() => limiter.acquire({ tokens: 1, maxWaitMs: 10_000 }).catch((e) => e));
    await new Promise((r) => setTimeout(r, 50));
    const pttl = await redis.pttl(limiter.key);
    // the last slot is ~3 s away, plus a 1 s window, plus margin
    expect(pttl).toBeGreaterThan(3 * 1000 + 1000 - 200);
    const keys = await redis.keys(`*${limiter.key.slice(1, limiter.key.indexOf("}"))}*`);
    expect(keys).toEqual([limiter.key]);
    await limiter.close();
    await Promise.allSettled(queued);
  });

  it("lays its state out as STATE_LAYOUT says (header, then a ring of fixed-size records)", async () => {
    const limiter = make({ tpm: 1000 });
    await limiter.acquire({ tokens: 1 });
    expect(await redis.strlen(limiter.key)).toBe(
      STATE_LAYOUT.headerBytes + STATE_LAYOUT.initialCapacity * STATE_LAYOUT.recordBytes,
    );
  });

  it("lets the key vanish by itself once every reservation has passed", async () => {
    const limiter = make({ tpm: 1000, windowSeconds: 0.2 });
    await limiter.acquire({ tokens: 10 });
    expect(await redis.exists(limiter.key)).toBe(1);
    await new Promise((r) => setTimeout(r, 1400));
    expect(await redis.exists(limiter.key)).toBe(0);
  });

  it("stores a reservation in at most 64 bytes", async () => {
    const limiter = make({ tpm: 4_000_000_000, windowSeconds: 600 });
    const n = 10_000;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(Array.from({ length: 500 }, () => limiter.acquire({ inputTokens: 1000, outputTokens: 500 })));
    }
    const bytes = Number(await redis.memory("USAGE", limiter.key));
    expect((await limiter.status()).requestsUsed).toBe(n);
    expect(bytes / n).toBeLessThanOrEqual(64);
  });

  it("makes exactly one Redis call per acquire, adjust and release, waiting or not", async () => {
    const limiter = make({ rpm: 1, windowSeconds: 0.3 });
    const warm = await limiter.acquire({ tokens: 1 }); // every script now cached
    await limiter.adjust(warm.recordId, { actualInput: 1 });
    await limiter.release("999999.1"); // unknown id: loads the script, frees nothing
    const before = await commandCalls();
    const a = await limiter.acquire({ tokens: 1 }); // waits ~300 ms
    expect(a.waitMs).toBeGreaterThan(100);
    await limiter.adjust(a.recordId, { actualInput: 1 });
    await limiter.release(a.recordId);
    const after = await commandCalls();
    expect(after.evalsha - before.evalsha).toBe(3);
    expect(after.eval - before.eval).toBe(0);
  });

  it("reloads its scripts after SCRIPT FLUSH with one EVAL, and only on NOSCRIPT", async () => {
    const limiter = make({ tpm: 1000 });
    await limiter.acquire({ tokens: 1 });
    await redis.script("FLUSH");
    const before = await commandCalls();
    const r = await limiter.acquire({ tokens: 1 });
    expect(r.degraded).toBe(false);
    const after = await commandCalls();
    expect(after.evalsha - before.evalsha).toBe(1);
    expect(after.eval - before.eval).toBe(1);
    const loaded = (await redis.script("EXISTS", SCRIPTS.acquire.sha)) as number[];
    expect(loaded).toEqual([1]);
  });

  it("deduplicates a resent acquire: the same token never reserves twice", async () => {
    const store = new RedisStore(ioredisAdapter(redis));
    const key = `{dedup-${randomUUID()}}:state`;
    const spec = { key, channel: "", windowMs: 60_000, limits: [1000, 0, 0, 0] as const, burndownRate: 1 };
    const args = { token: 123456789, input: 600, output: 0, combined: 600, maxWaitMs: -1, maxQueue: -1 };
    const first = await store.acquire(spec, { ...args, retry: false });
    const resend = await store.acquire(spec, { ...args, retry: true });
    expect(first.kind).toBe("reserved");
    expect(resend.kind).toBe("duplicate");
    if (first.kind !== "reserved" || resend.kind !== "duplicate") return;
    expect(resend.seq).toBe(first.seq);
    expect(resend.slot).toBe(first.slot);
    expect((await store.status(spec)).used[0]).toBe(600);
    await redis.del(key);
  });

  it("takes slots from the Redis clock: a client clock a minute off changes nothing (D5)", async () => {
    const limiter = make({ tpm: 100, windowSeconds: 0.5 });
    const [sec, usec] = (await redis.time()) as unknown as [string | number, string | number];
    const redisNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const realNow = Date.now;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 60_000);
    const a = await limiter.acquire({ tokens: 100 });
    const started = performance.now();
    const b = await limiter.acquire({ tokens: 100 });
    const waited = performance.now() - started;
    expect(Math.abs(a.slotTime - redisNow)).toBeLessThan(2000);
    expect(b.slotTime - a.slotTime).toBeGreaterThanOrEqual(500);
    expect(b.slotTime - a.slotTime).toBeLessThan(700);
    // it waited for the window, neither 0 (clock ahead) nor a minute (clock behind)
    expect(waited).toBeGreaterThan(300);
    expect(waited).toBeLessThan(5000);
  });

  it("surfaces foreign data in its key as a StoreError instead of failing open", async () => {
    const limiter = make({ tpm: 100, onRedisError: "allow" });
    await redis.set(limiter.key, "not ours");
    await expect(limiter.acquire({ tokens: 1 })).rejects.toBeInstanceOf(StoreError);
    await redis.del(limiter.key);
    await redis.hset(limiter.key, "a", "b");
    await expect(limiter.acquire({ tokens: 1 })).rejects.toBeInstanceOf(StoreError);
    await redis.del(limiter.key);
  });

  it("never closes a client it was given", async () => {
    const client = new Redis(inject("redisUrl"));
    const limiter = new RateLimiter({ redis: client, model: "m", tpm: 10, keyPrefix: `r-${randomUUID()}` });
    await limiter.acquire({ tokens: 1 });
    await limiter.close();
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
  });

  it("closes the connection it created from a URL", async () => {
    const limiter = new RateLimiter(inject("redisUrl"), "m", { tpm: 10, keyPrefix: `r-${randomUUID()}` });
    await limiter.acquire({ tokens: 1 });
    const clientsBefore = Number(/connected_clients:(\d+)/.exec(await redis.info("clients"))?.[1]);
    await limiter.close();
    await new Promise((r) => setTimeout(r, 100));
    const clientsAfter = Number(/connected_clients:(\d+)/.exec(await redis.info("clients"))?.[1]);
    expect(clientsAfter).toBeLessThan(clientsBefore);
  });
});

describe("batched acquires (one script call for the acquires a process makes in the same tick)", () => {
  it("sends them in one call and places them in call order, exactly as separate calls would", async () => {
    const limiter = make({ tpm: 1000, windowSeconds: 0.3 });
    await limiter.acquire({ tokens: 1 }); // scripts cached, subscription open
    await limiter.release((await limiter.acquire({ tokens: 1 })).recordId);
    const before = await commandCalls();
    const results = await Promise.all(Array.from({ length: 7 }, () => limiter.acquire({ tokens: 300 })));
    const after = await commandCalls();
    expect(after.evalsha - before.evalsha).toBe(1);
    const seqs = results.map((r) => Number(r.recordId.split(".")[0]));
    expect(seqs).toEqual(seqs.map((_, k) => seqs[0]! + k));
    // 1 + 300 × 3 fit the first window; each later trio waits for the window of the one three places ahead
    expect(results.map((r) => r.queuePosition)).toEqual([0, 0, 0, 0, 1, 2, 3]);
    const slots = results.map((r) => r.slotTime);
    for (let k = 3; k < 7; k++) expect(slots[k]! - slots[k - 3]!).toBeGreaterThanOrEqual(300);
    expect(slots[4]).toBe(slots[3]! + (slots[1]! - slots[0]!));
  });

  it("gives each request of a call its own outcome: reserved, wait timeout, queue full", async () => {
    const limiter = make({ rpm: 2, windowSeconds: 0.3, maxQueueDepth: 1 });
    await limiter.release((await limiter.acquire({ tokens: 1 })).recordId);
    const before = await commandCalls();
    const settled = await Promise.allSettled([
      limiter.acquire({ tokens: 1 }), // starts now
      limiter.acquire({ tokens: 1 }), // starts now
      limiter.acquire({ tokens: 1, maxWaitMs: 0 }), // would wait: WaitTimeoutError, reserves nothing
      limiter.acquire({ tokens: 1 }), // waits one window, first in the queue
      limiter.acquire({ tokens: 1 }), // one already waiting: QueueFullError
    ]);
    const after = await commandCalls();
    expect(after.evalsha - before.evalsha).toBe(1);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "rejected"]);
    const [a, b, timeout, c, full] = settled;
    expect((timeout as PromiseRejectedResult).reason).toBeInstanceOf(WaitTimeoutError);
    expect((full as PromiseRejectedResult).reason).toBeInstanceOf(QueueFullError);
    const slot = (s: PromiseSettledResult<{ slotTime: number }> | undefined) =>
      (s as PromiseFulfilledResult<{ slotTime: number }>).value.slotTime;
    expect(slot(c) - slot(a)).toBeGreaterThanOrEqual(300);
    expect(slot(b)).toBe(slot(a));
    // the timed-out request reserved nothing: the one after it is first in the queue
    expect((c as PromiseFulfilledResult<{ queuePosition: number }>).value.queuePosition).toBe(0);
  });

  it("splits a larger burst into calls of at most MAX_BATCH", async () => {
    const limiter = make({ tpm: 1_000_000 });
    await limiter.acquire({ tokens: 1 });
    const before = await commandCalls();
    const n = 2 * MAX_BATCH + 5;
    const results = await Promise.all(Array.from({ length: n }, () => limiter.acquire({ tokens: 1 })));
    const after = await commandCalls();
    expect(after.evalsha - before.evalsha).toBe(3);
    expect(new Set(results.map((r) => r.recordId)).size).toBe(n);
    expect((await limiter.status()).requestsUsed).toBe(n + 1);
  });

  it("writes a call's records where the ring wraps and where it has to grow, each findable by its id", async () => {
    const limiter = make({ tpm: 1_000_000_000, windowSeconds: 0.2 });
    // 50 records, then let them leave the window: the ring (64) now starts at seq 50
    for (let k = 0; k < 50; k++) await limiter.acquire({ tokens: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const wrapped = await Promise.all(Array.from({ length: 40 }, () => limiter.acquire({ tokens: 2 })));
    expect(await redis.strlen(limiter.key)).toBe(STATE_LAYOUT.headerBytes + 64 * STATE_LAYOUT.recordBytes);
    const grown = await Promise.all(Array.from({ length: 60 }, () => limiter.acquire({ tokens: 3 })));
    expect(await redis.strlen(limiter.key)).toBe(STATE_LAYOUT.headerBytes + 128 * STATE_LAYOUT.recordBytes);
    const all = [...wrapped, ...grown];
    expect(Math.min(...all.map((r) => Number(r.recordId.split(".")[0])))).toBe(50);
    // adjust reads each record back by seq and checks its token: a record written at the wrong offset is "unknown"
    const adjusted = await Promise.all(all.map((r) => limiter.adjust(r.recordId, { actualInput: 5 })));
    expect(adjusted.map((a) => a.status)).toEqual(all.map(() => "adjusted"));
    expect((await limiter.status()).tokensUsed).toBe(5 * all.length);
  });

  it("deduplicates resends inside a call, next to new requests", async () => {
    const store = new RedisStore(ioredisAdapter(redis));
    const key = `{batch-dedup-${randomUUID()}}:state`;
    const spec = { key, channel: "", windowMs: 60_000, limits: [1000, 0, 0, 0] as const, burndownRate: 1 };
    const args = (token: number, retry: boolean) => ({
      token,
      input: 100,
      output: 0,
      combined: 100,
      maxWaitMs: -1,
      maxQueue: -1,
      retry,
    });
    const first = await Promise.all([store.acquire(spec, args(11, false)), store.acquire(spec, args(12, false))]);
    const again = await Promise.all([
      store.acquire(spec, args(12, true)),
      store.acquire(spec, args(13, true)), // a resend whose first attempt never arrived: reserved now
      store.acquire(spec, args(11, true)),
    ]);
    expect(first.map((r) => r.kind)).toEqual(["reserved", "reserved"]);
    expect(again.map((r) => r.kind)).toEqual(["duplicate", "reserved", "duplicate"]);
    const seq = (r: (typeof again)[number]) => ("seq" in r ? r.seq : -1);
    expect(seq(again[0]!)).toBe(seq(first[1]!));
    expect(seq(again[2]!)).toBe(seq(first[0]!));
    expect(seq(again[1]!)).toBe(seq(first[1]!) + 1);
    expect((await store.status(spec)).used[0]).toBe(300);
    await redis.del(key);
  });
});
