/**
 * Turns the benchmark results into bench/results/report.md, *.json and SVG charts, and the console summary.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { type CoreResult, coreMarkdown } from "../packages/core/bench/core-bench.js";
import { fmtNum, fmtUs, mdTable } from "../packages/core/bench/stats.js";
import { type OverheadResult, type OverheadRow, overheadMarkdown } from "./overhead.js";
import { type BarGroup, barChart } from "./svg.js";

/** One row of the outcome benchmark (bench/outcome.ts), per limiter and simulated provider. */
export interface OutcomeRow {
  limiter: string;
  provider: string;
  requests: number;
  rateLimited: number;
  quotaShare: number;
  /** Windows in which the provider's limit was exceeded (outcome.ts may call it `violations`). */
  windowViolations?: number;
  violations?: number;
  /** Violations beyond the simulated clock jitter, when reported. */
  violationsBeyondJitter?: number;
  p95WaitMs: number;
  fifoInversions: number;
}

export interface BenchResults {
  quick: boolean;
  core: CoreResult;
  overhead: OverheadResult;
  /** Absent when bench/outcome.ts does not exist; a string when it failed. */
  outcome?: OutcomeRow[] | string;
}

const rowName = (row: OverheadRow) => `${row.limiter} (${row.store})`;

/** The table printed at the end of `pnpm bench` and at the top of report.md. */
export function summaryTable(r: BenchResults): string {
  const rows = r.overhead.rows.map((row) => {
    const cost = row.costAt.ok ? row.costAt.value : undefined;
    const first = cost?.[0];
    const last = cost?.[cost.length - 1];
    const growth =
      first && last
        ? `×${fmtNum((last.serverUsPerCall ?? last.p50Us) / (first.serverUsPerCall ?? first.p50Us), 2)}`
        : "n/a (counter)";
    return [
      rowName(row),
      row.uncontended.ok ? fmtUs(row.uncontended.value.p50Us) : "n/a",
      row.throughput.ok ? fmtNum(row.throughput.value.perSecond) : "n/a",
      row.callsImmediate.ok ? fmtNum(row.callsImmediate.value.allPerAcquire, 2) : "n/a",
      row.callsWaiting.ok ? fmtNum(row.callsWaiting.value.allPerAcquire, 2) : "n/a",
      row.bytesPerReservation.ok ? fmtNum(row.bytesPerReservation.value.perReservation, 1) : "n/a",
      growth,
    ];
  });
  return mdTable(
    [
      "limiter",
      "uncontended p50",
      `hot key acquires/s (${r.overhead.inflight} in flight)`,
      "calls/acquire",
      "calls/waiting acquire (10 started together)",
      "Redis B/reservation",
      "cost 100k ÷ 100",
    ],
    rows,
  );
}

export function targetsTable(core: CoreResult): string {
  return mdTable(
    ["target", "measured", "result"],
    core.targets.map((t) => [`${t.name}: ${t.target}`, t.measured, t.pass ? "PASS" : `MISS — ${t.note}`]),
  );
}

function outcomeMarkdown(outcome: OutcomeRow[] | string | undefined): string {
  if (outcome === undefined) return "## Outcome\n\nbench/outcome.ts is not present: outcome benchmark skipped.\n";
  if (typeof outcome === "string") return `## Outcome\n\nThe outcome benchmark failed: ${outcome}\n`;
  return [
    "## Outcome: what the simulated providers saw",
    "",
    mdTable(
      ["limiter", "provider", "requests", "429s", "quota share", "window violations", "p95 wait", "FIFO inversions"],
      outcome.map((o) => [
        o.limiter,
        o.provider,
        fmtNum(o.requests),
        fmtNum(o.rateLimited),
        fmtNum(o.quotaShare, 2),
        `${fmtNum(o.windowViolations ?? o.violations)}${
          o.violationsBeyondJitter !== undefined ? ` (${fmtNum(o.violationsBeyondJitter)} beyond jitter)` : ""
        }`,
        `${fmtNum(o.p95WaitMs)} ms`,
        fmtNum(o.fifoInversions),
      ]),
    ),
    "",
  ].join("\n");
}

/** SVG charts, by file name. */
export function charts(r: BenchResults): Record<string, string> {
  const out: Record<string, string> = {};
  const rows = r.overhead.rows;
  const mode = r.quick ? " (quick run)" : "";

  const hot: BarGroup[] = rows.map((row) => ({
    label: rowName(row),
    bars: [
      {
        series: "acquires/s",
        value: row.throughput.ok ? row.throughput.value.perSecond : null,
        ...(row.throughput.ok ? {} : { text: "n/a" }),
      },
    ],
  }));
  const ap = r.core.throughput.find((t) => t.limiter === "llmratelimiter (redis)" && t.client !== "ioredis default");
  if (ap)
    hot.splice(1, 0, {
      label: "llmratelimiter (redis, autopipelining)",
      bars: [{ series: "acquires/s", value: ap.perSecond }],
    });
  out["throughput.svg"] = barChart({
    title: `Hot key: ${r.overhead.inflight} acquires in flight from one process${mode}`,
    subtitle: "One key, limits out of reach, one local redis-server, 2 cores, default clients. Higher is better.",
    unit: "acquires per second",
    log: true,
    groups: hot,
    reference: { value: 50_000, label: "target 50k/s" },
  });

  const ping = r.core.ping.ping.p50Us;
  out["latency.svg"] = barChart({
    title: `Uncontended acquire latency${mode}`,
    subtitle: `One request at a time on a lightly used limiter. Dashed: 1.3 × PING p50 (${fmtUs(ping)}). Lower is better.`,
    unit: "µs per acquire",
    log: true,
    groups: rows.map((row) => ({
      label: rowName(row),
      bars: row.uncontended.ok
        ? [
            { series: "p50", value: row.uncontended.value.p50Us },
            { series: "p99", value: row.uncontended.value.p99Us },
          ]
        : [{ series: "p50", value: null, text: `n/a: ${row.uncontended.reason}` }],
    })),
    reference: { value: ping * 1.3, label: "1.3 × PING" },
  });

  out["scaling.svg"] = barChart({
    title: `Acquire cost vs reservations in the window${mode}`,
    subtitle: "Redis time per acquire script (INFO commandstats). The naive ZSET reads the whole window on every call.",
    unit: "µs of Redis time per acquire",
    log: true,
    groups: r.core.scaling.map((s) => ({
      label: `${fmtNum(s.n)} reservations`,
      bars: [
        { series: "llmratelimiter (redis)", value: s.ours.serverUsPerCall, text: fmtUs(s.ours.serverUsPerCall) },
        { series: "naive ZSET reference", value: s.naive.serverUsPerCall, text: fmtUs(s.naive.serverUsPerCall) },
      ],
    })),
  });

  out["calls.svg"] = barChart({
    title: `Redis round trips per acquire${mode}`,
    subtitle:
      "Commands clients sent (server MONITOR feed), per acquire. Waiting: the budget was full, the request waited.",
    unit: "commands per acquire",
    groups: rows
      .filter((row) => row.store === "redis")
      .map((row) => ({
        label: rowName(row),
        bars: [
          {
            series: "immediate",
            value: row.callsImmediate.ok ? row.callsImmediate.value.allPerAcquire : null,
          },
          { series: "waiting", value: row.callsWaiting.ok ? row.callsWaiting.value.allPerAcquire : null },
        ],
      })),
    reference: { value: 1, label: "target 1" },
  });

  out["memory.svg"] = barChart({
    title: `Redis memory per reservation in the window${mode}`,
    subtitle: "MEMORY USAGE of the limiter's keys ÷ reservations, 10,000 in a 3600 s window. Lower is better.",
    unit: "bytes per reservation",
    groups: rows
      .filter((row) => row.store === "redis")
      .map((row) => ({
        label: rowName(row),
        bars: [
          row.bytesPerReservation.ok
            ? { series: "bytes", value: row.bytesPerReservation.value.perReservation }
            : { series: "bytes", value: null, text: "n/a: keeps no per-request record (fixed-window counter)" },
        ],
      })),
    reference: { value: 64, label: "target 64 B" },
  });

  const outcome = r.outcome;
  if (Array.isArray(outcome) && outcome.length > 0) {
    const providers = [...new Set(outcome.map((o) => o.provider))];
    const byProvider = (metric: (o: OutcomeRow) => number): BarGroup[] =>
      providers.map((provider) => ({
        label: provider,
        bars: outcome
          .filter((o) => o.provider === provider)
          .map((o) => ({ series: o.limiter, value: metric(o), text: fmtNum(metric(o)) })),
      }));
    out["outcome-429s.svg"] = barChart({
      title: `429s returned by the simulated providers${mode}`,
      subtitle: "Requests the provider rejected, per limiter. Lower is better.",
      unit: "429 responses",
      groups: byProvider((o) => o.rateLimited),
    });
    out["outcome-wait.svg"] = barChart({
      title: `p95 wait before a request is sent${mode}`,
      unit: "ms",
      groups: byProvider((o) => o.p95WaitMs),
    });
  }
  return out;
}

export function reportMarkdown(r: BenchResults, chartFiles: string[]): string {
  const lines: string[] = [];
  lines.push("# llmratelimiter benchmarks", "");
  lines.push(
    `Generated by \`pnpm bench${r.quick ? " --quick" : ""}\` at ${r.core.startedAt}. Node ${r.core.environment.node}, ` +
      `Redis ${r.core.environment.redis}, ${r.core.environment.cpus} × ${r.core.environment.cpuModel}; the Node ` +
      "process and redis-server share the machine. Load average " +
      `${r.core.environment.loadavgStart.map((l) => l.toFixed(2)).join("/")} at the start.`,
    "",
  );
  if (r.quick) lines.push("**Quick run: fewer samples and shorter runs; do not publish these numbers.**", "");
  lines.push("## Summary", "", summaryTable(r), "");
  lines.push("## Targets (issue 2)", "", targetsTable(r.core), "");
  for (const file of chartFiles) lines.push(`![${file}](${file})`, "");
  lines.push(overheadMarkdown(r.overhead));
  lines.push(outcomeMarkdown(r.outcome));
  lines.push(coreMarkdown(r.core).replace(/^# /, "## ").replace(/\n## /g, "\n### "));
  return lines.join("\n");
}

export function writeReport(r: BenchResults, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const svgs = charts(r);
  for (const [file, svg] of Object.entries(svgs)) writeFileSync(`${dir}/${file}`, svg);
  writeFileSync(`${dir}/overhead.json`, `${JSON.stringify(r.overhead, null, 2)}\n`);
  if (r.outcome !== undefined) writeFileSync(`${dir}/outcome.json`, `${JSON.stringify(r.outcome, null, 2)}\n`);
  writeFileSync(`${dir}/report.md`, reportMarkdown(r, Object.keys(svgs)));
  return ["report.md", "overhead.json", ...(r.outcome !== undefined ? ["outcome.json"] : []), ...Object.keys(svgs)];
}
