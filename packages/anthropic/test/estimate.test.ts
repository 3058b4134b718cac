import {
  estimateAnthropicRequest,
  estimateMessagesInputTokens,
  MessageStreamUsage,
  usageOfResponse,
} from "@llmratelimiter/anthropic";
import { BINARY_PART_TOKENS, estimateTokens } from "@llmratelimiter/core";
import { describe, expect, it } from "vitest";

describe("estimateAnthropicRequest", () => {
  const base = { model: "claude-x", max_tokens: 300, messages: [{ role: "user", content: "x".repeat(400) }] };

  it("counts system, messages, tools and tool_choice; output is max_tokens", () => {
    const plain = estimateAnthropicRequest({ route: "messages", body: base });
    expect(plain.outputTokens).toBe(300);
    expect(plain.inputTokens).toBeGreaterThanOrEqual(100);
    const system = "s".repeat(800);
    const tools = [{ name: "clock", description: "d".repeat(200), input_schema: { type: "object" } }];
    const tool_choice = { type: "tool", name: "clock" };
    const full = estimateMessagesInputTokens({ ...base, system, tools, tool_choice });
    expect(full - plain.inputTokens).toBe(estimateTokens(system) + estimateTokens(tools) + estimateTokens(tool_choice));
  });

  it("counts a base64 image as one binary block, not by its length", () => {
    const image = { type: "image", source: { type: "base64", media_type: "image/png", data: "A".repeat(100_000) } };
    const tokens = estimateMessagesInputTokens({ messages: [{ role: "user", content: [image] }] });
    expect(tokens).toBeGreaterThanOrEqual(BINARY_PART_TOKENS);
    expect(tokens).toBeLessThan(BINARY_PART_TOKENS + 50);
  });

  it("a ~2,000-token prompt estimates near 2,000", () => {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(178); // ~8,000 characters
    const { inputTokens } = estimateAnthropicRequest({
      route: "messages",
      body: { ...base, messages: [{ role: "user", content: text }] },
    });
    expect(inputTokens).toBeGreaterThan(1900);
    expect(inputTokens).toBeLessThan(2100);
  });

  it("falls back to defaultOutputTokens without max_tokens; legacy complete uses prompt and max_tokens_to_sample", () => {
    expect(estimateAnthropicRequest({ route: "messages", body: { messages: [] } }, 55).outputTokens).toBe(55);
    expect(
      estimateAnthropicRequest({ route: "complete", body: { prompt: "p".repeat(40), max_tokens_to_sample: 9 } }),
    ).toEqual({ inputTokens: 10, outputTokens: 9 });
  });
});

describe("usage", () => {
  it("a Message settles to input + cache writes (cache reads excluded) and output", () => {
    const usage = { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 20, cache_read_input_tokens: 999 };
    expect(usageOfResponse({ type: "message", usage })).toEqual({ input: 30, output: 4 });
  });

  it("stream usage: message_delta is cumulative and overwrites; an unfinished stream counts streamed text", () => {
    const u = new MessageStreamUsage();
    u.push({
      type: "message_start",
      message: { usage: { input_tokens: 10, cache_creation_input_tokens: 5, output_tokens: 1 } },
    });
    u.push({ type: "content_block_delta", delta: { type: "text_delta", text: "x".repeat(40) } });
    expect(u.usage()).toEqual({ input: 15, output: 10 });
    u.push({ type: "message_delta", usage: { output_tokens: 3 } });
    u.push({ type: "message_delta", usage: { output_tokens: 12, input_tokens: 11 } });
    u.push({ type: "message_stop" });
    expect(u.usage()).toEqual({ input: 16, output: 12 });
  });
});
