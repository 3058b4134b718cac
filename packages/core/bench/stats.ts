/**
 * Measurement helpers shared by the core benchmark and the peer benchmark (bench/overhead.ts): percentiles, Redis
 * INFO commandstats deltas (calls counted by the server, not the client), MEMORY USAGE, and load runners.
 */
import type { Redis } from "ioredis";

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Latency {
  samples: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

export function summarize(samplesUs: readonly number[]): Latency {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { samples: sorted.length, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99), meanUs: mean };
}

/** Microseconds taken by one call of `fn`. */
export async function timeUs(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1000;
}

export type CommandStats = Map<string, { calls: number; usec: number }>;

/** INFO commandstats as numbers. Our own INFO/MEMORY calls show up too; callers leave them out. */
export async function commandStats(redis: Redis): Promise<CommandStats> {
  const info = await redis.info("commandstats");
  const out: CommandStats = new Map();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return out;
}

/** Commands our measuring connection sends itself; never counted against a limiter. */
const OBSERVER_COMMANDS = new Set(["info", "memory", "scan", "ping", "client|setname", "client|setinfo", "select"]);

export interface CallDelta {
  /** EVALSHA + EVAL (+ their _ro variants and FCALL). */
  scripts: number;
  /** Every command but the observer's own. */
  all: number;
  /** Server time spent in script calls, µs. */
  scriptUsec: number;
  byCommand: Record<string, number>;
}

export function delta(before: CommandStats, after: CommandStats): CallDelta {
  const byCommand: Record<string, number> = {};
  let scripts = 0;
  let all = 0;
  let scriptUsec = 0;
  for (const [name, now] of after) {
    if (OBSERVER_COMMANDS.has(name)) continue;
    const was = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = now.calls - was.calls;
    if (calls <= 0) continue;
    byCommand[name] = calls;
    all += calls;
    if (/^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro)$/.test(name)) {
      scripts += calls;
      scriptUsec += now.usec - was.usec;
    }
  }
  return { scripts, all, scriptUsec, byCommand };
}

export interface CommandCount {
  /** EVALSHA + EVAL (+ _ro variants, FCALL) sent by clients. */
  scripts: number;
  /** Every command a client sent (commands run inside scripts not included). */
  all: number;
  byCommand: Record<string, number>;
}

/**
 * Counts the commands clients send while `fn` runs, from the server's MONITOR feed: commands a script runs inside
 * Redis (source "lua") are not round trips and are left out, and so is the observer's own connection.
 */
export async function countClientCommands<T>(
  observer: Redis,
  fn: () => Promise<T>,
): Promise<{ value: T; count: CommandCount }> {
  // Let replies and closes still in flight from earlier work land before the feed starts.
  await sleep(100);
  const self = /addr=(\S+)/.exec(String(await observer.call("CLIENT", "INFO")))?.[1];
  const monitor = await observer.monitor();
  const marker = `bench-marker-${Math.random()}`;
  const byCommand: Record<string, number> = {};
  let sawMarker: () => void = () => {};
  const markerSeen = new Promise<void>((resolve) => {
    sawMarker = resolve;
  });
  let counting = true;
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (!counting) return;
    if (source === self) {
      if (args[0]?.toLowerCase() === "echo" && args[1] === marker) {
        counting = false;
        sawMarker();
      }
      return;
    }
    if (source === "lua") return;
    const name = (args[0] ?? "?").toLowerCase();
    byCommand[name] = (byCommand[name] ?? 0) + 1;
  });
  try {
    // MONITOR starts with its reply; an echo round trip makes sure the feed is live before measuring.
    await observer.echo(`${marker}-start`);
    const value = await fn();
    await observer.echo(marker);
    await markerSeen; // from here on the feed belongs to whatever the caller does next
    let scripts = 0;
    let all = 0;
    for (const [name, n] of Object.entries(byCommand)) {
      all += n;
      if (/^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro)$/.test(name)) scripts += n;
    }
    return { value, count: { scripts, all, byCommand } };
  } finally {
    monitor.disconnect();
  }
}

/** Exact bytes (SAMPLES 0 walks every element of a collection) of every key matching `pattern`. */
export async function memoryOfKeys(redis: Redis, pattern: string): Promise<{ keys: number; bytes: number }> {
  let cursor = "0";
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    for (const key of batch) {
      const used = (await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) as number | null;
      if (used !== null) {
        keys++;
        bytes += used;
      }
    }
  } while (cursor !== "0");
  return { keys, bytes };
}

/** Runs `count` calls of `fn`, at most `inflight` at a time. */
export async function runPool(count: number, inflight: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
}

/** Keeps `inflight` calls of `fn` running for `durationMs`; returns completed calls per second and Node CPU. */
export async function throughput(
  durationMs: number,
  inflight: number,
  fn: () => Promise<unknown>,
): Promise<{ perSecond: number; completed: number; seconds: number; nodeCpu: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const deadline = started + durationMs;
  let completed = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await fn();
      completed++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  // Share of one core this process used: near 1 means the client side is the bottleneck.
  const nodeCpu = (used.user + used.system) / 1e6 / seconds;
  return { perSecond: completed / seconds, completed, seconds, nodeCpu };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function fmtNum(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtUs(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return "n/a";
  if (us >= 10_000) return `${fmtNum(us / 1000, 1)} ms`;
  return `${fmtNum(us, 0)} µs`;
}

/** Markdown table from a header row and body rows. */
export function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
