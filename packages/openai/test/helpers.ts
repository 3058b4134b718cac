import type { AcquireResult, RateLimiter } from "@llmratelimiter/core";
import OpenAI from "openai";
import OpenAIv6 from "openai-v6";
import { expect, vi } from "vitest";
import type { MockOpenAI } from "./mock-openai.js";

/** Both supported majors, typed as the latest (the methods under test have the same shape in 6 and 7). */
export const SDKS: ReadonlyArray<readonly [string, typeof OpenAI]> = [
  ["openai 7", OpenAI],
  ["openai 6", OpenAIv6 as unknown as typeof OpenAI],
];

export function makeClient(
  Sdk: typeof OpenAI,
  mock: MockOpenAI,
  options: { maxRetries?: number; baseURL?: string } = {},
) {
  return new Sdk({ apiKey: "test", baseURL: mock.url, maxRetries: 0, ...options });
}

export interface Tracker {
  /** "acquire" / "request <path>" in the order they happened. */
  log: string[];
  acquires: AcquireResult[];
  /** adjust + release events (one per settlement that reached the store). */
  settlements: string[];
  pauses: number[];
}

export function track(limiter: RateLimiter, mock: MockOpenAI): Tracker {
  const t: Tracker = { log: [], acquires: [], settlements: [], pauses: [] };
  limiter.on("acquire", (e) => {
    t.log.push("acquire");
    t.acquires.push(e.result);
  });
  limiter.on("adjust", (e) => t.settlements.push(`adjust ${e.result.recordId}`));
  limiter.on("release", (e) => t.settlements.push(`release ${e.result.recordId}`));
  limiter.on("pause", (e) => t.pauses.push(e.durationMs));
  mock.onRequest = (r) => t.log.push(`request ${r.path}`);
  return t;
}

/** Waits until the limiter's window holds exactly these numbers (settling runs after the caller's result). */
export async function expectUsage(
  limiter: RateLimiter,
  expected: { input: number; output: number; requests: number },
): Promise<void> {
  await vi.waitFor(
    async () => {
      const s = await limiter.status();
      expect({ input: s.inputTokensUsed, output: s.outputTokensUsed, requests: s.requestsUsed }).toEqual(expected);
    },
    { timeout: 3000, interval: 20 },
  );
}

export async function waitForSettlements(t: Tracker, count: number): Promise<void> {
  await vi.waitFor(() => expect(t.settlements.length).toBeGreaterThanOrEqual(count), { timeout: 3000, interval: 10 });
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
