/**
 * Wrapper overhead per call: the same `messages.create` against the same local mock, raw SDK vs wrapped (memory
 * store, limits far above the load), with a ~2,000-token prompt so estimation is part of the cost.
 * Run from the repo root: node --conditions=llmratelimiter-source --import tsx packages/anthropic/bench/overhead.ts
 */
import { performance } from "node:perf_hooks";
import Anthropic from "@anthropic-ai/sdk";
import { estimateAnthropicRequest, withRateLimit } from "@llmratelimiter/anthropic";
import { RateLimiter } from "@llmratelimiter/core";
import { MockAnthropic } from "../test/mock-server.js";

const ITERATIONS = Number(process.env.ITERATIONS ?? 500);
const WARMUP = 50;

const body = {
  model: "claude-x",
  max_tokens: 256,
  system: "You are a careful assistant.",
  messages: [{ role: "user" as const, content: "The quick brown fox jumps over the lazy dog. ".repeat(178) }],
};

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const mock = await new MockAnthropic().start();
  const limiter = new RateLimiter({ model: "claude-x", tpm: 1e9, rpm: 1e7 });
  const raw = new Anthropic({ apiKey: "t", baseURL: mock.baseURL, maxRetries: 0 });
  const wrapped = withRateLimit(new Anthropic({ apiKey: "t", baseURL: mock.baseURL, maxRetries: 0 }), limiter);
  const times = { raw: [] as number[], wrapped: [] as number[] };

  for (let i = 0; i < WARMUP + ITERATIONS; i++) {
    // Alternate which client goes first so drift (GC, JIT, sockets) hits both alike.
    const order = i % 2 === 0 ? (["raw", "wrapped"] as const) : (["wrapped", "raw"] as const);
    for (const which of order) {
      const client = which === "raw" ? raw : wrapped;
      const start = performance.now();
      await client.messages.create(body);
      const elapsed = performance.now() - start;
      if (i >= WARMUP) times[which].push(elapsed);
    }
  }
  await mock.stop();
  await limiter.close();

  const estimate = estimateAnthropicRequest({ route: "messages", body });
  const rows = (["raw", "wrapped"] as const).map((which) => {
    const sorted = [...times[which]].sort((a, b) => a - b);
    return { which, median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  });
  const [r, w] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(`anthropic wrapper overhead: ${ITERATIONS} calls each, prompt estimate ${estimate.inputTokens} tokens`);
  for (const row of rows)
    console.log(`  ${row.which.padEnd(8)} median ${row.median.toFixed(3)} ms   p99 ${row.p99.toFixed(3)} ms`);
  const delta = (ms: number) => `${ms >= 0 ? "+" : ""}${ms.toFixed(3)} ms`;
  console.log(
    `  overhead median ${delta(w.median - r.median)} (x${(w.median / r.median).toFixed(2)})   p99 ${delta(w.p99 - r.p99)} (x${(w.p99 / r.p99).toFixed(2)})`,
  );
}

await main();
