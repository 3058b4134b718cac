import { performance } from "node:perf_hooks";
import { type Admission, type Amounts, type Dim, type DimState, type Quota, type Ticket, zero } from "./quota.js";
import { draw, seededRandom } from "./text.js";
import type { SimStats, SimulatorOptions, TimelineEntry } from "./types.js";

export type Refusal = Extract<Admission, { ok: false }>;

/** An admitted request: settle it once with what it really used. */
export class Call {
  #done = false;
  constructor(
    readonly engine: Engine,
    readonly ticket: Ticket,
    readonly entry: TimelineEntry,
  ) {}

  /** Settles the quota (only the dimensions given) and the timeline. Idempotent. */
  finish(final: Partial<Amounts>, timeline: { input?: number; output: number; charged: number }): void {
    if (this.#done) return;
    this.#done = true;
    this.engine.quota.settle(this.engine.now(), this.ticket, final);
    if (timeline.input !== undefined) this.entry.input = timeline.input;
    this.entry.output = timeline.output;
    this.entry.charged = timeline.charged;
  }
}

/** Everything a provider route needs besides its wire format: quota, clock, stats, random draws. */
export class Engine {
  readonly rand: () => number;
  /** The provider window in real ms. */
  readonly windowMs: number;
  #start = performance.now();
  #requests = 0;
  #ok = 0;
  #limited = 0;
  #timeline: TimelineEntry[] = [];

  constructor(
    readonly options: SimulatorOptions,
    readonly quota: Quota,
  ) {
    this.rand = seededRandom(options.seed ?? 1);
    this.windowMs = (options.windowMs ?? 60_000) / (options.timeScale ?? 1);
  }

  now(): number {
    return performance.now() - this.#start;
  }

  /** Scaled runs get sub-second retry hints (`retry-after-ms`), since whole seconds would span several windows. */
  get scaled(): boolean {
    return (this.options.timeScale ?? 1) !== 1;
  }

  admit(need: Amounts, input: number, charged: number): { ok: true; call: Call } | Refusal {
    this.#requests++;
    const t = this.now();
    const admission = this.quota.admit(t, need);
    if (!admission.ok) {
      this.#limited++;
      this.#timeline.push({ t, status: 429, input, output: 0, charged: 0 });
      return admission;
    }
    this.#ok++;
    const entry: TimelineEntry = { t, status: 200, input, output: need.output, charged };
    this.#timeline.push(entry);
    return { ok: true, call: new Call(this, admission.ticket, entry) };
  }

  /** Counts a request refused for another reason than the quota (bad request), outside the timeline. */
  invalid(): void {
    this.#requests++;
  }

  state(): Partial<Record<Dim, DimState>> {
    return this.quota.state(this.now());
  }

  /** Output the model "generates" for a request capped at maxTokens (always below the cap). */
  outputTokens(maxTokens: number | undefined): number {
    const cap = maxTokens ?? 1024;
    const ratio = draw(this.options.outputRatio ?? [0.2, 0.6], this.rand);
    return Math.max(1, Math.min(cap, Math.round(cap * ratio)));
  }

  latency(): number {
    return Math.max(0, draw(this.options.latencyMs ?? [40, 160], this.rand));
  }

  stats(): SimStats {
    return {
      requests: this.#requests,
      ok: this.#ok,
      rateLimited: this.#limited,
      timeline: this.#timeline.map((e) => ({ ...e })),
      windowMs: this.windowMs,
    };
  }

  reset(): void {
    this.#start = performance.now();
    this.#requests = 0;
    this.#ok = 0;
    this.#limited = 0;
    this.#timeline = [];
    this.quota.reset();
  }
}

export function amounts(partial: Partial<Amounts>): Amounts {
  return { ...zero(), ...partial };
}
