import { BINARY_PART_TOKENS, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "@llmratelimiter/core";
import type { Endpoint } from "./endpoints.js";
import { type TokenCounter, tokenCounterFor } from "./tokenizer.js";

/** What one request reserves before it is sent. */
export interface TokenEstimate {
  inputTokens: number;
  outputTokens: number;
}

/**
 * Output reserved when a request sets no output cap. Generous enough for a typical chat answer, small enough not to
 * starve the queue; the reservation is corrected to the reported usage afterwards.
 */
export const DEFAULT_OUTPUT_TOKENS = 1024;

/** Tokens that prime the assistant's reply in a chat request (OpenAI cookbook). */
const REPLY_PRIMING_TOKENS = 3;

export interface EstimateOptions {
  /** Output reserved when the request sets no cap. @default 1024 ({@link DEFAULT_OUTPUT_TOKENS}) */
  defaultOutputTokens?: number;
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null;
const positiveInt = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;

/**
 * Estimates a request body offline: text through the model's tokenizer (o200k_base or cl100k_base, see
 * {@link loadTokenizer}), tools and schemas as their JSON, images/audio/files at `BINARY_PART_TOKENS`, anything
 * unrecognised by the core's chars/4 heuristic. Output is the request's cap (× choices), else
 * `defaultOutputTokens`; embeddings reserve no output.
 */
export function estimateRequest(endpoint: Endpoint, body: unknown, options: EstimateOptions = {}): TokenEstimate {
  const request = isRecord(body) ? body : {};
  const model = typeof request.model === "string" ? request.model : undefined;
  const count = tokenCounterFor(model);
  const fallbackOutput = options.defaultOutputTokens ?? DEFAULT_OUTPUT_TOKENS;
  switch (endpoint) {
    case "chat": {
      const choices = Math.max(1, positiveInt(request.n) ?? 1);
      const cap = positiveInt(request.max_completion_tokens) ?? positiveInt(request.max_tokens) ?? fallbackOutput;
      return { inputTokens: chatInput(request, count), outputTokens: cap * choices };
    }
    case "responses": {
      const input =
        textOrParts(request.instructions, count) +
        responseInput(request.input, count) +
        jsonTokens(request.tools, count) +
        jsonTokens(isRecord(request.text) ? request.text.format : undefined, count);
      return { inputTokens: input, outputTokens: positiveInt(request.max_output_tokens) ?? fallbackOutput };
    }
    case "completions": {
      const prompts = promptList(request.prompt);
      const choices = Math.max(1, positiveInt(request.n) ?? 1, positiveInt(request.best_of) ?? 1);
      const cap = positiveInt(request.max_tokens) ?? fallbackOutput;
      const input =
        prompts.reduce<number>((sum, p) => sum + promptTokens(p, count), 0) + textOrParts(request.suffix, count);
      return { inputTokens: input, outputTokens: cap * choices * Math.max(1, prompts.length) };
    }
    case "embeddings":
      return {
        inputTokens: promptList(request.input).reduce<number>((sum, p) => sum + promptTokens(p, count), 0),
        outputTokens: 0,
      };
  }
}

function chatInput(request: Json, count: TokenCounter): number {
  let total = REPLY_PRIMING_TOKENS;
  if (Array.isArray(request.messages)) {
    for (const message of request.messages) {
      total += MESSAGE_OVERHEAD_TOKENS;
      if (!isRecord(message)) continue;
      total += textOrParts(message.content, count) + textOrParts(message.name, count);
      if (message.tool_calls !== undefined) total += jsonTokens(message.tool_calls, count);
      if (message.function_call !== undefined) total += jsonTokens(message.function_call, count);
      if (message.audio !== undefined) total += estimateTokens(message.audio);
    }
  }
  total += jsonTokens(request.tools, count) + jsonTokens(request.functions, count);
  if (isRecord(request.response_format) && request.response_format.type === "json_schema") {
    total += jsonTokens(request.response_format.json_schema, count);
  }
  return total;
}

function responseInput(input: unknown, count: TokenCounter): number {
  if (typeof input === "string") return MESSAGE_OVERHEAD_TOKENS + count(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) {
    if (!isRecord(item)) continue;
    const type = item.type ?? "message";
    if (type === "message") {
      total += MESSAGE_OVERHEAD_TOKENS + textOrParts(item.content, count);
    } else if (type === "function_call" || type === "custom_tool_call") {
      total +=
        MESSAGE_OVERHEAD_TOKENS + textOrParts(item.name, count) + textOrParts(item.arguments ?? item.input, count);
    } else if (type === "function_call_output" || type === "custom_tool_call_output") {
      total += MESSAGE_OVERHEAD_TOKENS + textOrParts(item.output, count);
    } else {
      total += estimateTokens(item);
    }
  }
  return total;
}

/** A string, or an array of content parts (chat and Responses shapes): text by tokenizer, media at a constant. */
function textOrParts(content: unknown, count: TokenCounter): number {
  if (typeof content === "string") return count(content);
  if (!Array.isArray(content)) return content == null ? 0 : estimateTokens(content);
  let total = 0;
  for (const part of content) {
    if (typeof part === "string") total += count(part);
    else if (!isRecord(part)) continue;
    else if (typeof part.text === "string") total += count(part.text);
    else if (typeof part.refusal === "string") total += count(part.refusal);
    else if (/image|audio|file/.test(String(part.type))) total += BINARY_PART_TOKENS;
    else total += estimateTokens(part);
  }
  return total;
}

function jsonTokens(value: unknown, count: TokenCounter): number {
  if (value == null) return 0;
  try {
    return count(JSON.stringify(value));
  } catch {
    return estimateTokens(value); // cycles, BigInt
  }
}

/** `prompt` / embeddings `input`: a string, token ids, or a list of either. */
function promptList(prompt: unknown): unknown[] {
  if (prompt == null) return [];
  if (typeof prompt === "string") return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === "number")) return [prompt];
  return Array.isArray(prompt) ? prompt : [prompt];
}

function promptTokens(prompt: unknown, count: TokenCounter): number {
  if (typeof prompt === "string") return count(prompt);
  if (Array.isArray(prompt) && prompt.every((p) => typeof p === "number")) return prompt.length; // already tokens
  return estimateTokens(prompt);
}
