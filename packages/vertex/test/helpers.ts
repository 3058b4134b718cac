import type { AcquireResult, RateLimiter } from "@llmratelimiter/core";
import { vi } from "vitest";

/** Environment variables both Google SDKs read; a developer's own must not leak into the tests. */
export function clearGoogleEnv(): void {
  for (const name of ["GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"]) {
    delete process.env[name];
  }
  for (const name of ["GOOGLE_VERTEX_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"]) {
    delete process.env[name];
  }
}

/** Collects every grant the limiter makes. */
export function grants(limiter: RateLimiter): AcquireResult[] {
  const out: AcquireResult[] = [];
  limiter.on("acquire", (event) => out.push(event.result));
  return out;
}

/** Waits until the limiter's window holds exactly these numbers (settlement after a stream is asynchronous). */
export async function expectUsage(
  limiter: RateLimiter,
  expected: { input: number; output: number; requests: number },
): Promise<void> {
  await vi.waitFor(
    async () => {
      const s = await limiter.status();
      if (
        s.inputTokensUsed !== expected.input ||
        s.outputTokensUsed !== expected.output ||
        s.requestsUsed !== expected.requests
      ) {
        throw new Error(
          `status ${s.inputTokensUsed}/${s.outputTokensUsed}/${s.requestsUsed}, want ${expected.input}/${expected.output}/${expected.requests}`,
        );
      }
    },
    { timeout: 3000, interval: 20 },
  );
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Plain JSON (drops class identity and undefined), so results from two clients compare by content. */
export function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}
