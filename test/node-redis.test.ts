/**
 * node-redis (`redis` v5) as the limiter's client through `nodeRedisAdapter`: the transport semantics of the
 * conformance suite, script reloading after SCRIPT FLUSH, error classification, and what `close()` closes.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { RateLimiter, SCRIPTS, StoreError, StoreUnavailableError } from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { nodeRedisAdapter } from "../packages/core/src/redis/node-redis.js";
import { describeTransportSemantics, numsub, sharedBudget, until } from "./harness/cluster.js";
import { startRedisServer } from "./harness/redis-server.js";

// `redis` is a devDependency of packages/core only, so resolve it from there.
type NodeRedis = typeof import("../packages/core/node_modules/redis/dist/index.js");
const { createClient } = createRequire(new URL("../packages/core/package.json", import.meta.url))("redis") as NodeRedis;

const url = () => inject("redisUrl");
let client: ReturnType<typeof createClient>;
let admin: Redis;

beforeAll(async () => {
  client = createClient({ url: url(), disableOfflineQueue: true });
  client.on("error", () => {});
  await client.connect();
  admin = new Redis(url());
});

afterAll(async () => {
  client?.destroy();
  admin?.disconnect();
});

describeTransportSemantics("node-redis", () =>
  sharedBudget(
    () => {
      const adapter = nodeRedisAdapter(client);
      return { redis: adapter, close: () => adapter.close() };
    },
    (channel) => numsub([admin], channel),
  ),
);

describe("nodeRedisAdapter", () => {
  const limiterOn = (redis: ReturnType<typeof nodeRedisAdapter>, extra: Partial<{ onRedisError: "allow" | "deny" }>) =>
    new RateLimiter({
      redis,
      keyPrefix: `t-${randomUUID()}`,
      model: "m",
      tpm: 1000,
      retry: { maxRetries: 1, baseDelayMs: 10 },
      ...extra,
    });

  it("reloads the scripts with EVAL after SCRIPT FLUSH (NOSCRIPT) and keeps the state", async () => {
    const adapter = nodeRedisAdapter(client);
    const limiter = limiterOn(adapter, {});
    try {
      await limiter.acquire({ tokens: 100 });
      await admin.script("FLUSH");
      expect(await admin.script("EXISTS", SCRIPTS.acquire.sha)).toEqual([0]);
      const r = await limiter.acquire({ tokens: 200 });
      expect(r.degraded).toBe(false);
      expect(await admin.script("EXISTS", SCRIPTS.acquire.sha)).toEqual([1]);
      await admin.script("FLUSH");
      expect((await limiter.status()).tokensUsed).toBe(300);
    } finally {
      await limiter.close();
      await adapter.close();
    }
  });

  it("a store that answers with a script error (WRONGTYPE) is a StoreError, never hidden by the policy", async () => {
    const adapter = nodeRedisAdapter(client);
    const limiter = limiterOn(adapter, { onRedisError: "allow" });
    try {
      await admin.rpush(limiter.key, "foreign");
      const error = await limiter.acquire({ tokens: 1 }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(String(error.message)).toMatch(/WRONGTYPE/);
    } finally {
      await admin.del(limiter.key);
      await limiter.close();
      await adapter.close();
    }
  });

  it.each(["allow", "deny"] as const)("a closed client is a store failure: policy %s applies", async (policy) => {
    const own = createClient({ url: url() });
    own.on("error", () => {});
    await own.connect();
    const adapter = nodeRedisAdapter(own);
    const limiter = limiterOn(adapter, { onRedisError: policy });
    const retries: unknown[] = [];
    limiter.on("retry", (e) => retries.push(e.error));
    try {
      expect((await limiter.acquire({ tokens: 1 })).degraded).toBe(false);
      own.destroy();
      const outcome = await limiter.acquire({ tokens: 1 }).catch((e) => e);
      if (policy === "allow") {
        expect(outcome).toMatchObject({ degraded: true });
      } else {
        expect(outcome).toBeInstanceOf(StoreUnavailableError);
        expect(String(outcome.message)).toMatch(/client is closed/);
      }
      expect(retries).toHaveLength(1);
    } finally {
      await limiter.close();
      await adapter.close();
    }
  });

  it("with disableOfflineQueue, a dead server fails fast into the policy (not a StoreError)", async () => {
    const server = await startRedisServer();
    const own = createClient({ url: server.url, disableOfflineQueue: true });
    own.on("error", () => {});
    await own.connect();
    const adapter = nodeRedisAdapter(own);
    const limiter = limiterOn(adapter, { onRedisError: "deny" });
    try {
      await limiter.acquire({ tokens: 1 });
      await server.kill();
      await until(async () => !own.isReady);
      const error = await limiter.acquire({ tokens: 1 }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      // node-redis says "The client is offline"; the adapter marks it as a connection failure so core retries it.
      expect(String(error.message)).toMatch(/client is offline/);
      expect(error.cause).toMatchObject({ code: "ENOTCONN" });
    } finally {
      await limiter.close();
      await adapter.close();
      own.destroy();
      await server.stop();
    }
  });

  it("close() closes only the subscriber it opened; the client stays usable", async () => {
    const adapter = nodeRedisAdapter(client);
    const limiter = limiterOn(adapter, {});
    const received: string[] = [];
    const channel = `t-${randomUUID()}`;
    const unsubscribe = await adapter.subscribe(channel, (m) => received.push(m));
    expect(await numsub([admin], channel)).toBe(1);
    await admin.publish(channel, "hello");
    await until(async () => received.length === 1);
    await unsubscribe();
    expect(await numsub([admin], channel)).toBe(0);
    await adapter.subscribe(channel, () => {});
    await limiter.close();
    await adapter.close();
    await until(async () => (await numsub([admin], channel)) === 0);
    expect(client.isReady).toBe(true);
    expect(await client.ping()).toBe("PONG");
    expect(received).toEqual(["hello"]);
  });

  it("a subscriber passed in options is used and left open by close()", async () => {
    const subscriber = client.duplicate();
    subscriber.on("error", () => {});
    await subscriber.connect();
    const adapter = nodeRedisAdapter(client, { subscriber });
    const limiter = limiterOn(adapter, {});
    try {
      const channel = limiter.key.replace(/:state$/, ":moves");
      const first = await limiter.acquire({ tokens: 1000 });
      const waiting = limiter.acquire({ tokens: 500 });
      await until(async () => (await numsub([admin], channel)) === 1);
      expect((await limiter.adjust(first.recordId, { actualInput: 100 })).movedWaiters).toBe(1);
      expect((await waiting).slotTime - first.slotTime).toBeLessThan(60_000);
      await limiter.close();
      await adapter.close();
      await until(async () => (await numsub([admin], channel)) === 0);
      expect(subscriber.isOpen).toBe(true);
    } finally {
      await limiter.close();
      subscriber.destroy();
    }
  });

  it("works with a RESP3 client", async () => {
    const resp3 = createClient({ url: url(), RESP: 3 });
    resp3.on("error", () => {});
    await resp3.connect();
    const adapter = nodeRedisAdapter(resp3);
    const limiter = limiterOn(adapter, {});
    try {
      const r = await limiter.acquire({ inputTokens: 100, outputTokens: 50 });
      expect((await limiter.adjust(r.recordId, { actualOutput: 0 })).status).toBe("adjusted");
      expect((await limiter.status()).tokensUsed).toBe(100);
    } finally {
      await limiter.close();
      await adapter.close();
      resp3.destroy();
    }
  });
});
