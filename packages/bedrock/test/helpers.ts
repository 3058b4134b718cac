import { BedrockRuntime, BedrockRuntimeClient, type BedrockRuntimeClientConfig } from "@aws-sdk/client-bedrock-runtime";
import type { RateLimiter } from "@llmratelimiter/core";

// Bearer-token auth or a named profile in the environment would change how the SDK signs (or fails to).
delete process.env.AWS_BEARER_TOKEN_BEDROCK;
delete process.env.AWS_PROFILE;

export const MODEL_ID = "anthropic.claude-sonnet-4-20250514-v1:0";

export function clientConfig(endpoint: string, extra: Partial<BedrockRuntimeClientConfig> = {}) {
  return {
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "AKID", secretAccessKey: "SECRET" },
    maxAttempts: 1,
    ...extra,
  } satisfies BedrockRuntimeClientConfig;
}

/** Clients made by a test, destroyed afterwards (their HTTP/2 sessions would keep the mock open). */
export function clientPool() {
  const made: BedrockRuntimeClient[] = [];
  return {
    client(endpoint: string, extra: Partial<BedrockRuntimeClientConfig> = {}) {
      const c = new BedrockRuntimeClient(clientConfig(endpoint, extra));
      made.push(c);
      return c;
    },
    aggregated(endpoint: string, extra: Partial<BedrockRuntimeClientConfig> = {}) {
      const c = new BedrockRuntime(clientConfig(endpoint, extra));
      made.push(c);
      return c;
    },
    destroy() {
      for (const c of made.splice(0)) c.destroy();
    },
  };
}

export async function collect<T>(iterable: AsyncIterable<T> | undefined): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable ?? []) items.push(item);
  return items;
}

/** Records the limiter's acquires (and adjusts) into the mock's log, to check acquire-before-request ordering. */
export function trace(limiter: RateLimiter, log: string[]) {
  const acquired: number[] = [];
  limiter.on("acquire", (e) => {
    log.push("acquire");
    acquired.push(e.result.combinedTokens);
  });
  limiter.on("adjust", () => log.push("adjust"));
  limiter.on("release", () => log.push("release"));
  return acquired;
}

export const userMessage = (text: string) => ({ role: "user" as const, content: [{ text }] });
