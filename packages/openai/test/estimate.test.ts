import { BINARY_PART_TOKENS, MESSAGE_OVERHEAD_TOKENS } from "@llmratelimiter/core";
import {
  DEFAULT_OUTPUT_TOKENS,
  encodingFor,
  estimateRequest,
  loadTokenizer,
  responseUsage,
  streamItemUsage,
  tokenCounterFor,
} from "@llmratelimiter/openai";
import { describe, expect, it } from "vitest";

const PRIMING = 3;

describe("estimateRequest", () => {
  it("chat: tokenizer per message plus framing; output = cap × n", () => {
    const body = {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "hello world" }, // 2 tokens in o200k_base
        { role: "user", content: [{ type: "text", text: "Say hello to the rate limiter." }] }, // 7
      ],
      max_completion_tokens: 40,
      max_tokens: 999,
      n: 3,
    };
    expect(estimateRequest("chat", body)).toEqual({
      inputTokens: PRIMING + 2 * MESSAGE_OVERHEAD_TOKENS + 2 + 7,
      outputTokens: 120,
    });
    expect(estimateRequest("chat", { ...body, max_completion_tokens: undefined, n: undefined }).outputTokens).toBe(999);
    expect(estimateRequest("chat", { model: "gpt-4o", messages: [] }).outputTokens).toBe(DEFAULT_OUTPUT_TOKENS);
    expect(estimateRequest("chat", { model: "gpt-4o", messages: [] }, { defaultOutputTokens: 5 }).outputTokens).toBe(5);
  });

  it("chat: tools, images and schemas add to the input", () => {
    const base = { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] };
    const plain = estimateRequest("chat", base).inputTokens;
    const tools = [{ type: "function", function: { name: "getWeather", parameters: { type: "object" } } }];
    const count = tokenCounterFor("gpt-4o");
    expect(estimateRequest("chat", { ...base, tools }).inputTokens).toBe(plain + count(JSON.stringify(tools)));
    const image = {
      model: "gpt-4o",
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }],
    };
    expect(estimateRequest("chat", image).inputTokens).toBe(PRIMING + MESSAGE_OVERHEAD_TOKENS + BINARY_PART_TOKENS);
    const schema = { type: "json_schema", json_schema: { name: "a", schema: { type: "object" } } };
    expect(estimateRequest("chat", { ...base, response_format: schema }).inputTokens).toBeGreaterThan(plain);
  });

  it("special-token text is counted, not rejected", () => {
    const body = { model: "gpt-4o", messages: [{ role: "user", content: "a <|endoftext|> b" }] };
    expect(estimateRequest("chat", body).inputTokens).toBeGreaterThan(PRIMING + MESSAGE_OVERHEAD_TOKENS);
  });

  it("responses: instructions + input items + tools; output = max_output_tokens", () => {
    const body = {
      model: "gpt-5",
      instructions: "hello world",
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "hello world" },
            { type: "input_image", image_url: "x" },
          ],
        },
        { type: "function_call_output", call_id: "c", output: "hello world" },
      ],
      max_output_tokens: 300,
    };
    expect(estimateRequest("responses", body)).toEqual({
      inputTokens: 2 + MESSAGE_OVERHEAD_TOKENS + 2 + BINARY_PART_TOKENS + MESSAGE_OVERHEAD_TOKENS + 2,
      outputTokens: 300,
    });
    expect(estimateRequest("responses", { model: "gpt-5", input: "hello world" })).toEqual({
      inputTokens: MESSAGE_OVERHEAD_TOKENS + 2,
      outputTokens: DEFAULT_OUTPUT_TOKENS,
    });
  });

  it("completions: max_tokens × max(n, best_of) per prompt; token-id prompts count their length", () => {
    expect(
      estimateRequest("completions", { model: "x", prompt: "hello world", max_tokens: 10, n: 2, best_of: 4 }),
    ).toEqual({ inputTokens: 2, outputTokens: 40 });
    expect(estimateRequest("completions", { model: "x", prompt: [1, 2, 3], max_tokens: 10 })).toEqual({
      inputTokens: 3,
      outputTokens: 10,
    });
    expect(estimateRequest("completions", { model: "x", prompt: ["hello world", [1, 2]], max_tokens: 10 })).toEqual({
      inputTokens: 4,
      outputTokens: 20,
    });
  });

  it("embeddings: every input, no output", () => {
    expect(
      estimateRequest("embeddings", { model: "text-embedding-3-small", input: ["hello world", [5, 6, 7]] }),
    ).toEqual({
      inputTokens: 5,
      outputTokens: 0,
    });
  });

  it("picks cl100k_base for the gpt-4 / gpt-3.5 / embeddings family, o200k_base otherwise", async () => {
    expect(
      ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "text-embedding-3-small", "ft:gpt-4-0613:org"].map(encodingFor),
    ).toEqual(Array(5).fill("cl100k_base"));
    expect(["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "gpt-5", "llama-3"].map(encodingFor)).toEqual(
      Array(6).fill("o200k_base"),
    );
    await loadTokenizer("gpt-4");
    const text = "Привет, как дела? こんにちは世界";
    expect(tokenCounterFor("gpt-4")(text)).toBe(13);
    expect(tokenCounterFor("gpt-4o")(text)).toBe(9);
  });
});

describe("usage readers", () => {
  it("read each endpoint's fields", () => {
    const chat = { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } };
    expect(responseUsage("chat", chat)).toEqual({ input: 3, output: 4 });
    expect(responseUsage("embeddings", { usage: { prompt_tokens: 3, total_tokens: 3 } })).toEqual({
      input: 3,
      output: 0,
    });
    expect(responseUsage("responses", { usage: { input_tokens: 5, output_tokens: 6 } })).toEqual({
      input: 5,
      output: 6,
    });
    expect(responseUsage("chat", { usage: null })).toBeUndefined();
    expect(streamItemUsage("chat", { choices: [], usage: null })).toBeUndefined();
    const done = { type: "response.incomplete", response: { usage: { input_tokens: 1, output_tokens: 2 } } };
    expect(streamItemUsage("responses", done)).toEqual({ input: 1, output: 2 });
    expect(streamItemUsage("responses", { type: "response.output_text.delta", delta: "x" })).toBeUndefined();
  });
});
