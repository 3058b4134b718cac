/**
 * Settlement semantics (6 of issue 2) as plain checks, shared by the conformance suite (memory and Redis stores) and
 * the transport suite that every other client runs (Redis Cluster, node-redis): one body, so the two cannot drift.
 */
import type { RateLimiter } from "@llmratelimiter/core";
import { expect } from "vitest";
import type { LimiterOptions } from "./limiters.js";

type Make = (options: LimiterOptions) => RateLimiter;

/** adjust sets absolute usage in every limit, is idempotent, refunds combined (D3) and tops up. */
export async function checkAdjust(make: Make): Promise<void> {
  const limiter = make({ tpm: 10_000, inputTpm: 8000, outputTpm: 6000, windowSeconds: 60, burndownRate: 1 });
  const r = await limiter.acquire({ inputTokens: 1000, outputTokens: 5000 });
  let s = await limiter.status();
  expect([s.tokensUsed, s.inputTokensUsed, s.outputTokensUsed]).toEqual([6000, 1000, 5000]);
  expect((await limiter.adjust(r.recordId, { actualOutput: 0 })).status).toBe("adjusted");
  expect((await limiter.adjust(r.recordId, { actualOutput: 0 })).status).toBe("unchanged");
  s = await limiter.status();
  expect([s.tokensUsed, s.inputTokensUsed, s.outputTokensUsed]).toEqual([1000, 1000, 0]);
  // the refund is usable at once: 5,000 more output fits now
  const next = await limiter.acquire({ inputTokens: 4000, outputTokens: 5000 });
  expect(next.waitMs).toBe(0);
  // top-up above the estimate counts too
  await limiter.adjust(r.recordId, { actualInput: 1500, actualOutput: 200 });
  s = await limiter.status();
  expect([s.tokensUsed, s.inputTokensUsed, s.outputTokensUsed]).toEqual([10_700, 5500, 5200]);
}

/** release frees everything once; unknown and expired ids are reported, not ignored. */
export async function checkRelease(make: Make): Promise<void> {
  const limiter = make({ tpm: 1000, rpm: 5, windowSeconds: 0.3 });
  const r = await limiter.acquire({ tokens: 400 });
  expect((await limiter.release(r.recordId)).status).toBe("released");
  expect((await limiter.release(r.recordId)).status).toBe("already-released");
  expect((await limiter.adjust(r.recordId, { actualInput: 5 })).status).toBe("released");
  const s = await limiter.status();
  expect([s.tokensUsed, s.requestsUsed]).toEqual([0, 0]);
  expect((await limiter.adjust("999999.123", { actualInput: 1 })).status).toBe("unknown");
  expect((await limiter.release("not-an-id")).status).toBe("unknown");
  const old = await limiter.acquire({ tokens: 10 });
  await new Promise((resolve) => setTimeout(resolve, 350));
  await limiter.acquire({ tokens: 10 });
  expect((await limiter.adjust(old.recordId, { actualInput: 1 })).status).toBe("expired");
}
