/**
 * Security setups: TLS (`rediss://` with a CA made at test time) and Redis ACL users limited to the commands,
 * keys and channels the limiter needs. Failures (wrong CA, wrong password, missing permission) must be clear and
 * quick: no retries for errors that retrying cannot fix, and a bounded number of connection attempts.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { TLSSocket } from "node:tls";
import {
  RateLimiter,
  RedisConnectionManager,
  type RedisErrorPolicy,
  StoreError,
  StoreUnavailableError,
} from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeRedisAdapter } from "../packages/core/src/redis/node-redis.js";
import { numsub, until } from "./harness/cluster.js";
import {
  type AclRedisServer,
  type Certificates,
  type CountingProxy,
  countingProxy,
  hasTlsRedis,
  makeCertificates,
  startAclRedisServer,
  startTlsRedisServer,
  type TlsRedisServer,
} from "./harness/tls.js";

type NodeRedis = typeof import("../packages/core/node_modules/redis/dist/index.js");
const { createClient } = createRequire(new URL("../packages/core/package.json", import.meta.url))("redis") as NodeRedis;

/**
 * Tracks what a limiter reported: retries (core's backoff) and degraded operations. The subscription, opened by
 * the first acquire, fails along with it on a broken connection; it is tracked apart.
 */
function observe(limiter: RateLimiter) {
  const seen = { retries: 0, degraded: [] as string[], subscribeFailures: 0 };
  limiter.on("retry", () => seen.retries++);
  limiter.on("degraded", (e) => {
    if (e.operation === "subscribe") seen.subscribeFailures++;
    else seen.degraded.push(e.operation);
  });
  return seen;
}

describe.skipIf(!hasTlsRedis())("TLS (rediss://)", () => {
  let certs: Certificates;
  let server: TlsRedisServer;
  let proxy: CountingProxy;

  beforeAll(async () => {
    certs = await makeCertificates();
    server = await startTlsRedisServer(certs);
    proxy = await countingProxy(server.tlsPort);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
    certs?.remove();
  });

  it("works end to end with the right CA, including refunds moving waiters over the TLS subscriber", async () => {
    const manager = new RedisConnectionManager(server.url, { redisOptions: { tls: { ca: certs.ca } } });
    const limiter = new RateLimiter({ redis: manager, model: `m-${randomUUID()}`, tpm: 1000, windowSeconds: 5 });
    const seen = observe(limiter);
    try {
      const first = await limiter.acquire({ inputTokens: 100, outputTokens: 900 });
      expect(first.degraded).toBe(false);
      const waiting = limiter.acquire({ tokens: 500 });
      const channel = limiter.key.replace(/:state$/, ":moves");
      await until(async () => (await numsub([manager.client], channel)) > 0);
      expect((await limiter.adjust(first.recordId, { actualOutput: 0 })).movedWaiters).toBe(1);
      const moved = await waiting;
      expect(moved.slotTime - first.slotTime).toBeLessThan(5000);
      const s = await limiter.status();
      expect([s.tokensUsed, s.degraded]).toEqual([600, false]);
      const socket = (manager.client as unknown as { stream: unknown }).stream;
      expect(socket).toBeInstanceOf(TLSSocket);
      expect((socket as TLSSocket).authorized).toBe(true);
      expect(seen).toEqual({ retries: 0, degraded: [], subscribeFailures: 0 });
    } finally {
      await limiter.close();
      await manager.close();
    }
  });

  const wrongCa = async (policy: RedisErrorPolicy) => {
    const before = proxy.connections();
    const manager = new RedisConnectionManager(`rediss://127.0.0.1:${proxy.port}`, {
      redisOptions: { tls: { ca: certs.otherCa } },
    });
    const limiter = new RateLimiter({ redis: manager, model: "m", tpm: 1000, onRedisError: policy });
    const seen = observe(limiter);
    try {
      const outcome = await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
      return { outcome, seen, attempts: proxy.connections() - before };
    } finally {
      await limiter.close();
      await manager.close();
    }
  };

  it.each(["deny", "allow"] as const)("a wrong CA fails the call (policy %s) without a retry storm", async (policy) => {
    const { outcome, seen, attempts } = await wrongCa(policy);
    if (policy === "deny") expect(outcome).toBeInstanceOf(StoreUnavailableError);
    else expect(outcome).toMatchObject({ degraded: true });
    expect(seen.degraded).toEqual(["acquire"]);
    // Core retries at most its budget (3). Handshakes are paced by ioredis' reconnect delay (50 ms × n, up to
    // 500 ms) on two connections (commands, subscriber), so they stay bounded; about 19 today, see the next test.
    expect(seen.retries).toBeLessThanOrEqual(3);
    expect(attempts).toBeGreaterThan(0);
    expect(attempts).toBeLessThanOrEqual(40);
  });

  // Known core gap: ioredis reports the failed handshake only as an 'error' event and rejects the command with
  // MaxRetriesPerRequestError, so the error the caller gets never names the certificate, and core retries it as if
  // it were a network blip. Flip to `it` once the connection manager attaches the last connection error.
  it("a wrong CA error names the certificate problem and is not retried", async () => {
    const { outcome, seen } = await wrongCa("deny");
    expect(outcome).toBeInstanceOf(StoreUnavailableError);
    const error = outcome as StoreUnavailableError;
    expect(`${error.message} ${String((error.cause as Error | undefined)?.message)}`).toMatch(
      /certificate|unable to verify|self[- ]signed/i,
    );
    expect(seen.retries).toBe(0);
  });
});

/** Everything the limiter runs: its scripts' commands, EVAL for NOSCRIPT, and pub/sub for moved waiters. */
const REQUIRED = ["evalsha", "eval", "time", "get", "set", "getrange", "setrange", "pexpireat", "publish", "subscribe"];
/** Not needed to work correctly: UNSUBSCRIBE failures are ignored; INFO is only ioredis' ready check. */
const RECOMMENDED = ["unsubscribe", "info"];
const aclRules = (commands: string[], prefix = "llmrl") => [
  "resetkeys",
  "resetchannels",
  `~{${prefix}:*`,
  `&{${prefix}:*`,
  "-@all",
  ...commands.map((c) => `+${c}`),
];

describe("ACL users", () => {
  let server: AclRedisServer;
  let admin: Redis;
  let proxy: CountingProxy;

  beforeAll(async () => {
    server = await startAclRedisServer([
      { name: "admin", password: "admin-pw", rules: ["~*", "&*", "+@all"] },
      { name: "limiter", password: "s3cret", rules: aclRules([...REQUIRED, ...RECOMMENDED]) },
      { name: "minimal", password: "s3cret", rules: aclRules(REQUIRED) },
      ...REQUIRED.map((c) => ({
        name: `no-${c}`,
        password: "s3cret",
        rules: aclRules(REQUIRED.filter((x) => x !== c)),
      })),
    ]);
    admin = new Redis(server.urlFor("admin", "admin-pw"));
    proxy = await countingProxy(server.port);
  });
  afterAll(async () => {
    admin?.disconnect();
    await proxy?.close();
    await server?.stop();
  });

  /**
   * Exercises every command: 70 live records (the ring grows past 64: GET), a waiter (SUBSCRIBE) moved by a
   * refund (PUBLISH), and a call after SCRIPT FLUSH (EVAL). Returns what went wrong, or [] when all worked.
   */
  async function scenario(user: string, connect: "ioredis" | "node-redis" = "ioredis"): Promise<string[]> {
    const problems: string[] = [];
    const url = server.urlFor(user, "s3cret");
    let close: () => Promise<void>;
    let redis: RedisConnectionManager | ReturnType<typeof nodeRedisAdapter>;
    if (connect === "ioredis") {
      const manager = new RedisConnectionManager(url, {
        retry: { maxRetries: 0 },
        // INFO is not in the minimal set; without it ioredis only logs that it skips the check.
        redisOptions: { enableReadyCheck: false },
      });
      redis = manager;
      close = () => manager.close();
    } else {
      const client = createClient({ url, disableOfflineQueue: true });
      client.on("error", () => {});
      await client.connect();
      const adapter = nodeRedisAdapter(client);
      redis = adapter;
      close = async () => {
        await adapter.close();
        client.destroy();
      };
    }
    const model = `m-${randomUUID()}`;
    const limiter = new RateLimiter({ redis, model, tpm: 100, windowSeconds: 5, onRedisError: "deny" });
    const seen = observe(limiter);
    try {
      const held = await Promise.all(Array.from({ length: 70 }, () => limiter.acquire({ tokens: 1 })));
      const waiting = limiter.acquire({ tokens: 50, signal: AbortSignal.timeout(3000) });
      // Handled here too: an earlier failure skips the await below, and close() then rejects the wait.
      waiting.catch(() => {});
      const channel = limiter.key.replace(/:state$/, ":moves");
      await until(async () => (await numsub([admin], channel)) > 0 || seen.degraded.includes("subscribe"), 3000);
      for (const r of held.slice(0, 30)) await limiter.adjust(r.recordId, { actualInput: 0 });
      const moved = await waiting;
      if (moved.slotTime - held[0]!.slotTime >= 5000) problems.push("waiter not moved");
      await admin.script("FLUSH");
      const s = await limiter.status();
      if (s.tokensUsed !== 90) problems.push(`tokensUsed ${s.tokensUsed}`);
    } catch (error) {
      problems.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    } finally {
      await limiter.close().catch((e: unknown) => problems.push(`close: ${String(e)}`));
      await close();
    }
    problems.push(...seen.degraded.map((op) => `degraded ${op}`));
    if (seen.subscribeFailures > 0) problems.push("degraded subscribe");
    return problems;
  }

  it("a user with only the limiter's commands, keys {llmrl:* and channels {llmrl:* runs everything", async () => {
    expect(await scenario("limiter")).toEqual([]);
    expect(await scenario("minimal")).toEqual([]);
  });

  it("the same user works with node-redis", async () => {
    expect(await scenario("minimal", "node-redis")).toEqual([]);
  });

  it(`the set is minimal: without any one of ${REQUIRED.join(", ")} the limiter fails visibly`, async () => {
    const results = await Promise.all(REQUIRED.map(async (c) => [c, await scenario(`no-${c}`)] as const));
    for (const [command, problems] of results) {
      expect(problems, `without ${command}`).not.toEqual([]);
      // Every failure names the permission problem (no silent fallback). Inside a script Redis 7 words it
      // "The user executing the script can't run this command".
      if (command !== "subscribe") {
        expect(problems.join(" "), `without ${command}`).toMatch(/NOPERM|can't run this command/);
      }
    }
  });

  it("keys outside the user's pattern are refused (NOPERM): policy applies, never retried", async () => {
    for (const policy of ["deny", "allow"] as const) {
      const manager = new RedisConnectionManager(server.urlFor("limiter", "s3cret"));
      const limiter = new RateLimiter({
        redis: manager,
        keyPrefix: "other",
        model: "m",
        tpm: 10,
        onRedisError: policy,
      });
      const seen = observe(limiter);
      try {
        const outcome = await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
        if (policy === "deny") {
          expect(outcome).toBeInstanceOf(StoreUnavailableError);
          expect((outcome as Error).message).toMatch(/NOPERM/);
        } else {
          expect(outcome).toMatchObject({ degraded: true });
        }
        expect(seen).toMatchObject({ retries: 0, degraded: ["acquire"] });
      } finally {
        await limiter.close();
        await manager.close();
      }
    }
  });

  // Known core bug: StoreUnavailableError reports maxRetries + 1 attempts ("after 4 attempt(s)") even when the
  // error was not retryable and only one attempt was made. Flip to `it` once #degrade gets the real count.
  it("StoreUnavailableError counts the attempts really made", async () => {
    const manager = new RedisConnectionManager(server.urlFor("limiter", "wrong"));
    const limiter = new RateLimiter({ redis: manager, model: "m", tpm: 10, onRedisError: "deny" });
    try {
      const error = (await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e)) as StoreUnavailableError;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error.message).toMatch(/after 1 attempt/);
      expect(error.attempts).toBe(1);
    } finally {
      await limiter.close();
      await manager.close();
    }
  });

  it.each(["deny", "allow"] as const)(
    "a wrong password fails at once (policy %s): WRONGPASS, no retries, bounded reconnects",
    async (policy) => {
      const before = proxy.connections();
      const manager = new RedisConnectionManager(`redis://limiter:wrong@127.0.0.1:${proxy.port}`);
      const limiter = new RateLimiter({ redis: manager, model: "m", tpm: 10, onRedisError: policy });
      const seen = observe(limiter);
      try {
        const outcome = await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
        if (policy === "deny") {
          expect(outcome).toBeInstanceOf(StoreUnavailableError);
          expect((outcome as Error).message).toMatch(/WRONGPASS/);
          expect(outcome).not.toBeInstanceOf(StoreError);
        } else {
          expect(outcome).toMatchObject({ degraded: true });
        }
        // Auth errors are never retried by core (retry.ts isAuthError). Two connections (commands and the
        // subscriber opened by the first acquire), each with at most ioredis' first quick reconnect.
        expect(seen).toMatchObject({ retries: 0, degraded: ["acquire"] });
        const during = proxy.connections() - before;
        expect(during).toBeLessThanOrEqual(6);
        // A second call during the breaker's cooldown makes one attempt and fails the same way.
        const again = await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
        if (policy === "deny") expect(again).toBeInstanceOf(StoreUnavailableError);
        expect(seen.retries).toBe(0);
      } finally {
        await limiter.close();
        await manager.close();
      }
    },
  );
});
