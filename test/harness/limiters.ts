import { randomUUID } from "node:crypto";
import { MemoryStore, RateLimiter, type RateLimiterOptions } from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { inject } from "vitest";

export type StoreKind = "memory" | "redis";
export type LimiterOptions = Omit<RateLimiterOptions, "redis" | "store" | "model"> & { model?: string };

/**
 * Builds limiters that share one store (one MemoryStore, or one Redis) and one fresh namespace, the way several
 * processes would share a budget. Everything it created is closed by `close()`.
 */
export function limiterFactory(kind: StoreKind) {
  const prefix = `t-${randomUUID()}`;
  const memory = new MemoryStore();
  const created: RateLimiter[] = [];
  const clients: Redis[] = [];
  return {
    kind,
    prefix,
    make(options: LimiterOptions): RateLimiter {
      const common = { keyPrefix: prefix, model: options.model ?? "m", ...options };
      const limiter =
        kind === "memory"
          ? new RateLimiter({ ...common, store: memory })
          : new RateLimiter({ ...common, redis: inject("redisUrl") });
      created.push(limiter);
      return limiter;
    },
    redis(): Redis {
      const client = new Redis(inject("redisUrl"));
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(created.map((l) => l.close()));
      for (const c of clients) c.disconnect();
      await memory.close();
    },
  };
}

export interface Grant {
  seq: number;
  slot: number;
  cost: readonly [number, number, number, number];
}

export function seqOf(recordId: string): number {
  return Number(recordId.split(".")[0]);
}

/**
 * Semantics 1: for every granted slot t (the only instants where a window's content grows), the cost of grants whose
 * slot lies in (t - W, t] stays within each limit. Returns the violations found.
 */
export function windowViolations(grants: Grant[], windowMs: number, limits: readonly number[]): string[] {
  const sorted = [...grants].sort((a, b) => a.slot - b.slot || a.seq - b.seq);
  const out: string[] = [];
  let lo = 0;
  const sums = [0, 0, 0, 0];
  for (let hi = 0; hi < sorted.length; hi++) {
    const g = sorted[hi]!;
    for (let d = 0; d < 4; d++) sums[d]! += g.cost[d]!;
    while (sorted[lo]!.slot <= g.slot - windowMs) {
      for (let d = 0; d < 4; d++) sums[d]! -= sorted[lo]!.cost[d]!;
      lo++;
    }
    // include later grants at the same instant
    let k = hi + 1;
    const extra = [0, 0, 0, 0];
    while (k < sorted.length && sorted[k]!.slot === g.slot) {
      for (let d = 0; d < 4; d++) extra[d]! += sorted[k]!.cost[d]!;
      k++;
    }
    for (let d = 0; d < 4; d++) {
      const limit = limits[d]!;
      if (limit > 0 && sums[d]! + extra[d]! > limit) {
        out.push(`window ending ${g.slot}: dimension ${d} holds ${sums[d]! + extra[d]!} > ${limit}`);
      }
    }
  }
  return out;
}

/** Semantics 2: in store arrival order (seq), slots never go backwards. Returns the inversions. */
export function fifoInversions(grants: Grant[]): number {
  const sorted = [...grants].sort((a, b) => a.seq - b.seq);
  let inversions = 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.slot < sorted[i - 1]!.slot) inversions++;
  return inversions;
}
