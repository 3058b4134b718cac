import OpenAI, { RateLimitError } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../src/index.js";

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const client = (s: Simulator) => new OpenAI({ apiKey: "test", baseURL: `${s.url}/v1`, maxRetries: 0 });
const user = (chars: number) => [{ role: "user" as const, content: "x".repeat(chars) }];

describe("OpenAI simulator", () => {
  it("charges max(max_tokens, prompt estimate) at request time and answers 429 exactly when the bucket is short", async () => {
    // 60 s window: the bucket refills 1/6 token per ms, far below the margins used here.
    sim = await startSimulator({ provider: "openai", limits: { tpm: 10_000, rpm: 100 } });
    const c = client(sim);
    // prompt = 2 + 4 + 4 = 10 tokens < max_tokens: charged 6000, not 6010.
    const first = await c.chat.completions.create({ model: "gpt-4o", messages: user(16), max_tokens: 6000 });
    expect(first.usage?.prompt_tokens).toBe(10);
    expect(first.usage!.completion_tokens).toBeLessThan(6000);
    expect(first.usage!.completion_tokens).toBeGreaterThanOrEqual(1200);
    // prompt 2 + 4 + 1000 = 1006 > max_tokens 10: charged 1006.
    const { response } = await c.chat.completions
      .create({ model: "gpt-4o", messages: user(4000), max_tokens: 10 })
      .withResponse();
    const remaining = Number(response.headers.get("x-ratelimit-remaining-tokens"));
    expect(remaining).toBeGreaterThanOrEqual(10_000 - 6000 - 1006);
    expect(remaining).toBeLessThan(10_000 - 6000 - 1006 + 100);
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("10000");
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("100");

    const error = await c.chat.completions
      .create({ model: "gpt-4o", messages: user(16), max_tokens: 3500 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    const e = error as RateLimitError;
    expect(e.status).toBe(429);
    expect(e.code).toBe("rate_limit_exceeded");
    expect(e.type).toBe("tokens");
    expect(Number(e.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(e.headers?.get("x-ratelimit-reset-tokens")).toMatch(/^\d+m[\d.]+s$|^[\d.]+s$/);
    expect(e.headers?.get("retry-after-ms")).toBeNull(); // real-time runs send whole seconds only

    expect(sim.stats()).toMatchObject({ requests: 3, ok: 2, rateLimited: 1 });
    expect(sim.stats().timeline.map((t) => t.charged)).toEqual([6000, 1006, 0]);
  });

  it("enforces RPM and tells when a request fits again (scaled time sends retry-after-ms)", async () => {
    sim = await startSimulator({ provider: "openai", limits: { rpm: 2 }, timeScale: 60, latencyMs: 1 });
    const c = client(sim);
    await c.chat.completions.create({ model: "m", messages: user(4), max_tokens: 5 });
    await c.chat.completions.create({ model: "m", messages: user(4), max_tokens: 5 });
    const e = (await c.chat.completions
      .create({ model: "m", messages: user(4), max_tokens: 5 })
      .catch((x) => x)) as RateLimitError;
    expect(e.status).toBe(429);
    expect(e.type).toBe("requests");
    const wait = Number(e.headers?.get("retry-after-ms"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(500); // one request refills in 1000 ms / 2
    await new Promise((r) => setTimeout(r, wait + 20));
    await expect(c.chat.completions.create({ model: "m", messages: user(4), max_tokens: 5 })).resolves.toBeDefined();
  });

  it("streams chat chunks with the usage chunk when asked, and works with the stream helper", async () => {
    sim = await startSimulator({ provider: "openai", limits: { tpm: 100_000 } });
    const c = client(sim);
    const stream = await c.chat.completions.create({
      model: "gpt-4o",
      messages: user(400),
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage?.prompt_tokens).toBe(106);
    expect(usage!.completion_tokens).toBe(Math.ceil(text.length / 4));
    const helper = c.chat.completions.stream({ model: "gpt-4o", messages: user(40), max_tokens: 100, n: 2 });
    const final = await helper.finalChatCompletion();
    expect(final.choices).toHaveLength(2);
    expect(sim.stats().timeline[0]).toMatchObject({
      status: 200,
      input: 106,
      output: usage!.completion_tokens,
      charged: 200,
    });
  });

  it("charges only what was streamed when the consumer breaks off", async () => {
    sim = await startSimulator({ provider: "openai", limits: { tpm: 100_000 }, latencyMs: 400, outputRatio: 1 });
    const c = client(sim);
    const stream = await c.chat.completions.create({ model: "m", messages: user(4), max_tokens: 800, stream: true });
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 3) break;
    await new Promise((r) => setTimeout(r, 500));
    const entry = sim.stats().timeline[0]!;
    expect(entry.output).toBeGreaterThan(0);
    expect(entry.output).toBeLessThan(800);
  });
});
