import { performance } from "node:perf_hooks";
import { MemoryStore, RateLimiter } from "@llmratelimiter/core";
import Bottleneck from "bottleneck";
import { Redis } from "ioredis";
import { RateLimiterQueue, RateLimiterRedis } from "rate-limiter-flexible";
import type { Provider, SimLimits } from "../types.js";

export type LimiterKind = "llmratelimiter" | "bottleneck" | "rate-limiter-flexible" | "none";

export interface GateSpec {
  kind: LimiterKind;
  provider: Provider;
  limits: SimLimits;
  /** Real window length in ms (integral seconds for rate-limiter-flexible). */
  windowMs: number;
  /** Bedrock output weight; 1 elsewhere. */
  burndown: number;
  /** Shared store; unset = in-memory (this library only). */
  redisUrl?: string | undefined;
  /** Namespace for this run's keys. */
  keyPrefix: string;
}

/** A granted request: settle with the provider's usage, or report a 429. */
export interface Admitted {
  /** epoch ms (high resolution) when the request asked, and when it was let through. */
  arrival: number;
  grant: number;
  done(usage: { input: number; output: number } | undefined, rateLimited?: { retryAfterMs: number | undefined }): void;
}

/** A peer limiter in front of plain SDK calls. (This library is not a gate: its wrapper sits inside the SDK.) */
export interface Gate {
  enter(input: number, output: number): Promise<Admitted>;
  close(): Promise<void>;
}

export const now = () => performance.timeOrigin + performance.now();

/** Resolution of the normalized weight when several limits apply. */
const SCALE = 1_000_000;

/**
 * Peers have one counter, so a request's weight is its tokens when only TPM applies, and otherwise its largest
 * share of any limit (× SCALE): keeping the sum of those shares under 1 keeps every limit. Output is counted at the
 * provider's burndown, as this library does.
 */
export function weigher(spec: GateSpec): { capacity: number; weight(input: number, output: number): number } {
  const { tpm, inputTpm, outputTpm, rpm } = spec.limits;
  const only = tpm !== undefined && inputTpm === undefined && outputTpm === undefined && rpm === undefined;
  if (only) return { capacity: tpm, weight: (i, o) => Math.ceil(i + spec.burndown * o) };
  return {
    capacity: SCALE,
    weight: (i, o) =>
      Math.ceil(
        SCALE *
          Math.max(
            tpm ? (i + spec.burndown * o) / tpm : 0,
            inputTpm ? i / inputTpm : 0,
            outputTpm ? o / outputTpm : 0,
            rpm ? 1 / rpm : 0,
          ),
      ),
  };
}

/** This library's limiter for a provider: the same limits, its window, Bedrock burndown. */
export function makeLimiter(spec: GateSpec, store?: MemoryStore): RateLimiter {
  const { tpm, inputTpm, outputTpm, rpm } = spec.limits;
  return new RateLimiter({
    model: spec.provider,
    keyPrefix: spec.keyPrefix,
    windowSeconds: spec.windowMs / 1000,
    // Real network and event-loop jitter is a few ms; the simulated providers enforce strict windows at arrival.
    windowMarginMs: Math.min(25, Math.floor(spec.windowMs / 10)),
    burndownRate: spec.burndown,
    ...(tpm ? { tpm } : {}),
    ...(inputTpm ? { inputTpm } : {}),
    ...(outputTpm ? { outputTpm } : {}),
    ...(rpm ? { rpm } : {}),
    ...(spec.redisUrl ? { redis: spec.redisUrl } : { store: store ?? new MemoryStore() }),
  });
}

function bottleneckGate(spec: GateSpec): Gate {
  const w = weigher(spec);
  const client = new Redis(spec.redisUrl!);
  const connection = new Bottleneck.IORedisConnection({ client, Redis } as Bottleneck.IORedisConnectionOptions);
  // Bottleneck's best shape for "N per window": a shared reservoir refreshed every window, weights = tokens, a
  // fast heartbeat so queued jobs notice refreshes, refunds through incrementReservoir, and an empty reservoir
  // after a 429 (its only way to make every process back off).
  const limiter = new Bottleneck({
    id: spec.keyPrefix,
    datastore: "ioredis",
    connection,
    reservoir: w.capacity,
    reservoirRefreshAmount: w.capacity,
    reservoirRefreshInterval: spec.windowMs,
    heartbeatInterval: Math.max(50, Math.round(spec.windowMs / 10)),
  });
  limiter.on("error", () => {});
  return {
    async enter(input, output) {
      const reserved = w.weight(input, output);
      const arrival = now();
      await limiter.schedule({ weight: reserved }, async () => {});
      const grant = now();
      return {
        arrival,
        grant,
        done(usage, rateLimited) {
          if (rateLimited) limiter.updateSettings({ reservoir: 0 });
          else if (usage) {
            const refund = reserved - w.weight(usage.input, usage.output);
            if (refund > 0) void limiter.incrementReservoir(refund).catch(() => {});
          }
        },
      };
    },
    async close() {
      await limiter.stop({ dropWaitingJobs: true }).catch(() => {});
      // With a shared connection passed in, disconnect() may return nothing: close the connection ourselves.
      await Promise.resolve(connection.disconnect(false)).catch(() => {});
      client.disconnect();
    },
  };
}

function flexibleGate(spec: GateSpec): Gate {
  const w = weigher(spec);
  const client = new Redis(spec.redisUrl!);
  // rate-limiter-flexible's fixed window in Redis, behind its per-process FIFO queue; refunds through reward(), a
  // 429 spends the rest of the window through penalty().
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: spec.keyPrefix,
    points: w.capacity,
    duration: Math.max(1, Math.round(spec.windowMs / 1000)),
  });
  const queue = new RateLimiterQueue(limiter, { maxQueueSize: 100_000 });
  const key = "limiter";
  return {
    async enter(input, output) {
      const reserved = Math.min(w.capacity, w.weight(input, output));
      const arrival = now();
      await queue.removeTokens(reserved, key);
      const grant = now();
      return {
        arrival,
        grant,
        done(usage, rateLimited) {
          if (rateLimited) void limiter.penalty(key, w.capacity).catch(() => {});
          else if (usage) {
            const refund = reserved - w.weight(usage.input, usage.output);
            if (refund > 0) void limiter.reward(key, refund).catch(() => {});
          }
        },
      };
    },
    async close() {
      client.disconnect();
    },
  };
}

function openGate(): Gate {
  return {
    async enter() {
      const t = now();
      return { arrival: t, grant: t, done() {} };
    },
    async close() {},
  };
}

/** The gate for a peer limiter, or an open gate for "none" and for this library (its wrapper gates inside). */
export function makeGate(spec: GateSpec): Gate {
  if (spec.kind === "bottleneck") return bottleneckGate(spec);
  if (spec.kind === "rate-limiter-flexible") return flexibleGate(spec);
  return openGate();
}
