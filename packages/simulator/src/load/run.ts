import { setMaxListeners } from "node:events";
import type { MemoryStore, RateLimiter } from "@llmratelimiter/core";
import { estimateTextTokens } from "@llmratelimiter/core";
import { seededRandom } from "../text.js";
import type { Provider, SimLimits } from "../types.js";
import { makeClient, rateLimitInfo } from "./clients.js";
import { type Admitted, type GateSpec, type LimiterKind, makeGate, makeLimiter, now } from "./gates.js";
import { type MixName, nextRequest } from "./mix.js";

/** One process's share of a load run; serializable (it crosses process boundaries). */
export interface Scenario {
  provider: Provider;
  limiter: LimiterKind;
  simUrl: string;
  limits: SimLimits;
  /** Real window in ms. */
  windowMs: number;
  burndown: number;
  workers: number;
  /** epoch ms at which every process starts, and how long they send. */
  startAt: number;
  durationMs: number;
  seed: number;
  mix: MixName;
  keyPrefix: string;
  redisUrl?: string | undefined;
}

/** A granted reservation for the FIFO check: its arrival rank key and grant time. */
export type Grant = [arrival: number, grant: number];

export interface LoadReport {
  requests: number;
  ok: number;
  rateLimited: number;
  errors: number;
  /** Limiter wait per attempt (ms). */
  waits: number[];
  /** First attempt to success, retries and waits included (ms). */
  totals: number[];
  /** This library: [store seq, slot]; peers: [arrival, grant] in epoch ms. */
  grants: Grant[];
  /** How `grants` were measured: exact store order, or client clocks. */
  grantClock: "store" | "client";
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RunHooks {
  /** A shared in-memory store, when every worker runs in this process (the demo without Redis). */
  store?: MemoryStore;
  onResult?(status: "ok" | "429" | "error"): void;
}

/**
 * Runs `workers` loops until the deadline: each picks the next request of the mix, passes the limiter, calls the
 * provider through its SDK, and on a 429 waits what the provider said (or a jittered backoff) and tries the same
 * request again — what the SDKs' own retry does, but with every attempt counted.
 */
export async function runLoad(s: Scenario, hooks: RunHooks = {}): Promise<LoadReport> {
  const spec: GateSpec = {
    kind: s.limiter,
    provider: s.provider,
    limits: s.limits,
    windowMs: s.windowMs,
    burndown: s.burndown,
    redisUrl: s.redisUrl,
    keyPrefix: s.keyPrefix,
  };
  const report: LoadReport = {
    requests: 0,
    ok: 0,
    rateLimited: 0,
    errors: 0,
    waits: [],
    totals: [],
    grants: [],
    grantClock: s.limiter === "llmratelimiter" ? "store" : "client",
  };
  let limiter: RateLimiter | undefined;
  if (s.limiter === "llmratelimiter") {
    limiter = makeLimiter(spec, hooks.store);
    limiter.on("acquire", ({ result }) => {
      report.waits.push(result.waitMs);
      const seq = Number(result.recordId.split(".")[0]);
      if (Number.isFinite(seq) && !result.degraded) report.grants.push([seq, result.slotTime]);
    });
  }
  const gate = makeGate(spec);
  const client = makeClient(s.provider, s.simUrl, limiter);
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per in-flight SDK call
  const end = s.startAt + s.durationMs;
  await sleep(Math.max(0, s.startAt - Date.now()));
  const timer = setTimeout(() => stop.abort(new Error("load finished")), Math.max(0, end - Date.now()));
  // Peer limiters cannot cancel a queued request: waiting workers leave when the run ends.
  const finished = new Promise<undefined>((resolve) => stop.signal.addEventListener("abort", () => resolve(undefined)));

  const worker = async (index: number) => {
    const rand = seededRandom(s.seed * 1000 + index);
    while (!stop.signal.aborted) {
      const request = nextRequest(s.mix, rand);
      const started = now();
      let backoff = 100;
      for (;;) {
        if (stop.signal.aborted) return;
        const estimate = estimateTextTokens(request.system) + estimateTextTokens(request.user) + 10;
        let admitted: Admitted | undefined;
        try {
          const entering = gate.enter(estimate, request.maxTokens);
          entering.catch(() => {}); // may still be queued in a peer limiter when the run ends
          admitted = await Promise.race([entering, finished]);
        } catch {
          return; // the gate was closed at the end of the run
        }
        if (admitted === undefined) return;
        if (s.limiter !== "llmratelimiter" && s.limiter !== "none") {
          report.waits.push(admitted.grant - admitted.arrival);
          report.grants.push([admitted.arrival, admitted.grant]);
        }
        if (stop.signal.aborted) return;
        report.requests++;
        try {
          const usage = await client.send(request, stop.signal);
          admitted.done(usage);
          report.ok++;
          report.totals.push(now() - started);
          hooks.onResult?.("ok");
          break;
        } catch (error) {
          if (stop.signal.aborted) {
            report.requests--; // cancelled while queued in the wrapper: never sent
            return;
          }
          const limited = rateLimitInfo(error);
          admitted.done(undefined, limited);
          if (!limited) {
            report.errors++;
            hooks.onResult?.("error");
            await sleep(50); // never spin on a failing call: it may reject without yielding to timers
            break;
          }
          report.rateLimited++;
          hooks.onResult?.("429");
          const wait = limited.retryAfterMs ?? backoff * (0.5 + Math.random());
          backoff = Math.min(backoff * 2, 2000);
          await sleep(Math.min(wait, Math.max(0, end - Date.now())));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: s.workers }, (_, i) => worker(i)));
  clearTimeout(timer);
  await gate.close();
  await limiter?.close();
  return report;
}

export function mergeReports(reports: LoadReport[]): LoadReport {
  const out: LoadReport = {
    requests: 0,
    ok: 0,
    rateLimited: 0,
    errors: 0,
    waits: [],
    totals: [],
    grants: [],
    grantClock: reports[0]?.grantClock ?? "client",
  };
  for (const r of reports) {
    out.requests += r.requests;
    out.ok += r.ok;
    out.rateLimited += r.rateLimited;
    out.errors += r.errors;
    out.waits.push(...r.waits);
    out.totals.push(...r.totals);
    out.grants.push(...r.grants);
  }
  return out;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Adjacent pairs in arrival order whose grants go backwards. Store order is exact; client clocks get a tolerance
 * (ms) for timestamps taken in different processes.
 */
export function countInversions(report: LoadReport, toleranceMs = 1): number {
  const tol = report.grantClock === "store" ? 0 : toleranceMs;
  const sorted = [...report.grants].sort((a, b) => a[0] - b[0]);
  let inversions = 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]![1] < sorted[i - 1]![1] - tol) inversions++;
  return inversions;
}
