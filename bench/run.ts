/**
 * `pnpm bench [--quick] [--no-outcome]`: starts one redis-server (test harness), runs the core benchmark (one-key ring store vs
 * the naive ZSET reference), the peer overhead benchmark and, when bench/outcome.ts exists, the outcome benchmark;
 * writes bench/results/ (report.md, core.md/json, overhead.json, outcome.json, *.svg) and prints the summary.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RESULTS_DIR, runCoreBench, writeCoreResults } from "../packages/core/bench/core-bench.js";
import { startRedisServer } from "../test/harness/redis-server.js";
import { runOverhead } from "./overhead.js";
import { type BenchResults, type OutcomeRow, summaryTable, targetsTable, writeReport } from "./report.js";

type RunOutcome = (options: { redisUrl: string; quick: boolean }) => Promise<OutcomeRow[] | { rows: OutcomeRow[] }>;

async function outcome(redisUrl: string, quick: boolean): Promise<OutcomeRow[] | string | undefined> {
  const url = new URL("./outcome.ts", import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  try {
    const mod = (await import(url.href)) as { runOutcome?: RunOutcome };
    if (typeof mod.runOutcome !== "function") return "bench/outcome.ts does not export runOutcome";
    const result = await mod.runOutcome({ redisUrl, quick });
    return Array.isArray(result) ? result : result.rows;
  } catch (error) {
    console.error(error);
    return error instanceof Error ? error.message : String(error);
  }
}

/** Issue 3's wrapper overhead benchmarks (raw SDK vs wrapped on one local mock), each in its own process. */
function wrapperOverhead(): string {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const parts: string[] = [];
  for (const name of ["openai", "anthropic"]) {
    try {
      const out = execFileSync(
        process.execPath,
        ["--conditions=llmratelimiter-source", "--import", "tsx", `packages/${name}/bench/overhead.ts`],
        { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 300_000 },
      );
      parts.push(`### ${name}\n\n\`\`\`\n${out.trim()}\n\`\`\``);
    } catch (error) {
      parts.push(`### ${name}\n\nfailed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return `\n## Wrapper overhead per call (raw SDK vs wrapped, same local mock, memory store)\n\n${parts.join("\n\n")}\n`;
}

const quick = process.argv.includes("--quick");
const skipOutcome = process.argv.includes("--no-outcome");
const log = (line: string) => console.log(line);
const server = await startRedisServer();
try {
  log(`redis-server at ${server.url}${quick ? " (quick run)" : ""}\n`);
  const core = await runCoreBench({ redisUrl: server.url, quick, log });
  writeCoreResults(core, RESULTS_DIR);
  const overhead = await runOverhead({ redisUrl: server.url, quick, core, log });
  // Written now and again after the outcome run, so a long or failed outcome run never loses these results.
  let files = writeReport({ quick, core, overhead }, RESULTS_DIR);
  const outcomeRows = skipOutcome ? undefined : await outcome(server.url, quick);
  const results: BenchResults = {
    quick,
    core,
    overhead,
    ...(outcomeRows !== undefined ? { outcome: outcomeRows } : {}),
  };
  if (outcomeRows !== undefined) files = writeReport(results, RESULTS_DIR);
  log(`\n## Summary${quick ? " (quick run)" : ""}\n\n${summaryTable(results)}\n`);
  log(`## Targets\n\n${targetsTable(core)}\n`);
  if (Array.isArray(outcomeRows)) log(`Outcome: ${outcomeRows.length} rows (see report.md)`);
  else if (typeof outcomeRows === "string") log(`Outcome benchmark failed: ${outcomeRows}`);
  else log(`Outcome benchmark skipped: ${skipOutcome ? "--no-outcome" : "bench/outcome.ts not present"}.`);
  const wrappers = wrapperOverhead();
  appendFileSync(join(RESULTS_DIR, "report.md"), wrappers);
  log(wrappers);
  log(`\nWritten to ${RESULTS_DIR}: core.md, core.json, ${files.join(", ")}`);
} finally {
  await server.stop();
}
