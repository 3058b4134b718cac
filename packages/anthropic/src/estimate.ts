import { estimateTextTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "@llmratelimiter/core";
import { type AnthropicRequest, DEFAULT_OUTPUT_TOKENS, type TokenEstimate } from "./options.js";

/**
 * Anthropic publishes no offline tokenizer for Claude 3 and later (`@anthropic-ai/tokenizer` only matches Claude 2
 * and older), so the input side is the core heuristic: about four characters per token of the JSON the request
 * sends. The reservation is corrected to the reported usage once the response arrives; for an exact count before
 * sending, call `messages.countTokens` yourself and pass the result through the `estimate` option.
 */

/** The reply priming every request pays for (the assistant turn header), as in the OpenAI cookbook. */
const REPLY_PRIMING_TOKENS = 2;

/**
 * Input tokens of a `/v1/messages` body: `system`, every message (content plus a per-message overhead), `tools` and
 * `tool_choice`. Images and documents sent as base64 count as a fixed block each (core `BINARY_PART_TOKENS`).
 */
export function estimateMessagesInputTokens(body: Readonly<Record<string, unknown>>): number {
  let total = REPLY_PRIMING_TOKENS + estimateTokens(body.system);
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const message of messages) {
    const content =
      typeof message === "object" && message !== null ? (message as { content?: unknown }).content : message;
    total += MESSAGE_OVERHEAD_TOKENS + estimateTokens(content);
  }
  return total + estimateTokens(body.tools) + estimateTokens(body.tool_choice);
}

/**
 * The built-in estimate for one request. Output is the cap the request sets: `max_tokens` on `/v1/messages` (it
 * already includes any `thinking.budget_tokens`, and Anthropic's OTPM limit charges it up front the same way),
 * `max_tokens_to_sample` on the legacy `/v1/complete`; `defaultOutputTokens` when the cap is missing.
 */
export function estimateAnthropicRequest(
  request: Pick<AnthropicRequest, "route" | "body">,
  defaultOutputTokens: number = DEFAULT_OUTPUT_TOKENS,
): TokenEstimate {
  const { body } = request;
  if (request.route === "complete") {
    const prompt = typeof body.prompt === "string" ? body.prompt : "";
    return {
      inputTokens: estimateTextTokens(prompt),
      outputTokens: cap(body.max_tokens_to_sample, defaultOutputTokens),
    };
  }
  return { inputTokens: estimateMessagesInputTokens(body), outputTokens: cap(body.max_tokens, defaultOutputTokens) };
}

function cap(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : fallback;
}
