/**
 * A real three-primary Redis Cluster from local redis-server processes (no replicas), for tests that need slots to
 * live on different nodes. Needs `redis-server` and `redis-cli` on PATH; `hasClusterTooling()` says whether they are.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type AcquireResult, limiterKeys, RateLimiter, type RedisClientLike } from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fifoInversions, type Grant, type LimiterOptions, seqOf, windowViolations } from "./limiters.js";
import { freePort, hasRedisServerBinary, type RedisServer, startRedisServer } from "./redis-server.js";
import { checkAdjust, checkRelease } from "./semantics.js";

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisCluster {
  /** The primaries, each holding a third of the slots. */
  readonly nodes: readonly ClusterNode[];
  /** Node ("host:port") that serves `key`, asked from the cluster itself (CLUSTER KEYSLOT + CLUSTER SLOTS). */
  nodeOf(key: string): Promise<string>;
  /** Plain (non-cluster) connection to one node, closed by stop(). */
  node(port: number): Redis;
  stop(): Promise<void>;
}

export function hasClusterTooling(): boolean {
  if (!hasRedisServerBinary()) return false;
  try {
    execFileSync("redis-cli", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const run = promisify(execFile);

/** Starts `size` cluster-enabled primaries on free ports, joins them with `redis-cli --cluster create`, waits for ok. */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "llmrl-cluster-"));
  const servers: RedisServer[] = [];
  const clients = new Map<number, Redis>();
  const stop = async () => {
    for (const c of clients.values()) c.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      // Pick the bus port too: the default port+10000 may be taken or above 65535.
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          port,
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, `nodes-${port}.conf`),
            "--cluster-port",
            String(busPort),
            "--cluster-node-timeout",
            "5000",
          ],
        }),
      );
    }
    const nodes = servers.map((s) => ({ host: "127.0.0.1", port: s.port }));
    await run(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `${n.host}:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 30_000 },
    );
    const node = (port: number) => {
      let c = clients.get(port);
      if (!c) {
        c = new Redis({ host: "127.0.0.1", port, lazyConnect: false, maxRetriesPerRequest: 1 });
        c.on("error", () => {});
        clients.set(port, c);
      }
      return c;
    };
    await waitFor(async () => {
      for (const n of nodes) {
        const info = (await node(n.port).cluster("INFO")) as string;
        if (!/cluster_state:ok/.test(info) || !/cluster_slots_assigned:16384/.test(info)) return false;
        if (!new RegExp(`cluster_known_nodes:${size}\\b`).test(info)) return false;
      }
      return true;
    }, 20_000);
    return {
      nodes,
      node,
      async nodeOf(key) {
        const first = node(nodes[0]!.port);
        const slot = (await first.cluster("KEYSLOT", key)) as number;
        const ranges = await first.cluster("SLOTS");
        const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2];
        if (!owner) throw new Error(`slot ${slot} of ${key} is not served`);
        return `${owner[0]}:${owner[1]}`;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Redis Cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
}

/**
 * The conformance semantics that depend on the store's transport (scripts, routing, pub/sub) rather than on the
 * algorithm, as a suite any client can run: windows and FIFO under a burst, adjust, release, refunds moving waiters
 * over pub/sub, and pause across two limiters. packages/core/test/conformance.test.ts has the full set for ioredis.
 */
export interface SharedBudget {
  readonly prefix: string;
  /** A limiter with its own connection (= another process) on the shared budget. */
  make(options: LimiterOptions): RateLimiter;
  /** Every `degraded` event any limiter emitted; a healthy store must emit none. */
  readonly degraded: unknown[];
  /** Connections subscribed to `channel` (PUBSUB NUMSUB, summed over every node). */
  subscribers(channel: string): Promise<number>;
  close(): Promise<void>;
}

export interface Connection {
  redis: RedisClientLike;
  close?: () => Promise<void>;
}

export function sharedBudget(
  connect: () => Connection,
  subscribers: (channel: string) => Promise<number>,
): SharedBudget {
  const prefix = `t-${randomUUID()}`;
  const limiters: RateLimiter[] = [];
  const connections: Connection[] = [];
  const degraded: unknown[] = [];
  return {
    prefix,
    degraded,
    subscribers,
    make(options) {
      const connection = connect();
      connections.push(connection);
      const limiter = new RateLimiter({ keyPrefix: prefix, model: "m", ...options, redis: connection.redis });
      limiter.on("degraded", (e) => degraded.push(e.error));
      limiters.push(limiter);
      return limiter;
    },
    async close() {
      await Promise.all(limiters.map((l) => l.close()));
      await Promise.all(connections.map((c) => c.close?.()));
    },
  };
}

export function describeTransportSemantics(label: string, open: () => SharedBudget): void {
  describe(`limiter semantics over ${label}`, () => {
    let f: SharedBudget;
    beforeEach(() => {
      f = open();
    });
    afterEach(async () => {
      expect(f.degraded).toEqual([]);
      await f.close();
    });

    const grantsOf = (results: AcquireResult[]): Grant[] =>
      results.map((r) => ({
        seq: seqOf(r.recordId),
        slot: r.slotTime,
        cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1] as const,
      }));

    it("keeps every sliding window within its limits and grants in FIFO order across two processes", async () => {
      const a = f.make({ tpm: 1000, rpm: 8, windowSeconds: 0.3 });
      const b = f.make({ tpm: 1000, rpm: 8, windowSeconds: 0.3 });
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).acquire({ inputTokens: 120 })),
      );
      const grants = grantsOf(results);
      expect(windowViolations(grants, 300, [1000, 0, 0, 8])).toEqual([]);
      expect(fifoInversions(grants)).toBe(0);
      const slots = grants.map((g) => g.slot);
      expect(Math.max(...slots) - Math.min(...slots)).toBeGreaterThanOrEqual(3 * 300);
    });

    it("adjust sets absolute usage, is idempotent, and the refund is usable at once", () =>
      checkAdjust((o) => f.make(o)));

    it("release frees once; unknown and expired ids are reported", () => checkRelease((o) => f.make(o)));

    it("a refund in one process moves the waiters of another up, in FIFO order (pub/sub)", async () => {
      const owner = f.make({ tpm: 1000, windowSeconds: 2 });
      const waiter = f.make({ tpm: 1000, windowSeconds: 2 });
      const first = await Promise.all(Array.from({ length: 5 }, () => owner.acquire({ tokens: 200 })));
      const order: number[] = [];
      const moves: number[] = [];
      waiter.on("move", (e) => moves.push(e.slotTime));
      const waiting = Array.from({ length: 3 }, (_, i) =>
        waiter.acquire({ tokens: 200 }).then((r) => {
          order.push(i);
          return r;
        }),
      );
      await until(async () => (await waiter.status()).queueDepth === 3);
      // The waiter's process subscribes when its first request starts waiting; notices sent before that are lost.
      await until(async () => (await f.subscribers(channelOf(f, waiter))) > 0);
      for (const r of first.slice(0, 4)) await owner.adjust(r.recordId, { actualInput: 40 });
      const moved = await Promise.all(waiting);
      expect(order).toEqual([0, 1, 2]);
      // Without the notice they would have slept until the window of the first grants ended (2 s later).
      for (const r of moved) expect(r.slotTime - first[0]!.slotTime).toBeLessThan(1000);
      expect(moves.length).toBeGreaterThanOrEqual(3);
    });

    it("pause in one process holds the other, and pushes its queued waiter behind the pause", async () => {
      const a = f.make({ tpm: 100, windowSeconds: 1 });
      const b = f.make({ tpm: 100, windowSeconds: 1 });
      await b.acquire({ tokens: 100 });
      const moved: number[] = [];
      b.on("move", (e) => moved.push(e.slotTime));
      const waiting = b.acquire({ tokens: 100 });
      await until(async () => (await b.status()).queueDepth === 1);
      await until(async () => (await f.subscribers(channelOf(f, b))) > 0);
      const { pausedUntil } = await a.pause(1500);
      expect((await b.status()).pausedUntil).toBe(pausedUntil);
      const r = await waiting;
      expect(r.slotTime).toBe(pausedUntil);
      expect(moved).toContain(pausedUntil);
    });
  });
}

function channelOf(f: SharedBudget, limiter: RateLimiter): string {
  return limiterKeys(f.prefix, limiter.model, limiter.windowSeconds * 1000).channel;
}

/** Sums PUBSUB NUMSUB over the given connections (one per node on a cluster: each node counts only its own). */
export async function numsub(nodes: readonly Redis[], channel: string): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const reply = (await node.pubsub("NUMSUB", channel)) as [string, number];
    total += Number(reply[1]);
  }
  return total;
}

/** Polls a condition (state in Redis), so tests wait for facts instead of fixed sleeps. */
export async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
