/**
 * Wrapper overhead per call against the raw SDK on the same local mock: in-memory limiter with limits that never
 * queue, a fresh ~2,000-token prompt per call (so the tokenizer's merge cache does not flatter the estimate).
 * Run from the repo root:
 *   node --conditions=llmratelimiter-source --import tsx packages/openai/bench/overhead.ts
 */
import { RateLimiter } from "@llmratelimiter/core";
import { estimateRequest, withRateLimit } from "@llmratelimiter/openai";
import OpenAI from "openai";
import { VERSION } from "openai/version";
import { startMockOpenAI } from "../test/mock-openai.js";

const WARMUP = 50;
const ITERATIONS = Number(process.env.ITERATIONS ?? 500);

const WORDS =
  "rate limit token budget window queue redis model request response stream usage estimate provider retry pause " +
  "latency fairness process cluster shard memory socket header payload schema function argument result error";
const vocabulary = WORDS.split(" ");

function prompt(seed: number): string {
  let x = seed * 2654435761;
  const out: string[] = [];
  for (let i = 0; i < 1900; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(vocabulary[x % vocabulary.length]!);
    if (i % 17 === 16) out.push(`${x % 1000}.`);
  }
  return out.join(" ");
}

function stats(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p99: at(0.99) };
}

const mock = await startMockOpenAI();
const limiter = new RateLimiter({ model: "gpt-4o", tpm: 1_000_000_000, rpm: 10_000_000 });
const raw = new OpenAI({ apiKey: "test", baseURL: mock.url, maxRetries: 0 });
const wrapped = withRateLimit(new OpenAI({ apiKey: "test", baseURL: mock.url, maxRetries: 0 }), limiter);

const bodies = Array.from({ length: WARMUP + ITERATIONS }, (_, i) => ({
  model: "gpt-4o",
  messages: [
    { role: "system" as const, content: "You are a helpful assistant." },
    { role: "user" as const, content: prompt(i + 1) },
  ],
  max_completion_tokens: 256,
}));
const promptTokens = estimateRequest("chat", bodies[0]).inputTokens;

const rawMs: number[] = [];
const wrappedMs: number[] = [];
const estimateMs: number[] = [];
for (let i = 0; i < bodies.length; i++) {
  const body = bodies[i]!;
  // Alternate which client goes first so drift (GC, JIT) hits both alike.
  const order = i % 2 === 0 ? ([raw, wrapped] as const) : ([wrapped, raw] as const);
  for (const client of order) {
    const started = performance.now();
    await client.chat.completions.create(body);
    const elapsed = performance.now() - started;
    if (i >= WARMUP) (client === raw ? rawMs : wrappedMs).push(elapsed);
  }
  const started = performance.now();
  estimateRequest("chat", { ...body, messages: [...body.messages] });
  if (i >= WARMUP) estimateMs.push(performance.now() - started);
}

const r = stats(rawMs);
const w = stats(wrappedMs);
const e = stats(estimateMs);
const fmt = (n: number) => n.toFixed(3);
console.log(`openai ${VERSION}, ${ITERATIONS} calls each, prompt ≈ ${promptTokens} tokens, memory store`);
console.log(`raw SDK      median ${fmt(r.median)} ms   p99 ${fmt(r.p99)} ms`);
console.log(`wrapped      median ${fmt(w.median)} ms   p99 ${fmt(w.p99)} ms`);
console.log(`overhead     median ${fmt(w.median - r.median)} ms   p99 ${fmt(w.p99 - r.p99)} ms`);
console.log(`ratio        median ${(w.median / r.median).toFixed(2)}×   p99 ${(w.p99 / r.p99).toFixed(2)}×`);
console.log(`estimate     median ${fmt(e.median)} ms   p99 ${fmt(e.p99)} ms (tokenizer, part of the overhead)`);

await limiter.close();
await mock.close();
