/**
 * The limiter on a real three-primary Redis Cluster: the transport semantics over an ioredis `Cluster` and a
 * node-redis cluster client, every operation of a limiter in one slot (no CROSSSLOT), and many limiters spread
 * over all primaries.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { limiterKeys, RateLimiter } from "@llmratelimiter/core";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeRedisAdapter } from "../packages/core/src/redis/node-redis.js";
import {
  describeTransportSemantics,
  hasClusterTooling,
  numsub,
  type RedisCluster,
  sharedBudget,
  startRedisCluster,
} from "./harness/cluster.js";

// `redis` is a devDependency of packages/core only, so resolve it from there.
type NodeRedis = typeof import("../packages/core/node_modules/redis/dist/index.js");
const { createCluster } = createRequire(new URL("../packages/core/package.json", import.meta.url))(
  "redis",
) as NodeRedis;

const WEIRD_MODELS = [
  "gpt-4o",
  "claude-3-5-sonnet@20240620",
  "{",
  "}",
  "{}",
  "a{b}c",
  "{gpt-4o}",
  "}{",
  "*",
  "?",
  "[a-z]",
  "llmrl:*",
  " ",
  "a b",
  "a:b:c",
  "%0041",
  "\\",
  "\n",
  "ключ",
  "模型",
  "😀",
  "\ud800",
  "\udfff",
  "x".repeat(2000),
];
const MODELS = [...WEIRD_MODELS, ...Array.from({ length: 60 - WEIRD_MODELS.length }, (_, i) => `model-${i}`)];

describe.skipIf(!hasClusterTooling())("Redis Cluster (3 primaries)", () => {
  let cluster: RedisCluster;
  let nodeRedisCluster: ReturnType<typeof createCluster>;
  const ioredisClients: Cluster[] = [];

  const ioredisCluster = () => {
    const client = new Cluster(
      cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      {
        redisOptions: { maxRetriesPerRequest: 1 },
      },
    );
    client.on("error", () => {});
    ioredisClients.push(client);
    return client;
  };

  const subscribers = (channel: string) =>
    numsub(
      cluster.nodes.map((n) => cluster.node(n.port)),
      channel,
    );

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    nodeRedisCluster = createCluster({
      rootNodes: cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
    });
    nodeRedisCluster.on("error", () => {});
    await nodeRedisCluster.connect();
  });

  afterAll(async () => {
    for (const c of ioredisClients) c.disconnect();
    nodeRedisCluster?.destroy();
    await cluster?.stop();
  });

  describeTransportSemantics("an ioredis Cluster", () =>
    sharedBudget(() => {
      // One Cluster client per limiter: two processes that share nothing but the cluster.
      const client = ioredisCluster();
      return { redis: client, close: async () => client.disconnect() };
    }, subscribers),
  );

  describeTransportSemantics("a node-redis cluster", () =>
    sharedBudget(() => {
      // The command connections are shared; each limiter's adapter opens its own subscriber.
      const adapter = nodeRedisAdapter(nodeRedisCluster);
      return { redis: adapter, close: () => adapter.close() };
    }, subscribers),
  );

  it("keeps each limiter in one slot: every operation works for weird names, state and channel share the slot", async () => {
    const prefix = `t-${randomUUID()}`;
    const client = ioredisCluster();
    const limiters = MODELS.map((model) => new RateLimiter({ redis: client, keyPrefix: prefix, model, tpm: 1000 }));
    const errors: unknown[] = [];
    for (const l of limiters) l.on("degraded", (e) => errors.push(e.error));
    try {
      await Promise.all(
        limiters.map(async (l) => {
          const r = await l.acquire({ inputTokens: 100, outputTokens: 50 });
          expect((await l.adjust(r.recordId, { actualOutput: 10 })).status).toBe("adjusted");
          const s = await l.status();
          expect([s.tokensUsed, s.degraded]).toEqual([110, false]);
          expect((await l.release(r.recordId)).status).toBe("released");
          expect((await l.pause(1)).degraded).toBe(false);
        }),
      );
      expect(errors).toEqual([]);
      const first = cluster.node(cluster.nodes[0]!.port);
      for (const l of limiters) {
        const keys = limiterKeys(prefix, l.model, 60_000);
        expect(l.key).toBe(keys.state);
        const [keySlot, channelSlot, tagSlot] = await Promise.all(
          [keys.state, keys.channel, keys.tag].map((k) => first.cluster("KEYSLOT", k) as Promise<number>),
        );
        // Redis hashes only the tag content, so the tag alone must land where the key and the channel do.
        expect(keySlot).toBe(tagSlot);
        expect(channelSlot).toBe(keySlot);
      }
    } finally {
      await Promise.all(limiters.map((l) => l.close()));
    }
  });

  it("spreads the limiters of 60 models over all three primaries, each key stored on its slot's owner", async () => {
    const prefix = `t-${randomUUID()}`;
    const client = ioredisCluster();
    const limiters = MODELS.map((model) => new RateLimiter({ redis: client, keyPrefix: prefix, model, rpm: 10 }));
    try {
      await Promise.all(limiters.map((l) => l.acquire({ tokens: 1 })));
      const owners = new Map<string, number>();
      for (const l of limiters) {
        const owner = await cluster.nodeOf(l.key);
        owners.set(owner, (owners.get(owner) ?? 0) + 1);
        const port = Number(owner.split(":")[1]);
        // A plain connection to the owner finds the key there (any other node would answer MOVED).
        expect(await cluster.node(port).exists(l.key)).toBe(1);
      }
      expect([...owners.keys()].sort()).toEqual(cluster.nodes.map((n) => `${n.host}:${n.port}`).sort());
      // No primary is left nearly idle: 60 tags over 3 thirds of the slot space.
      for (const count of owners.values()) expect(count).toBeGreaterThanOrEqual(5);
    } finally {
      await Promise.all(limiters.map((l) => l.close()));
    }
  });
});
