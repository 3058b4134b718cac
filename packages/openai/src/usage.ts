import { estimateTextTokens } from "@llmratelimiter/core";
import type { Endpoint } from "./endpoints.js";

/** Usage as the provider reported it; either side may be missing. */
export interface ReportedUsage {
  input?: number | undefined;
  output?: number | undefined;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null;
const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

/**
 * Reads `usage` from a response body or a usage-carrying stream chunk. Chat and legacy completions report
 * `prompt_tokens` (cached included) / `completion_tokens` (reasoning included); Responses `input_tokens` /
 * `output_tokens`; embeddings only `prompt_tokens`, so their output is 0.
 */
export function usageOf(endpoint: Endpoint, usage: unknown): ReportedUsage | undefined {
  if (!isRecord(usage)) return undefined;
  if (endpoint === "responses") return { input: num(usage.input_tokens), output: num(usage.output_tokens) };
  if (endpoint === "embeddings") return { input: num(usage.prompt_tokens), output: 0 };
  return { input: num(usage.prompt_tokens), output: num(usage.completion_tokens) };
}

/** Usage from a parsed, non-streamed response. */
export function responseUsage(endpoint: Endpoint, data: unknown): ReportedUsage | undefined {
  return isRecord(data) ? usageOf(endpoint, data.usage) : undefined;
}

/**
 * Usage carried by one stream item: the final `usage` chunk (chat, completions) or the terminal
 * `response.completed | incomplete | failed` event (Responses).
 */
export function streamItemUsage(endpoint: Endpoint, item: unknown): ReportedUsage | undefined {
  if (!isRecord(item)) return undefined;
  if (endpoint !== "responses") return usageOf(endpoint, item.usage);
  if (item.type === "response.completed" || item.type === "response.incomplete" || item.type === "response.failed") {
    return isRecord(item.response) ? usageOf(endpoint, item.response.usage) : undefined;
  }
  return undefined;
}

/** Rough output tokens of one stream item's generated text, for settling a stream that ends without usage. */
export function streamItemOutputTokens(endpoint: Endpoint, item: unknown): number {
  if (!isRecord(item)) return 0;
  if (endpoint === "responses") {
    return typeof item.delta === "string" && String(item.type).endsWith(".delta") ? estimateTextTokens(item.delta) : 0;
  }
  if (!Array.isArray(item.choices)) return 0;
  let chars = 0;
  for (const choice of item.choices) {
    if (!isRecord(choice)) continue;
    if (typeof choice.text === "string") chars += choice.text.length;
    const delta = choice.delta;
    if (!isRecord(delta)) continue;
    if (typeof delta.content === "string") chars += delta.content.length;
    if (typeof delta.refusal === "string") chars += delta.refusal.length;
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) {
        if (isRecord(call) && isRecord(call.function) && typeof call.function.arguments === "string") {
          chars += call.function.arguments.length;
        }
      }
    }
  }
  return chars === 0 ? 0 : Math.ceil(chars / 4);
}
