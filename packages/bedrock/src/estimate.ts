import { estimateTextTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "@llmratelimiter/core";
import { count, isRecord, readBody } from "./body.js";
import { type BedrockRequest, DEFAULT_OUTPUT_TOKENS } from "./options.js";

/** A command name and its input, e.g. `{ commandName: "ConverseCommand", input: converseCommandInput }`. */
export interface EstimateInput {
  commandName: BedrockRequest["commandName"];
  input: object;
}

/** Prompt tokens of a Converse / ConverseStream input: messages (plus per-message framing), system and tools. */
export function estimateConverseInputTokens(converseInput: object): number {
  const input = converseInput as Record<string, unknown>;
  const messages = Array.isArray(input.messages) ? input.messages : [];
  return (
    estimateTokens(messages) +
    messages.length * MESSAGE_OVERHEAD_TOKENS +
    estimateTokens(input.system) +
    estimateTokens(input.toolConfig)
  );
}

/**
 * Prompt tokens of an InvokeModel native body. The whole JSON body counts (the few inference parameters in it cost
 * a handful of tokens, which errs on the safe side); a body that is not JSON counts by its length.
 */
export function estimateInvokeModelInputTokens(body: unknown): number {
  const { text, json } = readBody(body);
  if (json === undefined) return text === undefined ? estimateTokens(body) : estimateTextTokens(text);
  const messages = isRecord(json) && Array.isArray(json.messages) ? json.messages.length : 1;
  return estimateTokens(json) + messages * MESSAGE_OVERHEAD_TOKENS;
}

/**
 * The output cap a request sets, which is what Bedrock reserves at the start: Converse `inferenceConfig.maxTokens`;
 * native bodies `max_tokens` (Anthropic, Mistral, Cohere), `max_completion_tokens` (OpenAI), `max_gen_len` (Llama),
 * `maxTokens` (AI21), `textGenerationConfig.maxTokenCount` (Titan), `inferenceConfig.max_new_tokens` (Nova); times
 * the number of completions when the body asks for several. Undefined when the request sets none.
 */
export function maxOutputTokens(request: EstimateInput): number | undefined {
  const commandName = request.commandName;
  const input = request.input as Record<string, unknown>;
  if (commandName === "ConverseCommand" || commandName === "ConverseStreamCommand") {
    return isRecord(input.inferenceConfig) ? count(input.inferenceConfig.maxTokens) : undefined;
  }
  const { json } = readBody(input.body);
  if (!isRecord(json)) return undefined;
  const cap =
    count(json.max_tokens) ??
    count(json.max_completion_tokens) ??
    count(json.max_gen_len) ??
    count(json.maxTokens) ??
    (isRecord(json.textGenerationConfig) ? count(json.textGenerationConfig.maxTokenCount) : undefined) ??
    (isRecord(json.inferenceConfig)
      ? (count(json.inferenceConfig.max_new_tokens) ?? count(json.inferenceConfig.maxTokens))
      : undefined);
  if (cap === undefined) return undefined;
  const n = count(json.n) ?? count(json.num_generations) ?? count(json.numResults) ?? 1;
  return cap * Math.max(1, Math.floor(n));
}

/**
 * The built-in estimate for a Bedrock call: input from the prompt (chars/4 heuristic), output from the request's
 * cap, else `defaultOutputTokens`.
 */
export function estimateBedrockRequest(
  request: EstimateInput,
  defaultOutputTokens: number = DEFAULT_OUTPUT_TOKENS,
): { inputTokens: number; outputTokens: number } {
  const commandName = request.commandName;
  const input = request.input as Record<string, unknown>;
  const inputTokens =
    commandName === "ConverseCommand" || commandName === "ConverseStreamCommand"
      ? estimateConverseInputTokens(input)
      : estimateInvokeModelInputTokens(input.body);
  return { inputTokens, outputTokens: maxOutputTokens(request) ?? defaultOutputTokens };
}
