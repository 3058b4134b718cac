/**
 * Core benchmark (issue 2): the one-key ring store against the NAIVE REFERENCE (naive-zset.ts, the original's O(n)
 * sorted-set algorithm, modernised), side by side in one run on one redis-server, reported as ratios with the
 * issue's targets. Run from the repo root:
 *
 *   node --conditions=llmratelimiter-source --import tsx packages/core/bench/core-bench.ts [--quick]
 *
 * Writes bench/results/core.json and core.md. Calls are counted by the server (INFO commandstats), memory by
 * MEMORY USAGE … SAMPLES 0, latencies on the client with hrtime.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MAX_TOKENS, RateLimiter, RedisConnectionManager, SCRIPTS } from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { NaiveZsetLimiter } from "./naive-zset.js";
import {
  commandStats,
  countClientCommands,
  delta,
  fmtNum,
  fmtUs,
  type Latency,
  mdTable,
  runPool,
  sleep,
  summarize,
  throughput,
  timeUs,
} from "./stats.js";

export interface CoreBenchOptions {
  redisUrl: string;
  /** Fewer samples and shorter runs (a smoke run, not for publishing). */
  quick?: boolean;
  log?: (line: string) => void;
}

export interface ScalePoint {
  /** Reservations in the window when measured (each sampled key holds n to 1.1 n). */
  n: number;
  ours: Latency & { serverUsPerCall: number; bytesPerReservation: number };
  naive: Latency & { serverUsPerCall: number; bytesPerReservation: number };
}

export interface ThroughputRow {
  limiter: string;
  client: string;
  inflight: number;
  perSecond: number;
  completed: number;
  seconds: number;
  /** CPU this Node process used during the run, in cores (1 = one core saturated). */
  nodeCpu: number;
  /** Server time per script call during the run, µs (Redis stores only). */
  serverUsPerCall: number | null;
}

export interface CallsRow {
  limiter: string;
  /** immediate / waiting: each acquire alone in its call; burst: started in the same tick (one call for all). */
  case: "immediate" | "waiting" | "burst";
  acquires: number;
  /** How many of the measured acquires actually waited for a later slot. */
  waited: number;
  scriptCallsPerAcquire: number;
  allCallsPerAcquire: number;
  byCommand: Record<string, number>;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
  note: string;
}

export interface CoreResult {
  startedAt: string;
  quick: boolean;
  environment: {
    node: string;
    redis: string;
    cpus: number;
    cpuModel: string;
    loadavgStart: number[];
    loadavgEnd: number[];
  };
  scaling: ScalePoint[];
  ping: {
    ping: Latency;
    /** EVALSHA of a script that does nothing, with an acquire's arguments and reply shape: the floor of any script. */
    noop: Latency;
    /** The acquire script called directly (no RateLimiter): round trip + script. */
    script: Latency;
    ours: Latency;
    naive: Latency;
    oursRatio: number;
    noopRatio: number;
    scriptRatio: number;
    naiveRatio: number;
  };
  throughput: ThroughputRow[];
  calls: CallsRow[];
  targets: Target[];
}

const COST = 10; // tokens per benchmark request (input only): small, so no limit is ever near
const BIG = MAX_TOKENS; // "no limit in reach"
const LONG_WINDOW_S = 3600;
const HOT_WINDOW_S = 60;
const INFLIGHT = 256;

export async function runCoreBench(options: CoreBenchOptions): Promise<CoreResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const quick = options.quick ?? false;
  const run = randomUUID().slice(0, 8);
  const observer = new Redis(options.redisUrl);
  const manager = new RedisConnectionManager(options.redisUrl);
  const result: CoreResult = {
    startedAt: new Date().toISOString(),
    quick,
    environment: {
      node: process.version,
      redis: ((await observer.info("server")).match(/redis_version:(\S+)/) ?? [])[1] ?? "?",
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "?",
      loadavgStart: os.loadavg(),
      loadavgEnd: [],
    },
    scaling: [],
    ping: undefined as unknown as CoreResult["ping"],
    throughput: [],
    calls: [],
    targets: [],
  };
  try {
    await manager.client.ping();
    // JIT and connection warm-up, so the first measured phase is not penalised.
    {
      const warm = new RateLimiter({ redis: manager, model: "warm", keyPrefix: `${run}-warm`, tpm: BIG });
      await runPool(quick ? 2000 : 5000, INFLIGHT, () => warm.acquire({ inputTokens: COST }));
      for (let i = 0; i < 500; i++) await warm.acquire({ inputTokens: COST });
      await observer.del(warm.key);
      await warm.close();
    }
    // 1. Cost against reservations in the window.
    const samples = quick ? 300 : 2000;
    for (const n of [100, 10_000, 100_000]) {
      log(`scaling: ${fmtNum(n)} reservations in the window…`);
      const ours = await oursAtFill(manager, observer, `${run}-s${n}`, n, samples);
      const naive = await naiveAtFill(manager.client, observer, `${run}-s${n}`, n, samples, quick ? 3000 : 8000);
      result.scaling.push({ n, ours, naive });
      log(
        `  ours p50 ${fmtUs(ours.p50Us)} (server ${fmtUs(ours.serverUsPerCall)}), naive p50 ${fmtUs(naive.p50Us)} ` +
          `(server ${fmtUs(naive.serverUsPerCall)}, ${naive.samples} samples)`,
      );
    }

    // 2. Uncontended acquire next to PING, same client, interleaved so both see the same noise.
    log("uncontended acquire vs PING…");
    result.ping = await pingRatio(manager, `${run}-ping`, quick ? 1000 : 5000);
    log(
      `  PING p50 ${fmtUs(result.ping.ping.p50Us)}, ours ${fmtUs(result.ping.ours.p50Us)} (×${fmtNum(result.ping.oursRatio, 2)})`,
    );

    // 3. Hot key, 256 in flight.
    const durationMs = quick ? 2000 : 5000;
    for (const autoPipelining of [false, true]) {
      const client = autoPipelining ? "ioredis enableAutoPipelining" : "ioredis default";
      const m = autoPipelining
        ? new RedisConnectionManager(options.redisUrl, { redisOptions: { enableAutoPipelining: true } })
        : new RedisConnectionManager(options.redisUrl);
      try {
        await m.client.ping();
        log(`hot key, ${INFLIGHT} in flight, ${client}…`);
        const make = (suffix: string) =>
          new RateLimiter({
            redis: m,
            model: "hot",
            keyPrefix: `${run}-hot-${autoPipelining ? "ap" : "d"}-${suffix}`,
            tpm: BIG,
            windowSeconds: HOT_WINDOW_S,
          });
        await throughput(500, INFLIGHT, () => make("warm").acquire({ inputTokens: COST }));
        const limiter = make("run");
        result.throughput.push(
          await measureThroughput(observer, "llmratelimiter (redis)", client, durationMs, () =>
            limiter.acquire({ inputTokens: COST }),
          ),
        );
        const naive = new NaiveZsetLimiter(m.client, `${run}-hot-naive-${autoPipelining ? "ap" : "d"}`, {
          tpm: BIG,
          windowMs: HOT_WINDOW_S * 1000,
        });
        result.throughput.push(
          await measureThroughput(observer, "naive ZSET", client, durationMs, () =>
            naive.acquire({ inputTokens: COST }),
          ),
        );
        await observer.del(naive.key, limiter.key);
      } finally {
        await m.close();
      }
    }
    {
      log(`embedded store, ${INFLIGHT} in flight…`);
      const memory = new RateLimiter({ model: "hot", tpm: BIG, windowSeconds: HOT_WINDOW_S });
      await throughput(500, INFLIGHT, () => memory.acquire({ inputTokens: COST }));
      const t = await throughput(durationMs, INFLIGHT, () => memory.acquire({ inputTokens: COST }));
      result.throughput.push({
        limiter: "llmratelimiter (memory)",
        client: "in process",
        inflight: INFLIGHT,
        ...t,
        serverUsPerCall: null,
      });
      await memory.close();
    }
    for (const row of result.throughput) log(`  ${row.limiter}, ${row.client}: ${fmtNum(row.perSecond)} acquires/s`);

    // 4. Redis calls per acquire, counted by the server.
    log("Redis calls per acquire…");
    result.calls = await callsPerAcquire(manager, observer, run);
    for (const c of result.calls) {
      log(
        `  ${c.limiter} ${c.case}: ${fmtNum(c.scriptCallsPerAcquire, 2)} script calls (${c.waited}/${c.acquires} waited)`,
      );
    }
  } finally {
    await manager.close();
    observer.disconnect();
  }
  result.environment.loadavgEnd = os.loadavg();
  result.targets = evaluate(result);
  return result;
}

/** Latency and Redis time of our acquire with n reservations in the window; bytes per reservation at n. */
export async function oursAtFill(
  manager: RedisConnectionManager,
  observer: Redis,
  tag: string,
  n: number,
  samples: number,
): Promise<ScalePoint["ours"]> {
  // Each key takes at most n/10 samples so that it holds n to 1.1 n reservations while measured.
  const perKey = Math.max(1, Math.floor(n / 10));
  const keyCount = Math.ceil(samples / perKey);
  const limiters = Array.from(
    { length: keyCount },
    (_, k) =>
      new RateLimiter({
        redis: manager,
        model: "scale",
        keyPrefix: `${tag}-ours-${k}`,
        tpm: BIG,
        windowSeconds: LONG_WINDOW_S,
      }),
  );
  for (const limiter of limiters) await runPool(n, INFLIGHT, () => limiter.acquire({ inputTokens: COST }));
  const bytes = (await observer.call("MEMORY", "USAGE", limiters[0]!.key, "SAMPLES", "0")) as number;
  const times: number[] = [];
  const before = await commandStats(observer);
  for (const limiter of limiters) {
    for (let j = 0; j < perKey && times.length < samples; j++) {
      times.push(await timeUs(() => limiter.acquire({ inputTokens: COST })));
    }
  }
  const d = delta(before, await commandStats(observer));
  await observer.del(...limiters.map((l) => l.key));
  await Promise.all(limiters.map((l) => l.close()));
  return { ...summarize(times), serverUsPerCall: d.scriptUsec / d.scripts, bytesPerReservation: bytes / n };
}

/** The same for the naive reference (pre-filled with ZADD; time-budgeted sampling). */
export async function naiveAtFill(
  client: Redis,
  observer: Redis,
  tag: string,
  n: number,
  samples: number,
  budgetMs: number,
): Promise<ScalePoint["naive"]> {
  const perKey = Math.max(1, Math.floor(n / 10));
  const keyCount = Math.ceil(samples / perKey);
  const limiters = Array.from(
    { length: keyCount },
    (_, k) => new NaiveZsetLimiter(client, `${tag}-naive-${k}`, { tpm: BIG, windowMs: LONG_WINDOW_S * 1000 }),
  );
  // Written directly (ZADD): n acquires would cost O(n²) before the measurement even starts.
  for (const limiter of limiters) await limiter.prefill(n, COST, 60_000);
  // Load the script outside the measurement.
  await new NaiveZsetLimiter(client, `${tag}-naive-warm`, { tpm: BIG, windowMs: 1000 }).acquire({ inputTokens: 1 });
  const bytes = (await observer.call("MEMORY", "USAGE", limiters[0]!.key, "SAMPLES", "0")) as number;
  const times: number[] = [];
  const deadline = performance.now() + budgetMs;
  const before = await commandStats(observer);
  outer: for (const limiter of limiters) {
    for (let j = 0; j < perKey && times.length < samples; j++) {
      // The O(n) script can take 100 ms a call at 100k: stop on a time budget, never below 10 samples.
      if (times.length >= 10 && performance.now() > deadline) break outer;
      times.push(await timeUs(() => limiter.acquire({ inputTokens: COST })));
    }
  }
  const d = delta(before, await commandStats(observer));
  await observer.del(...limiters.map((l) => l.key));
  return { ...summarize(times), serverUsPerCall: d.scriptUsec / d.scripts, bytesPerReservation: bytes / n };
}

async function pingRatio(manager: RedisConnectionManager, tag: string, samples: number): Promise<CoreResult["ping"]> {
  const client = manager.client as Redis;
  const ping: number[] = [];
  const noop: number[] = [];
  const script: number[] = [];
  const ours: number[] = [];
  const naive: number[] = [];
  // The same argument list an acquire sends (limits, window, scan, then one request), on keys of their own.
  const noopSha = (await client.script("LOAD", "return {0, 0, 0, 0, 0, 0}")) as string;
  await client.script("LOAD", SCRIPTS.acquire.source);
  const args = (token: number) => [BIG, 0, 0, 0, HOT_WINDOW_S * 1000, 20_000, token, COST, 0, COST, -1, -1, 0];
  // A fresh key every 100 acquires: "uncontended" means a lightly used limiter, for both designs.
  let ourLimiter: RateLimiter | undefined;
  let naiveLimiter: NaiveZsetLimiter | undefined;
  const rounds = samples + 200;
  for (let i = 0; i < rounds; i++) {
    if (i % 100 === 0) {
      await ourLimiter?.close();
      ourLimiter = new RateLimiter({
        redis: manager,
        model: "ping",
        keyPrefix: `${tag}-${i}`,
        tpm: BIG,
        windowSeconds: HOT_WINDOW_S,
      });
      naiveLimiter = new NaiveZsetLimiter(client, `${tag}-naive-${i}`, { tpm: BIG, windowMs: HOT_WINDOW_S * 1000 });
      // One-off set-up (the limiter's subscription, a new key) is not what this measures.
      await ourLimiter.acquire({ inputTokens: COST });
      await naiveLimiter.acquire({ inputTokens: COST });
    }
    const scriptKey = `{${tag}-script-${Math.floor(i / 100)}}:state`;
    const p = await timeUs(() => client.ping());
    const n = await timeUs(() => client.evalsha(noopSha, 1, `{${tag}-noop}`, ...args(i)));
    const s = await timeUs(() => client.evalsha(SCRIPTS.acquire.sha, 1, scriptKey, ...args(i)));
    const o = await timeUs(() => ourLimiter!.acquire({ inputTokens: COST }));
    const z = await timeUs(() => naiveLimiter!.acquire({ inputTokens: COST }));
    if (i >= 200) {
      ping.push(p);
      noop.push(n);
      script.push(s);
      ours.push(o);
      naive.push(z);
    }
  }
  await ourLimiter?.close();
  const result = {
    ping: summarize(ping),
    noop: summarize(noop),
    script: summarize(script),
    ours: summarize(ours),
    naive: summarize(naive),
  };
  const over = (l: Latency) => l.p50Us / result.ping.p50Us;
  return {
    ...result,
    oursRatio: over(result.ours),
    noopRatio: over(result.noop),
    scriptRatio: over(result.script),
    naiveRatio: over(result.naive),
  };
}

async function measureThroughput(
  observer: Redis,
  limiter: string,
  client: string,
  durationMs: number,
  acquire: () => Promise<unknown>,
): Promise<ThroughputRow> {
  const before = await commandStats(observer);
  const t = await throughput(durationMs, INFLIGHT, acquire);
  const d = delta(before, await commandStats(observer));
  return {
    limiter,
    client,
    inflight: INFLIGHT,
    ...t,
    serverUsPerCall: d.scripts > 0 ? d.scriptUsec / d.scripts : null,
  };
}

async function callsPerAcquire(manager: RedisConnectionManager, observer: Redis, run: string): Promise<CallsRow[]> {
  const rows: CallsRow[] = [];
  const count = 100;
  const waitCount = 10;
  const measure = async (limiter: string, kind: CallsRow["case"], acquires: () => Promise<number[]>): Promise<void> => {
    const { value: waits, count } = await countClientCommands(observer, acquires);
    rows.push({
      limiter,
      case: kind,
      acquires: waits.length,
      waited: waits.filter((w) => w > 0).length,
      scriptCallsPerAcquire: count.scripts / waits.length,
      allCallsPerAcquire: count.all / waits.length,
      byCommand: count.byCommand,
    });
  };
  const sequential = async (n: number, fn: () => Promise<number>) => {
    const waits: number[] = [];
    for (let i = 0; i < n; i++) waits.push(await fn());
    return waits;
  };

  // ours: scripts already loaded by earlier phases; a warm-up call makes sure of it.
  const make = (suffix: string, limits: { tpm?: number; rpm?: number }, windowSeconds: number) =>
    new RateLimiter({ redis: manager, model: "calls", keyPrefix: `${run}-calls-${suffix}`, windowSeconds, ...limits });
  const warm = make("warm", { tpm: BIG }, 60);
  await warm.acquire({ inputTokens: COST });
  const open = make("open", { tpm: BIG }, 60);
  await open.acquire({ inputTokens: COST }); // its one-off SUBSCRIBE is per limiter, not per acquire
  await measure("llmratelimiter (redis)", "immediate", () =>
    sequential(count, async () => (await open.acquire({ inputTokens: COST })).waitMs),
  );
  const tight = make("tight", { rpm: waitCount }, 1);
  await sequential(waitCount, async () => (await tight.acquire({ inputTokens: COST })).waitMs);
  // Each waiting acquire starts 5 ms after the previous one, so each travels alone; then a burst started in one
  // tick, which shares one call.
  const spaced = (n: number, fn: () => Promise<number>) =>
    Promise.all(Array.from({ length: n }, (_, k) => sleep(5 * k).then(fn)));
  await measure("llmratelimiter (redis)", "waiting", () =>
    spaced(waitCount, async () => (await tight.acquire({ inputTokens: COST })).waitMs),
  );
  const burst = make("burst", { rpm: waitCount }, 1);
  await sequential(waitCount, async () => (await burst.acquire({ inputTokens: COST })).waitMs);
  await measure("llmratelimiter (redis)", "burst", () =>
    Promise.all(Array.from({ length: waitCount }, async () => (await burst.acquire({ inputTokens: COST })).waitMs)),
  );
  await Promise.all([warm.close(), open.close(), tight.close(), burst.close()]);

  const client = manager.client;
  await new NaiveZsetLimiter(client, `${run}-calls-naive-warm`, { tpm: BIG, windowMs: 60_000 }).acquire({
    inputTokens: COST,
  });
  const naiveOpen = new NaiveZsetLimiter(client, `${run}-calls-naive-open`, { tpm: BIG, windowMs: 60_000 });
  await measure("naive ZSET", "immediate", () =>
    sequential(count, async () => (await naiveOpen.acquire({ inputTokens: COST })).waitMs),
  );
  const naiveTight = new NaiveZsetLimiter(client, `${run}-calls-naive-tight`, { rpm: waitCount, windowMs: 1000 });
  await sequential(waitCount, async () => (await naiveTight.acquire({ inputTokens: COST })).waitMs);
  await measure("naive ZSET", "waiting", () =>
    spaced(waitCount, async () => (await naiveTight.acquire({ inputTokens: COST })).waitMs),
  );
  return rows;
}

function evaluate(r: CoreResult): Target[] {
  const targets: Target[] = [];
  const redisRows = r.throughput.filter((t) => t.limiter === "llmratelimiter (redis)");
  const best = redisRows.reduce((a, b) => (b.perSecond > a.perSecond ? b : a), redisRows[0]!);
  const plain = redisRows.find((t) => t.client === "ioredis default");
  const serverBound = best.serverUsPerCall !== null ? 1e6 / best.serverUsPerCall : Number.NaN;
  targets.push({
    name: "hot-key throughput, 256 in flight, one process",
    target: "≥ 50,000 acquires/s",
    measured: `${fmtNum(best.perSecond)}/s (${best.client}); default client ${fmtNum(plain?.perSecond)}/s`,
    pass: best.perSecond >= 50_000,
    note:
      best.perSecond >= 50_000
        ? ""
        : `${fmtNum((1 - best.perSecond / 50_000) * 100)} % short. Redis spent ${fmtUs(best.serverUsPerCall)} per ` +
          `script call (wall time inside Redis, inflated when the 2 cores are contended; a ceiling of ~${fmtNum(serverBound)}/s ` +
          `if Redis were the only cost) and the Node process used ${fmtNum(best.nodeCpu, 2)} cores: client and ` +
          "redis-server each need most of a core at this rate, on a machine that also runs other jobs.",
  });
  const ratio = r.ping.oursRatio;
  targets.push({
    name: "uncontended acquire p50 vs PING p50 (same client)",
    target: "≤ 1.3 × PING",
    measured: `${fmtUs(r.ping.ours.p50Us)} vs ${fmtUs(r.ping.ping.p50Us)} = ×${fmtNum(ratio, 2)}`,
    pass: ratio <= 1.3,
    note:
      ratio <= 1.3
        ? ""
        : `${fmtNum((ratio / 1.3 - 1) * 100)} % over. Where the time goes (p50): PING ${fmtUs(r.ping.ping.p50Us)}; ` +
          `EVALSHA of a script that does nothing, with an acquire's arguments, ${fmtUs(r.ping.noop.p50Us)} ` +
          `(×${fmtNum(r.ping.noopRatio, 2)}: the floor of any one-script design); the acquire script alone ` +
          `${fmtUs(r.ping.script.p50Us)} (+${fmtUs(r.ping.script.p50Us - r.ping.noop.p50Us)} of script work); ` +
          `RateLimiter.acquire ${fmtUs(r.ping.ours.p50Us)} (+${fmtUs(r.ping.ours.p50Us - r.ping.script.p50Us)} in the client).`,
  });
  const first = r.scaling[0]!;
  const last = r.scaling[r.scaling.length - 1]!;
  const serverRatio = last.ours.serverUsPerCall / first.ours.serverUsPerCall;
  const clientRatio = last.ours.p50Us / first.ours.p50Us;
  targets.push({
    name: `acquire cost at ${fmtNum(last.n)} vs ${fmtNum(first.n)} reservations`,
    target: "≤ 1.2 ×",
    measured: `Redis time ×${fmtNum(serverRatio, 2)} (${fmtUs(first.ours.serverUsPerCall)} → ${fmtUs(last.ours.serverUsPerCall)}); client p50 ×${fmtNum(clientRatio, 2)}`,
    pass: serverRatio <= 1.2 && clientRatio <= 1.2,
    note:
      serverRatio <= 1.2 && clientRatio <= 1.2
        ? ""
        : `Redis ×${fmtNum(serverRatio, 2)}, client ×${fmtNum(clientRatio, 2)}. The script touches a fixed number of ` +
          "bytes whatever n is; a larger string value means more cache misses per GETRANGE/SETRANGE, and client " +
          "latency on a shared 2-core machine moves by more than 20 % between phases.",
  });
  for (const point of r.scaling.filter((s) => s.n >= 10_000)) {
    const b = point.ours.bytesPerReservation;
    targets.push({
      name: `Redis bytes per reservation at ${fmtNum(point.n)}`,
      target: "≤ 64 B",
      measured: `${fmtNum(b, 1)} B (naive ZSET ${fmtNum(point.naive.bytesPerReservation, 1)} B)`,
      pass: b <= 64,
      note: b <= 64 ? "" : `${fmtNum(b - 64, 1)} B over: the ring grows by doubling, so up to half of it can be empty.`,
    });
  }
  for (const kind of ["immediate", "waiting"] as const) {
    const row = r.calls.find((c) => c.limiter === "llmratelimiter (redis)" && c.case === kind);
    const calls = row?.scriptCallsPerAcquire ?? Number.NaN;
    const extras = Object.entries(row?.byCommand ?? {})
      .filter(([name]) => !/^eval/.test(name))
      .map(([name, n]) => `${name} ×${n}`)
      .join(", ");
    targets.push({
      name: `Redis calls per acquire, ${kind}${kind === "waiting" ? ` (${row?.waited}/${row?.acquires} waited)` : ""}`,
      target: "exactly 1",
      measured: `${fmtNum(calls, 2)} EVALSHA/EVAL per acquire${extras ? `; other commands in total: ${extras}` : ""}`,
      pass: calls === 1 && (kind === "immediate" || (row?.waited ?? 0) > 0),
      note: extras ? "SUBSCRIBE is sent once per limiter per process (on its first acquire), not per acquire." : "",
    });
  }
  const burst = r.calls.find((c) => c.limiter === "llmratelimiter (redis)" && c.case === "burst");
  if (burst) {
    targets.push({
      name: `Redis calls per acquire, ${burst.acquires} waiting acquires started in one tick`,
      target: "at most 1 (no polling)",
      measured: `${fmtNum(burst.scriptCallsPerAcquire, 2)} EVALSHA/EVAL per acquire (${burst.waited}/${burst.acquires} waited): one call carried them all`,
      pass: burst.scriptCallsPerAcquire <= 1 && burst.waited > 0,
      note: "",
    });
  }
  return targets;
}

export function coreMarkdown(r: CoreResult): string {
  const lines: string[] = [];
  lines.push("# Core benchmark: one-key ring store vs naive ZSET reference", "");
  lines.push(
    `Run ${r.startedAt}${r.quick ? " (quick mode: fewer samples)" : ""}. Node ${r.environment.node}, Redis ${r.environment.redis}, ` +
      `${r.environment.cpus} × ${r.environment.cpuModel}; load average ${r.environment.loadavgStart.map((l) => l.toFixed(2)).join("/")} at start, ` +
      `${r.environment.loadavgEnd.map((l) => l.toFixed(2)).join("/")} at the end. Client and redis-server share the machine.`,
    "",
  );
  lines.push("## Targets", "");
  lines.push(
    mdTable(
      ["metric", "target", "measured", "result", "why (when missed)"],
      r.targets.map((t) => [t.name, t.target, t.measured, t.pass ? "PASS" : "MISS", t.note]),
    ),
    "",
  );
  lines.push("## Acquire cost against reservations in the window", "");
  lines.push(
    "Window 3600 s, limits far out of reach, one acquire at a time. Redis time = INFO commandstats µs per script call.",
    "",
  );
  lines.push(
    mdTable(
      [
        "reservations",
        "ours p50 / p99",
        "ours Redis time",
        "naive p50 / p99",
        "naive Redis time",
        "naive ÷ ours (p50)",
        "bytes/reservation ours / naive",
      ],
      r.scaling.map((s) => [
        fmtNum(s.n),
        `${fmtUs(s.ours.p50Us)} / ${fmtUs(s.ours.p99Us)}`,
        fmtUs(s.ours.serverUsPerCall),
        `${fmtUs(s.naive.p50Us)} / ${fmtUs(s.naive.p99Us)} (${s.naive.samples} samples)`,
        fmtUs(s.naive.serverUsPerCall),
        `×${fmtNum(s.naive.p50Us / s.ours.p50Us, 1)}`,
        `${fmtNum(s.ours.bytesPerReservation, 1)} / ${fmtNum(s.naive.bytesPerReservation, 1)}`,
      ]),
    ),
    "",
  );
  lines.push("## Uncontended acquire vs PING (same ioredis client, interleaved)", "");
  const pingRow = (name: string, l: Latency) => [
    name,
    fmtUs(l.p50Us),
    fmtUs(l.p99Us),
    `×${fmtNum(l.p50Us / r.ping.ping.p50Us, 2)}`,
  ];
  lines.push(
    mdTable(
      ["call", "p50", "p99", "÷ PING p50"],
      [
        pingRow("PING", r.ping.ping),
        pingRow("EVALSHA of a no-op script, an acquire's arguments", r.ping.noop),
        pingRow("EVALSHA of the acquire script (no RateLimiter)", r.ping.script),
        pingRow("llmratelimiter acquire", r.ping.ours),
        pingRow("naive ZSET acquire", r.ping.naive),
      ],
    ),
    "",
  );
  lines.push(`## Hot key, ${INFLIGHT} acquires in flight from one process (window ${HOT_WINDOW_S} s)`, "");
  lines.push(
    mdTable(
      ["limiter", "client", "acquires/s", "Redis time per call", "Node CPU (cores)"],
      r.throughput.map((t) => [
        t.limiter,
        t.client,
        fmtNum(t.perSecond),
        fmtUs(t.serverUsPerCall),
        fmtNum(t.nodeCpu, 2),
      ]),
    ),
    "",
  );
  lines.push(
    "The naive reference's rate falls as its window fills (each call reads every reservation); its figure is the average over the run.",
    "",
  );
  lines.push(
    "## Redis calls per acquire (server-side MONITOR feed: commands clients sent, not those run inside scripts)",
    "",
  );
  lines.push(
    mdTable(
      ["limiter", "case", "waited", "EVALSHA+EVAL per acquire", "all commands per acquire", "commands seen"],
      r.calls.map((c) => [
        c.limiter,
        c.case,
        `${c.waited}/${c.acquires}`,
        fmtNum(c.scriptCallsPerAcquire, 2),
        fmtNum(c.allCallsPerAcquire, 2),
        Object.entries(c.byCommand)
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
      ]),
    ),
    "",
  );
  return lines.join("\n");
}

export function writeCoreResults(r: CoreResult, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/core.json`, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(`${dir}/core.md`, coreMarkdown(r));
}

export const RESULTS_DIR = fileURLToPath(new URL("../../../bench/results", import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { startRedisServer } = await import("../../../test/harness/redis-server.js");
  const server = await startRedisServer();
  try {
    const result = await runCoreBench({ redisUrl: server.url, quick: process.argv.includes("--quick") });
    writeCoreResults(result, RESULTS_DIR);
    console.log(`\n${coreMarkdown(result)}`);
    console.log(`Written to ${RESULTS_DIR}/core.md and core.json`);
  } finally {
    await server.stop();
  }
}
