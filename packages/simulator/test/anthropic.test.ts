import Anthropic, { RateLimitError } from "@anthropic-ai/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../src/index.js";

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const client = (s: Simulator) => new Anthropic({ apiKey: "test", baseURL: s.url, maxRetries: 0 });
const say = (chars: number) => [{ role: "user" as const, content: "x".repeat(chars) }];

describe("Anthropic simulator", () => {
  it("reserves OTPM from max_tokens at the start and adjusts it to the real output at the end", async () => {
    sim = await startSimulator({ provider: "anthropic", limits: { inputTpm: 100_000, outputTpm: 6000, rpm: 50 } });
    const c = client(sim);
    const { data, response } = await c.messages
      .create({ model: "claude-x", max_tokens: 5000, messages: say(40) })
      .withResponse();
    expect(data.usage.input_tokens).toBe(14); // 4 per message + 10
    expect(data.usage.output_tokens).toBeLessThan(5000);
    // The header went out while the request held its max_tokens estimate.
    expect(Number(response.headers.get("anthropic-ratelimit-output-tokens-remaining"))).toBeLessThan(1100);
    expect(response.headers.get("anthropic-ratelimit-output-tokens-limit")).toBe("6000");
    expect(Date.parse(response.headers.get("anthropic-ratelimit-output-tokens-reset") ?? "")).toBeGreaterThan(0);
    // After the adjustment the unused part is back: 6000 - actual output.
    const next = await c.messages.create({
      model: "claude-x",
      max_tokens: 5900 - data.usage.output_tokens,
      messages: say(4),
    });
    expect(next.type).toBe("message");

    // At most 100 + 80 % of the second reservation came back: 5000 max_tokens do not fit, though its output would.
    const error = (await c.messages
      .create({ model: "claude-x", max_tokens: 5000, messages: say(4) })
      .catch((e: unknown) => e)) as RateLimitError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(429);
    expect(Number(error.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(error.headers?.get("anthropic-ratelimit-requests-limit")).toBe("50");
    expect(error.headers?.get("anthropic-ratelimit-input-tokens-limit")).toBe("100000");
    expect(error.message).toContain("output tokens per minute");
    expect(sim.stats()).toMatchObject({ requests: 3, ok: 2, rateLimited: 1 });
  });

  it("counts cache writes but not cache reads against ITPM", async () => {
    sim = await startSimulator({ provider: "anthropic", limits: { inputTpm: 3000, outputTpm: 100_000 } });
    const c = client(sim);
    const system = [{ type: "text" as const, text: "s".repeat(8000), cache_control: { type: "ephemeral" as const } }];
    const first = await c.messages.create({ model: "claude-x", max_tokens: 100, system, messages: say(40) });
    expect(first.usage).toMatchObject({
      cache_creation_input_tokens: 2000,
      cache_read_input_tokens: 0,
      input_tokens: 14,
    });
    // Same prefix: 2000 tokens read from cache, only 14 count; without the exclusion it would not fit (2014 > 986).
    const second = await c.messages.create({ model: "claude-x", max_tokens: 100, system, messages: say(40) });
    expect(second.usage).toMatchObject({
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 2000,
      input_tokens: 14,
    });
    // A new prefix has to be written: 2014 input tokens do not fit in what is left.
    const other = [{ type: "text" as const, text: "t".repeat(8000), cache_control: { type: "ephemeral" as const } }];
    const e = await c.messages
      .create({ model: "claude-x", max_tokens: 100, system: other, messages: say(40) })
      .catch((x) => x);
    expect((e as RateLimitError).status).toBe(429);
    expect((e as RateLimitError).message).toContain("input tokens per minute");
    expect(sim.stats().timeline.map((t) => t.input)).toEqual([2014, 14, 2014]);
  });

  it("streams SSE the SDK's MessageStream understands, usage included", async () => {
    sim = await startSimulator({ provider: "anthropic", limits: { outputTpm: 10_000 } });
    const c = client(sim);
    const stream = c.messages.stream({ model: "claude-x", max_tokens: 300, messages: say(40) });
    let text = "";
    stream.on("text", (t) => {
      text += t;
    });
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(Math.ceil(text.length / 4));
    expect(final.stop_reason).toBe("end_turn");
    expect(sim.stats().timeline[0]).toMatchObject({ status: 200, input: 14, output: final.usage.output_tokens });
    const counted = await c.messages.countTokens({ model: "claude-x", messages: say(40) });
    expect(counted.input_tokens).toBe(14);
  });

  it("rejects a request without max_tokens like the API (400, not counted as admitted)", async () => {
    sim = await startSimulator({ provider: "anthropic", limits: { outputTpm: 10_000 } });
    const res = await fetch(`${sim.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-x", messages: say(4) }),
    });
    expect(res.status).toBe(400);
    expect(sim.stats()).toMatchObject({ ok: 0, rateLimited: 0 });
  });
});
