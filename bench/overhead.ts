/**
 * Peer benchmark, overhead half (issue 5): what a limiter costs per request when nothing is rate limited, on one
 * machine and one redis-server, with the same tokens-per-minute budget for everyone:
 *
 * - llmratelimiter, Redis store and embedded store;
 * - bottleneck 2.19.5, Redis clustering (`datastore: "ioredis"`, shared IORedisConnection), weight = tokens,
 *   reservoir = budget refreshed every window, `expiration` on every job (its clustering docs ask for it);
 * - rate-limiter-flexible 11, RateLimiterRedis (points = tokens, duration = window) behind a RateLimiterQueue so a
 *   request waits instead of being rejected, ioredis with `enableOfflineQueue: false` as its docs show;
 * - the naive ZSET reference (packages/core/bench/naive-zset.ts).
 *
 * An "acquire" is whatever each library offers to hold a request until it may start: `limiter.acquire`,
 * `bottleneck.schedule` (resolved when the job starts), `queue.removeTokens`, the naive script + sleep.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { Redis } from "ioredis";
import { type CoreResult, naiveAtFill, oursAtFill, type ScalePoint } from "../packages/core/bench/core-bench.js";
import { NaiveZsetLimiter } from "../packages/core/bench/naive-zset.js";
import {
  type CommandCount,
  commandStats,
  countClientCommands,
  delta,
  fmtNum,
  fmtUs,
  type Latency,
  mdTable,
  memoryOfKeys,
  runPool,
  summarize,
  throughput,
  timeUs,
} from "../packages/core/bench/stats.js";
import { MAX_TOKENS, RateLimiter, RedisConnectionManager } from "../packages/core/src/index.js";

// The peers are devDependencies of the simulator package; resolve them from there.
const peerRequire = createRequire(new URL("../packages/simulator/package.json", import.meta.url));

/** The parts of bottleneck's API used here (its own typings are not reachable from bench/). */
interface BottleneckJobOptions {
  weight?: number;
  expiration?: number;
}
interface BottleneckLimiter {
  ready(): Promise<unknown>;
  schedule<T>(options: BottleneckJobOptions, fn: () => Promise<T>): Promise<T>;
  disconnect(flush?: boolean): Promise<void>;
  on(event: "error", listener: (error: unknown) => void): void;
}
interface BottleneckConnection {
  ready(): Promise<unknown>;
  disconnect(flush?: boolean): Promise<void>;
  on(event: "error", listener: (error: unknown) => void): void;
}
interface BottleneckModule {
  new (options: Record<string, unknown>): BottleneckLimiter;
  IORedisConnection: new (options: Record<string, unknown>) => BottleneckConnection;
}
/** The parts of rate-limiter-flexible's API used here. */
interface RlfModule {
  RateLimiterRedis: new (options: Record<string, unknown>) => object;
  RateLimiterQueue: new (
    limiter: object,
    options: { maxQueueSize: number },
  ) => { removeTokens(tokens: number, key?: string): Promise<number> };
}

export interface OverheadOptions {
  redisUrl: string;
  quick?: boolean;
  /** Reuse the core benchmark's cost-at-n figures (same algorithm, same server) instead of measuring them again. */
  core?: CoreResult;
  log?: (line: string) => void;
}

export type Measured<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface OverheadRow {
  limiter: string;
  store: "redis" | "memory";
  howUsed: string;
  uncontended: Measured<Latency>;
  throughput: Measured<{
    perSecond: number;
    completed: number;
    seconds: number;
    nodeCpu: number;
    /** Redis time per script call during the run (INFO commandstats), µs. */
    serverUsPerCall: number | null;
  }>;
  callsImmediate: Measured<CommandCount & { acquires: number; scriptsPerAcquire: number; allPerAcquire: number }>;
  callsWaiting: Measured<
    CommandCount & { acquires: number; waited: number; scriptsPerAcquire: number; allPerAcquire: number }
  >;
  bytesPerReservation: Measured<{ n: number; bytes: number; keys: number; perReservation: number }>;
  costAt: Measured<Array<{ n: number; p50Us: number; p99Us: number; serverUsPerCall: number | null }>>;
}

export interface OverheadResult {
  startedAt: string;
  quick: boolean;
  inflight: number;
  budget: string;
  rows: OverheadRow[];
}

interface Budget {
  tokens: number;
  windowMs: number;
}

interface Handle {
  acquire(tokens: number): Promise<unknown>;
  /** Redis keys holding this limiter's state (MATCH pattern); null for in-process state. */
  keyPattern: string | null;
  /** Writes n reservations faster than n acquires would (only the naive reference, whose acquires are O(n)). */
  prefill?: (n: number, tokens: number) => Promise<void>;
  close(): Promise<void>;
}

interface Contender {
  limiter: string;
  store: "redis" | "memory";
  howUsed: string;
  open(tag: string, budget: Budget): Promise<Handle>;
  /** Why a metric does not apply, by metric. */
  na?: Partial<Record<"bytes" | "costAt" | "calls", string>>;
  close(): Promise<void>;
}

const INFLIGHT = 256;
const COST = 10;
const BIG = MAX_TOKENS;

function ours(redisUrl: string): Contender {
  const manager = new RedisConnectionManager(redisUrl);
  return {
    limiter: "llmratelimiter",
    store: "redis",
    howUsed:
      "`new RateLimiter({ redis: manager, model, tpm, windowSeconds })`, `await limiter.acquire({ inputTokens })`",
    async open(tag, budget) {
      const limiter = new RateLimiter({
        redis: manager,
        model: "bench",
        keyPrefix: tag,
        tpm: budget.tokens,
        windowSeconds: budget.windowMs / 1000,
      });
      return {
        acquire: (tokens) => limiter.acquire({ inputTokens: tokens }),
        keyPattern: limiter.key.replace(/[*?[\]\\]/g, "\\$&"),
        close: () => limiter.close(),
      };
    },
    close: () => manager.close(),
  };
}

function oursMemory(): Contender {
  return {
    limiter: "llmratelimiter",
    store: "memory",
    howUsed: "`new RateLimiter({ model, tpm, windowSeconds })` (no redis: embedded store)",
    async open(_tag, budget) {
      const limiter = new RateLimiter({ model: "bench", tpm: budget.tokens, windowSeconds: budget.windowMs / 1000 });
      return {
        acquire: (tokens) => limiter.acquire({ inputTokens: tokens }),
        keyPattern: null,
        close: () => limiter.close(),
      };
    },
    na: { calls: "in-process store: no Redis", bytes: "in-process store: no Redis memory" },
    close: async () => {},
  };
}

function naive(redisUrl: string): Contender {
  const client = new Redis(redisUrl);
  return {
    limiter: "naive ZSET reference",
    store: "redis",
    howUsed: "one ZSET per model, one O(n) Lua script per acquire (the original's algorithm, modernised)",
    async open(tag, budget) {
      const limiter = new NaiveZsetLimiter(client, `${tag}:naive`, { tpm: budget.tokens, windowMs: budget.windowMs });
      return {
        acquire: (tokens) => limiter.acquire({ inputTokens: tokens }),
        keyPattern: limiter.key,
        prefill: (n, tokens) => limiter.prefill(n, tokens, 60_000),
        close: async () => {},
      };
    },
    close: async () => client.disconnect(),
  };
}

function bottleneck(redisUrl: string): Contender {
  const Bottleneck = peerRequire("bottleneck") as BottleneckModule;
  const url = new URL(redisUrl);
  // One connection shared by every limiter, as its clustering docs recommend (ioredis module passed explicitly).
  const connection = new Bottleneck.IORedisConnection({
    Redis,
    clientOptions: { host: url.hostname, port: Number(url.port) },
  });
  connection.on("error", () => {});
  return {
    limiter: "bottleneck",
    store: "redis",
    howUsed:
      '`new Bottleneck({ id, datastore: "ioredis", connection, reservoir, reservoirRefreshAmount, ' +
      "reservoirRefreshInterval })`, `schedule({ weight: tokens, expiration }, job)`; acquired = job started",
    async open(tag, budget) {
      const limiter = new Bottleneck({
        id: tag,
        datastore: "ioredis",
        connection,
        clearDatastore: true,
        maxConcurrent: null,
        reservoir: budget.tokens,
        reservoirRefreshAmount: budget.tokens,
        reservoirRefreshInterval: budget.windowMs,
      });
      limiter.on("error", () => {});
      await limiter.ready();
      return {
        acquire: (tokens) =>
          new Promise<void>((resolve, reject) => {
            limiter.schedule({ weight: tokens, expiration: 60_000 }, async () => resolve()).catch(reject);
          }),
        keyPattern: `b_${tag}_*`,
        close: () => limiter.disconnect(false),
      };
    },
    na: {
      bytes:
        "keeps no record per request: a reservoir counter reset every interval (fixed window), plus per-client hashes",
      costAt: "no reservations in a window to scale with: the reservoir is one counter",
    },
    close: () => connection.disconnect(false),
  };
}

function flexible(redisUrl: string): Contender {
  const { RateLimiterRedis, RateLimiterQueue } = peerRequire("rate-limiter-flexible") as RlfModule;
  // Its README: ioredis with the offline queue off (errors surface instead of piling up).
  const client = new Redis(redisUrl, { enableOfflineQueue: false });
  client.on("error", () => {});
  return {
    limiter: "rate-limiter-flexible",
    store: "redis",
    howUsed:
      "`new RateLimiterQueue(new RateLimiterRedis({ storeClient, points: tokens, duration: window, keyPrefix }))`, " +
      "`queue.removeTokens(tokens)`",
    async open(tag, budget) {
      if (client.status !== "ready") await new Promise((resolve) => client.once("ready", resolve));
      const limiter = new RateLimiterRedis({
        storeClient: client,
        points: budget.tokens,
        duration: budget.windowMs / 1000,
        keyPrefix: tag,
      });
      const queue = new RateLimiterQueue(limiter, { maxQueueSize: 1_000_000 });
      return { acquire: (tokens) => queue.removeTokens(tokens), keyPattern: `${tag}:*`, close: async () => {} };
    },
    na: {
      bytes: "keeps no record per request: one counter per key and fixed window",
      costAt: "no reservations in a window to scale with: one counter per fixed window",
    },
    close: async () => client.disconnect(),
  };
}

async function attempt<T>(what: string, ms: number, fn: () => Promise<T>): Promise<Measured<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
      }),
    ]);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export async function runOverhead(options: OverheadOptions): Promise<OverheadResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const quick = options.quick ?? false;
  const run = `ov-${randomUUID().slice(0, 8)}`;
  const observer = new Redis(options.redisUrl);
  const result: OverheadResult = {
    startedAt: new Date().toISOString(),
    quick,
    inflight: INFLIGHT,
    budget: `${COST} tokens per request; budget ${fmtNum(BIG)} tokens per window (never reached) unless stated`,
    rows: [],
  };
  const factories = [
    () => ours(options.redisUrl),
    () => oursMemory(),
    () => bottleneck(options.redisUrl),
    () => flexible(options.redisUrl),
    () => naive(options.redisUrl),
  ];
  const samples = quick ? 500 : 2000;
  const durationMs = quick ? 2000 : 5000;
  const memoryN = 10_000;
  try {
    for (const factory of factories) {
      const c = factory();
      const tag = (what: string) => `${run}-${c.limiter.replace(/\W+/g, "")}-${c.store}-${what}`;
      log(`overhead: ${c.limiter} (${c.store})…`);
      try {
        const uncontended = await attempt("uncontended", 120_000, async () => {
          const times: number[] = [];
          let handle: Handle | undefined;
          for (let i = 0; i < samples + 200; i++) {
            // A fresh limiter every 100 requests: "uncontended" means a lightly used limiter, for every design.
            if (i % 100 === 0) {
              await handle?.close();
              handle = await c.open(tag(`u${i}`), { tokens: BIG, windowMs: 60_000 });
              await handle.acquire(COST); // one-off set-up (subscription, registration, new key) is not measured
            }
            const us = await timeUs(() => handle!.acquire(COST));
            if (i >= 200) times.push(us);
          }
          await handle?.close();
          return summarize(times);
        });
        log(`  uncontended: ${uncontended.ok ? `p50 ${fmtUs(uncontended.value.p50Us)}` : uncontended.reason}`);

        const hot = await attempt("throughput", durationMs * 4 + 60_000, async () => {
          const warm = await c.open(tag("warm"), { tokens: BIG, windowMs: 60_000 });
          await throughput(500, INFLIGHT, () => warm.acquire(COST));
          await warm.close();
          const handle = await c.open(tag("hot"), { tokens: BIG, windowMs: 60_000 });
          const before = await commandStats(observer);
          const t = await throughput(durationMs, INFLIGHT, () => handle.acquire(COST));
          const d = delta(before, await commandStats(observer));
          await handle.close();
          return { ...t, serverUsPerCall: d.scripts > 0 ? d.scriptUsec / d.scripts : null };
        });
        log(`  hot key: ${hot.ok ? `${fmtNum(hot.value.perSecond)} acquires/s` : hot.reason}`);

        let callsImmediate: OverheadRow["callsImmediate"];
        let callsWaiting: OverheadRow["callsWaiting"];
        if (c.na?.calls) {
          callsImmediate = callsWaiting = { ok: false, reason: c.na.calls };
        } else {
          callsImmediate = await attempt("calls (immediate)", 60_000, async () => {
            const handle = await c.open(tag("ci"), { tokens: BIG, windowMs: 60_000 });
            for (let i = 0; i < 10; i++) await handle.acquire(COST); // lazy setup (script loads, registration)
            const count = 100;
            const { count: cc } = await countClientCommands(observer, async () => {
              for (let i = 0; i < count; i++) await handle.acquire(COST);
            });
            await handle.close();
            return { ...cc, acquires: count, scriptsPerAcquire: cc.scripts / count, allPerAcquire: cc.all / count };
          });
          callsWaiting = await attempt("calls (waiting)", 60_000, async () => {
            // Budget of 10 requests per 1 s window: fill it, then 10 more must wait for the next window.
            const count = 10;
            const handle = await c.open(tag("cw"), { tokens: COST * count, windowMs: 1000 });
            for (let i = 0; i < count; i++) await handle.acquire(COST);
            const { value: waits, count: cc } = await countClientCommands(observer, () =>
              Promise.all(Array.from({ length: count }, () => timeUs(() => handle.acquire(COST)))),
            );
            await handle.close();
            const waited = waits.filter((us) => us >= 20_000).length;
            return {
              ...cc,
              acquires: count,
              waited,
              scriptsPerAcquire: cc.scripts / count,
              allPerAcquire: cc.all / count,
            };
          });
        }
        log(
          `  calls/acquire: immediate ${callsImmediate.ok ? fmtNum(callsImmediate.value.allPerAcquire, 2) : "n/a"}, ` +
            `waiting ${callsWaiting.ok ? fmtNum(callsWaiting.value.allPerAcquire, 2) : "n/a"}`,
        );

        let bytes: OverheadRow["bytesPerReservation"] = await attempt("memory", 180_000, async () => {
          const handle = await c.open(tag("mem"), { tokens: BIG, windowMs: 3_600_000 });
          if (handle.keyPattern === null) throw new Error(c.na?.bytes ?? "no Redis state");
          if (handle.prefill) await handle.prefill(memoryN, COST);
          else await runPool(memoryN, INFLIGHT, () => handle.acquire(COST));
          const m = await memoryOfKeys(observer, handle.keyPattern);
          await handle.close();
          return { n: memoryN, bytes: m.bytes, keys: m.keys, perReservation: m.bytes / memoryN };
        });
        log(`  bytes/reservation: ${bytes.ok ? fmtNum(bytes.value.perReservation, 1) : bytes.reason}`);
        if (c.na?.bytes && bytes.ok) {
          // Measured, but a fixed-size state is no per-reservation cost.
          const v = bytes.value;
          bytes = {
            ok: false,
            reason: `${c.na.bytes} (${fmtNum(v.bytes)} B in ${v.keys} keys after ${fmtNum(v.n)} requests)`,
          };
        }

        const costs = await attempt("cost at n", 600_000, () => costAt(c, options, observer, run, quick));
        result.rows.push({
          limiter: c.limiter,
          store: c.store,
          howUsed: c.howUsed,
          uncontended,
          throughput: hot,
          callsImmediate,
          callsWaiting,
          bytesPerReservation: bytes,
          costAt: costs,
        });
      } finally {
        await c.close();
      }
    }
  } finally {
    observer.disconnect();
  }
  return result;
}

async function costAt(
  c: Contender,
  options: OverheadOptions,
  observer: Redis,
  run: string,
  quick: boolean,
): Promise<Array<{ n: number; p50Us: number; p99Us: number; serverUsPerCall: number | null }>> {
  if (c.na?.costAt) throw new Error(c.na.costAt);
  const points = [100, 10_000, 100_000];
  const samples = quick ? 300 : 1000;
  const pick = (side: "ours" | "naive") => (s: ScalePoint) => ({
    n: s.n,
    p50Us: s[side].p50Us,
    p99Us: s[side].p99Us,
    serverUsPerCall: s[side].serverUsPerCall,
  });
  if (c.store === "memory") {
    const out = [];
    for (const n of points) {
      const limiter = new RateLimiter({ model: "fill", tpm: BIG, windowSeconds: 3600 });
      await runPool(n, INFLIGHT, () => limiter.acquire({ inputTokens: COST }));
      const times: number[] = [];
      for (let i = 0; i < samples; i++) times.push(await timeUs(() => limiter.acquire({ inputTokens: COST })));
      await limiter.close();
      const s = summarize(times);
      out.push({ n, p50Us: s.p50Us, p99Us: s.p99Us, serverUsPerCall: null });
    }
    return out;
  }
  const side = c.limiter === "llmratelimiter" ? "ours" : "naive";
  if (options.core) return options.core.scaling.map(pick(side));
  const manager = new RedisConnectionManager(options.redisUrl);
  try {
    const out = [];
    for (const n of points) {
      const point =
        side === "ours"
          ? await oursAtFill(manager, observer, `${run}-fill${n}`, n, samples)
          : await naiveAtFill(manager.client, observer, `${run}-fill${n}`, n, samples, quick ? 3000 : 8000);
      out.push({ n, p50Us: point.p50Us, p99Us: point.p99Us, serverUsPerCall: point.serverUsPerCall });
    }
    return out;
  } finally {
    await manager.close();
  }
}

const show = <T>(m: Measured<T>, f: (v: T) => string): string => (m.ok ? f(m.value) : `n/a: ${m.reason}`);

export function overheadMarkdown(r: OverheadResult): string {
  const name = (row: OverheadRow) => `${row.limiter} (${row.store})`;
  const lines: string[] = [];
  lines.push("## Overhead: llmratelimiter vs peers (same machine, same redis-server)", "");
  lines.push(
    `${r.budget}. Hot key: ${r.inflight} acquires in flight from one process on one key. Calls are what clients ` +
      "sent (server MONITOR feed; commands run inside scripts are not round trips). Memory: MEMORY USAGE … SAMPLES 0 " +
      "over the limiter's keys after 10,000 requests in a 3600 s window.",
    "",
  );
  lines.push(
    mdTable(
      [
        "limiter",
        "uncontended p50 / p99",
        "hot key acquires/s",
        "calls/acquire immediate",
        "calls/acquire waiting (10 started together)",
        "bytes/reservation",
      ],
      r.rows.map((row) => [
        name(row),
        show(row.uncontended, (v) => `${fmtUs(v.p50Us)} / ${fmtUs(v.p99Us)}`),
        show(
          row.throughput,
          (v) =>
            `${fmtNum(v.perSecond)} (Redis ${fmtUs(v.serverUsPerCall)}/script call, Node ${fmtNum(v.nodeCpu, 2)} cores)`,
        ),
        show(row.callsImmediate, (v) => `${fmtNum(v.allPerAcquire, 2)} (${fmtNum(v.scriptsPerAcquire, 2)} scripts)`),
        show(
          row.callsWaiting,
          (v) =>
            `${fmtNum(v.allPerAcquire, 2)} (${fmtNum(v.scriptsPerAcquire, 2)} scripts; ${v.waited}/${v.acquires} waited)`,
        ),
        show(row.bytesPerReservation, (v) => fmtNum(v.perReservation, 1)),
      ]),
    ),
    "",
  );
  lines.push("### Acquire cost against reservations in the window (p50; Redis time per call)", "");
  lines.push(
    mdTable(
      ["limiter", "100", "10,000", "100,000"],
      r.rows.map((row) => {
        if (!row.costAt.ok) return [name(row), `n/a: ${row.costAt.reason}`, "", ""];
        return [
          name(row),
          ...row.costAt.value.map(
            (p) => `${fmtUs(p.p50Us)}${p.serverUsPerCall !== null ? ` (${fmtUs(p.serverUsPerCall)})` : ""}`,
          ),
        ];
      }),
    ),
    "",
  );
  lines.push("### Commands per acquire, by command", "");
  lines.push(
    mdTable(
      ["limiter", "immediate (100 acquires)", "waiting (10 acquires started together)"],
      r.rows.map((row) => [
        name(row),
        show(row.callsImmediate, (v) => byCommand(v.byCommand)),
        show(row.callsWaiting, (v) => byCommand(v.byCommand)),
      ]),
    ),
    "",
  );
  lines.push("### How each was used", "");
  for (const row of r.rows) lines.push(`- **${name(row)}**: ${row.howUsed}`);
  lines.push("");
  return lines.join("\n");
}

function byCommand(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}
