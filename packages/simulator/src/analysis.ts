import type { SimLimits, SimStats, TimelineEntry } from "./types.js";

type Measure = "requests" | "tokens" | "input" | "output";

const MEASURES: Array<[Measure, keyof SimLimits]> = [
  ["tokens", "tpm"],
  ["input", "inputTpm"],
  ["output", "outputTpm"],
  ["requests", "rpm"],
];

function amount(e: TimelineEntry, m: Measure): number {
  return m === "requests" ? 1 : m === "tokens" ? e.charged : m === "input" ? e.input : e.output;
}

export interface TimelineReport {
  requests: number;
  ok: number;
  rateLimited: number;
  /**
   * Admitted requests at whose arrival some sliding window (t − W, t] held more than a limit, measured the provider's
   * way (OpenAI: max(max_tokens, prompt); Bedrock: input + burndown × output). Token buckets admit such bursts
   * without a 429, so this counts overruns of the published per-minute numbers, not refusals.
   */
  violations: number;
  /** Tokens (of the most used limited measure) served per window, as a share of its limit, over the run. */
  quotaShare: number;
  /** Which limit `quotaShare` refers to. */
  binding: keyof SimLimits | undefined;
  /** Served tokens of that measure per window (average). */
  perWindow: number;
  /** Highest sliding-window content of that measure, as a share of its limit. */
  peakShare: number;
}

/**
 * Reads a simulator's timeline against the limits it enforced. `durationMs` is the length of the load (default:
 * first to last arrival, at least one window). `toleranceMs` shortens the window checked for violations, to tell
 * overruns apart from requests that merely arrived a few ms early or late against an exact schedule.
 */
export function analyzeTimeline(
  stats: SimStats,
  limits: SimLimits,
  durationMs?: number,
  toleranceMs = 0,
): TimelineReport {
  const W = stats.windowMs - toleranceMs;
  const ok = stats.timeline.filter((e) => e.status === 200).sort((a, b) => a.t - b.t);
  const enforced = MEASURES.filter(([, key]) => (limits[key] ?? 0) > 0);
  let violations = 0;
  const peak = new Map<Measure, number>();
  const sums = new Map<Measure, number>();
  let lo = 0;
  for (let hi = 0; hi < ok.length; hi++) {
    const e = ok[hi]!;
    for (const [m] of enforced) sums.set(m, (sums.get(m) ?? 0) + amount(e, m));
    while (ok[lo]!.t <= e.t - W) {
      for (const [m] of enforced) sums.set(m, sums.get(m)! - amount(ok[lo]!, m));
      lo++;
    }
    let over = false;
    for (const [m, key] of enforced) {
      const s = sums.get(m)!;
      peak.set(m, Math.max(peak.get(m) ?? 0, s));
      if (s > limits[key]!) over = true;
    }
    if (over) violations++;
  }
  const first = ok[0]?.t ?? 0;
  const last = ok.at(-1)?.t ?? 0;
  const span = Math.max(durationMs ?? last - first, stats.windowMs);
  let best: { key: keyof SimLimits; share: number; perWindow: number; peak: number } | undefined;
  for (const [m, key] of enforced) {
    const total = ok.reduce((a, e) => a + amount(e, m), 0);
    const perWindow = (total * stats.windowMs) / span;
    const share = perWindow / limits[key]!;
    // Token limits are what the quota is about; RPM only when no token limit is set.
    if (m === "requests" && enforced.length > 1) continue;
    if (!best || share > best.share) best = { key, share, perWindow, peak: (peak.get(m) ?? 0) / limits[key]! };
  }
  return {
    requests: stats.requests,
    ok: stats.ok,
    rateLimited: stats.rateLimited,
    violations,
    quotaShare: best?.share ?? 0,
    binding: best?.key,
    perWindow: best?.perWindow ?? 0,
    peakShare: best?.peak ?? 0,
  };
}

export interface UsagePoint {
  t: number;
  /** Content of the sliding window ending at t (of the chosen measure). */
  used: number;
}

/** Sliding-window usage sampled every `stepMs`, for charts. `limit` picks the measure (default tpm). */
export function usageSeries(
  stats: SimStats,
  stepMs: number,
  limit: keyof SimLimits = "tpm",
  untilMs?: number,
): UsagePoint[] {
  const m = MEASURES.find(([, key]) => key === limit)![0];
  const ok = stats.timeline.filter((e) => e.status === 200).sort((a, b) => a.t - b.t);
  const end = untilMs ?? ok.at(-1)?.t ?? 0;
  const out: UsagePoint[] = [];
  let lo = 0;
  let hi = 0;
  let sum = 0;
  for (let t = 0; t <= end + 1e-9; t += stepMs) {
    while (hi < ok.length && ok[hi]!.t <= t) sum += amount(ok[hi++]!, m);
    while (lo < hi && ok[lo]!.t <= t - stats.windowMs) sum -= amount(ok[lo++]!, m);
    out.push({ t, used: sum });
  }
  return out;
}
