/**
 * `pnpm demo`: the same load against a simulated OpenAI quota, first without a limiter, then through
 * `withRateLimit(new OpenAI(...), limiter)`. Prints a table and writes an SVG chart. No Redis needed; with
 * REDIS_URL set the workers run in several processes sharing the budget through Redis.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeTimeline, type SimStats, startSimulator, usageSeries } from "../src/index.js";
import type { LimiterKind } from "../src/load/gates.js";
import { LoadPool } from "../src/load/pool.js";
import { type LoadReport, mergeReports, percentile, runLoad, type Scenario } from "../src/load/run.js";
import { renderChart } from "./chart.js";
import { Progress } from "./progress.js";

const LIMITS = { tpm: 60_000, rpm: 500 };
/** A simulated minute lasts 1.5 s, so the whole demo fits in well under a minute. */
const TIME_SCALE = 40;
const WINDOW_MS = 60_000 / TIME_SCALE;
const PHASE_MS = 15_000;
const WORKERS = 12;
const PROCESSES = 3;

const repoRoot = resolve(fileURLToPath(new URL("../../../", import.meta.url)));
const outArg = process.argv.indexOf("--out");
const outPath = resolve(
  outArg > 0 && process.argv[outArg + 1]
    ? process.argv[outArg + 1]!
    : (process.env.DEMO_OUT ?? join("demo-output", "demo.svg")),
);
function join(...parts: string[]): string {
  return resolve(repoRoot, ...parts);
}

const redisUrl = process.env.REDIS_URL || undefined;
const n = (v: number) => Math.round(v).toLocaleString("en-US");
/** Waits in simulated time, like every other number in the table. */
const simSeconds = (realMs: number) => `${((realMs * TIME_SCALE) / 1000).toFixed(1)} s`;

interface PhaseResult {
  label: string;
  stats: SimStats;
  report: LoadReport;
}

async function main() {
  const sim = await startSimulator({ provider: "openai", limits: LIMITS, timeScale: TIME_SCALE, latencyMs: [80, 320] });
  const pool = redisUrl ? await LoadPool.start(PROCESSES) : undefined;
  console.log(
    `\nllmratelimiter demo: ${WORKERS} workers share one OpenAI quota of ${n(LIMITS.tpm)} tokens/min and ${n(LIMITS.rpm)} requests/min.`,
  );
  console.log(
    `Simulated provider at ${sim.url} (one "minute" lasts ${WINDOW_MS / 1000} s). Store: ${
      redisUrl
        ? `Redis ${redisUrl}, ${PROCESSES} processes × ${WORKERS / PROCESSES} workers`
        : "in-memory, one process (set REDIS_URL to share the budget across processes)"
    }.\n`,
  );
  const results: PhaseResult[] = [];
  try {
    for (const [label, limiter] of [
      ["without a limiter", "none"],
      ["with llmratelimiter", "llmratelimiter"],
    ] as Array<[string, LimiterKind]>) {
      sim.reset();
      const startAt = Date.now() + 100;
      const base: Scenario = {
        provider: "openai",
        limiter,
        simUrl: sim.url,
        limits: LIMITS,
        windowMs: WINDOW_MS,
        burndown: 1,
        workers: WORKERS,
        startAt,
        durationMs: PHASE_MS,
        seed: 7,
        mix: "demo",
        keyPrefix: `demo-${randomUUID()}`,
        redisUrl,
      };
      const progress = new Progress(label, PHASE_MS);
      const timer = setInterval(() => {
        const s = sim.stats();
        progress.update(Math.max(0, Date.now() - startAt), s.ok, s.rateLimited);
      }, 100);
      const reports = pool
        ? await pool.run((i) => ({ ...base, workers: WORKERS / PROCESSES, seed: base.seed + i }))
        : [await runLoad(base)];
      clearInterval(timer);
      const stats = sim.stats();
      progress.update(PHASE_MS, stats.ok, stats.rateLimited);
      progress.done();
      results.push({ label, stats, report: mergeReports(reports) });
    }
  } finally {
    await pool?.close();
    await sim.close();
  }

  const rows = results.map(({ label, stats, report }) => {
    const a = analyzeTimeline(stats, LIMITS, PHASE_MS);
    return {
      label,
      a,
      cells: [
        label,
        n(stats.requests),
        `${n(stats.rateLimited)} (${Math.round((100 * stats.rateLimited) / Math.max(1, stats.requests))}%)`,
        n(stats.ok),
        `${n(a.perWindow)} (${Math.round(a.quotaShare * 100)}%)`,
        simSeconds(percentile(report.waits, 50)),
        simSeconds(percentile(report.waits, 95)),
      ],
    };
  });
  const header = ["", "requests", "429s", "served", "tokens/min used", "wait p50", "wait p95"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   ");
  console.log(`\n${line(header)}`);
  for (const r of rows) console.log(line(r.cells));
  console.log(
    `(limit ${n(LIMITS.tpm)} tokens/min; simulated time: waits are what they would be against a real minute)`,
  );

  const [without, withLimiter] = rows;
  if (without && withLimiter) {
    console.log(
      `\nWithout a limiter ${n(without.a.rateLimited)} of ${n(without.a.requests)} requests came back 429. ` +
        `With llmratelimiter: ${n(withLimiter.a.rateLimited)} 429s, ${Math.round(withLimiter.a.quotaShare * 100)}% of the token quota used.`,
    );
  }

  const svg = renderChart({
    title: "Same load, same OpenAI quota: without and with llmratelimiter",
    subtitle: `${WORKERS} workers, limit ${n(LIMITS.tpm)} tokens/min (simulated; 1 min = ${WINDOW_MS / 1000} s). Line: tokens the provider charged in the last minute. Red ticks: 429 responses.`,
    limit: LIMITS.tpm,
    windowMs: WINDOW_MS,
    durationMs: PHASE_MS,
    panels: results.map(({ label, stats }, i) => {
      const a = rows[i]!.a;
      return {
        label: label[0]!.toUpperCase() + label.slice(1),
        color: i === 0 ? "#d9730d" : "#1f6fd1",
        fill: i === 0 ? "#fbe4cc" : "#d5e4f7",
        series: usageSeries(stats, 50, "tpm", PHASE_MS + 100),
        rejects: stats.timeline.filter((e) => e.status === 429).map((e) => e.t),
        note: `${n(stats.rateLimited)} × 429 · ${n(stats.ok)} served · ${Math.round(a.quotaShare * 100)}% of the quota used`,
      };
    }),
  });
  mkdirSync(dirname(outPath), { recursive: true });
  // Generated output is never meant to be committed.
  if (outPath.startsWith(join("demo-output"))) writeFileSync(join("demo-output", ".gitignore"), "*\n");
  writeFileSync(outPath, svg);
  console.log(
    `\nChart: ${relative(process.cwd(), outPath).startsWith("..") ? outPath : relative(process.cwd(), outPath)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
