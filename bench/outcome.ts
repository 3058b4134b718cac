/**
 * Outcome benchmark: the same multi-process load against each provider simulator, through this library (Redis
 * store, SDK wrappers), bottleneck (Redis clustering, job weight = tokens), rate-limiter-flexible (RateLimiterRedis +
 * RateLimiterQueue, points = tokens) and no limiter. Each row reads the simulator's own timeline: what the provider
 * would have seen. Standalone: `node --conditions=llmratelimiter-source --import tsx bench/outcome.ts [--quick] [--json]`.
 */
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeTimeline, type Provider, type SimLimits, startSimulator } from "../packages/simulator/src/index.js";
import type { LimiterKind } from "../packages/simulator/src/load/gates.js";
import { LoadPool } from "../packages/simulator/src/load/pool.js";
import { countInversions, mergeReports, percentile, type Scenario } from "../packages/simulator/src/load/run.js";
import { startRedisServer } from "../test/harness/redis-server.js";

export interface OutcomeRow {
  limiter: LimiterKind;
  provider: Provider;
  /** HTTP requests the simulator received. */
  requests: number;
  /** Of which answered 429 (ThrottlingException, RESOURCE_EXHAUSTED). */
  rateLimited: number;
  /** Of which served. */
  served: number;
  /** Tokens served per window / limit, for the most used token limit. */
  quotaShare: number;
  /** Admissions at which a sliding window held more than a limit, measured the provider's way. */
  violations: number;
  /** The same, ignoring overlaps of up to JITTER_MS (arrival jitter against an exact schedule). */
  violationsBeyondJitter: number;
  /** Limiter wait per attempt, p95, in ms. */
  p95WaitMs: number;
  /** First attempt to success (waits and 429 retries included), p95, in ms. */
  p95TotalMs: number;
  /** Adjacent arrivals granted out of order: exact store order for this library, client clocks (1 ms) for peers. */
  fifoInversions: number;
}

export interface OutcomeOptions {
  /** A Redis every process shares; unset = start a redis-server for the run. */
  redisUrl?: string;
  /** Short runs (1 s windows, 4 s each) for CI and quick looks. */
  quick?: boolean;
}

/** Limits per window; tight enough that 32 workers offer several times the quota. */
const PROVIDERS: Array<{ provider: Provider; limits: SimLimits; burndown: number }> = [
  { provider: "openai", limits: { tpm: 40_000, rpm: 300 }, burndown: 1 },
  { provider: "anthropic", limits: { inputTpm: 30_000, outputTpm: 8_000, rpm: 300 }, burndown: 1 },
  { provider: "bedrock", limits: { tpm: 80_000, rpm: 300 }, burndown: 5 },
  { provider: "vertex", limits: { inputTpm: 30_000, outputTpm: 8_000, rpm: 300 }, burndown: 1 },
];
const LIMITERS: LimiterKind[] = ["llmratelimiter", "bottleneck", "rate-limiter-flexible", "none"];
const PROCESSES = 2;
const WORKERS = 16;
export const JITTER_MS = 25;

export async function runOutcome(options: OutcomeOptions = {}): Promise<OutcomeRow[]> {
  const quick = options.quick ?? false;
  const windowMs = quick ? 1000 : 2000;
  const durationMs = quick ? 4000 : 20_000;
  const redis = options.redisUrl ? undefined : await startRedisServer();
  const redisUrl = options.redisUrl ?? redis!.url;
  const pool = await LoadPool.start(PROCESSES);
  const rows: OutcomeRow[] = [];
  try {
    for (const { provider, limits, burndown } of PROVIDERS) {
      const sim = await startSimulator({
        provider,
        limits,
        burndown,
        timeScale: 60_000 / windowMs,
        latencyMs: [50, 200],
        seed: 11,
      });
      try {
        for (const limiter of LIMITERS) {
          sim.reset();
          const startAt = Date.now() + 300;
          const base: Scenario = {
            provider,
            limiter,
            simUrl: sim.url,
            limits,
            windowMs,
            burndown,
            workers: WORKERS,
            startAt,
            durationMs,
            seed: 3,
            mix: "bench",
            keyPrefix: `outcome-${randomUUID()}`,
            redisUrl,
          };
          const report = mergeReports(await pool.run((i) => ({ ...base, seed: base.seed + i * 101 })));
          const stats = sim.stats();
          // Arrivals are measured from reset; the load starts ~300 ms later and lasts durationMs.
          const a = analyzeTimeline(stats, limits, durationMs);
          rows.push({
            limiter,
            provider,
            requests: stats.requests,
            rateLimited: stats.rateLimited,
            served: stats.ok,
            quotaShare: a.quotaShare,
            violations: a.violations,
            violationsBeyondJitter: analyzeTimeline(stats, limits, durationMs, JITTER_MS).violations,
            p95WaitMs: percentile(report.waits, 95),
            p95TotalMs: percentile(report.totals, 95),
            fifoInversions: countInversions(report),
          });
        }
      } finally {
        await sim.close();
      }
    }
  } finally {
    await pool.close();
    await redis?.stop();
  }
  return rows;
}

export function formatOutcome(rows: OutcomeRow[]): string {
  const header = [
    "provider",
    "limiter",
    "requests",
    "429s",
    "quota used",
    "violations",
    `>${JITTER_MS}ms`,
    "p95 wait",
    "p95 total",
    "FIFO inv.",
  ];
  const body = rows.map((r) => [
    r.provider,
    r.limiter,
    String(r.requests),
    String(r.rateLimited),
    `${Math.round(r.quotaShare * 100)}%`,
    String(r.violations),
    String(r.violationsBeyondJitter),
    `${Math.round(r.p95WaitMs)} ms`,
    `${Math.round(r.p95TotalMs)} ms`,
    String(r.fifoInversions),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), ...body.map(line)].join("\n");
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const quick = process.argv.includes("--quick");
  const started = Date.now();
  runOutcome({ quick, ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}) }).then(
    (rows) => {
      if (process.argv.includes("--json")) console.log(JSON.stringify(rows, null, 2));
      else console.log(formatOutcome(rows));
      console.error(`outcome bench: ${((Date.now() - started) / 1000).toFixed(0)} s${quick ? " (quick)" : ""}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
