import Anthropic from "@anthropic-ai/sdk";
import type { RateLimiter } from "@llmratelimiter/core";
import AnthropicV0 from "anthropic-sdk-v0";
import type { MockAnthropic } from "./mock-server.js";

/**
 * Both supported majors, typed as the latest: the calls the tests make exist with the same shape in both (the
 * legacy `completions` resource, gone in 1.x, is reached through {@link legacyCompletions}).
 */
export const SDKS = [
  { name: "@anthropic-ai/sdk 1.x", Client: Anthropic, major: 1 },
  { name: "@anthropic-ai/sdk 0.137", Client: AnthropicV0 as unknown as typeof Anthropic, major: 0 },
] as const;

export type Sdk = (typeof SDKS)[number];

export function makeClient(sdk: Sdk, mock: MockAnthropic, maxRetries = 0): Anthropic {
  return new sdk.Client({ apiKey: "test", baseURL: mock.baseURL, maxRetries });
}

export interface LegacyCompletions {
  create(body: Record<string, unknown>): Promise<unknown> & { withResponse(): Promise<{ data: unknown }> };
}

export function legacyCompletions(client: Anthropic): LegacyCompletions | undefined {
  return (client as unknown as { completions?: LegacyCompletions }).completions;
}

/**
 * Resolves after the next `count` settlements (adjust or release events) of `limiter`. Settlement runs after the
 * caller already has its result, so tests wait for it instead of sleeping. Create it before making the call.
 */
export function settlements(limiter: RateLimiter, count = 1): Promise<string[]> {
  return new Promise((resolve) => {
    const seen: string[] = [];
    const onEvent = (kind: string) => () => {
      seen.push(kind);
      if (seen.length < count) return;
      limiter.off("adjust", onAdjust);
      limiter.off("release", onRelease);
      resolve(seen);
    };
    const onAdjust = onEvent("adjust");
    const onRelease = onEvent("release");
    limiter.on("adjust", onAdjust);
    limiter.on("release", onRelease);
  });
}

export const BODY = {
  model: "claude-x",
  max_tokens: 100,
  system: "You are terse.",
  messages: [{ role: "user" as const, content: "Say hi in two words." }],
};

/** Drains an async iterable into an array (for comparing streamed events with the unwrapped client's). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
