import { estimateTextTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "@llmratelimiter/core";
import { DEFAULT_OUTPUT_TOKENS, type TokenEstimate } from "./options.js";

/** The generation settings the estimate reads; `config` in @google/genai, `generationConfig` in the legacy SDK. */
export interface GenerationSettings {
  maxOutputTokens?: number | undefined;
  candidateCount?: number | undefined;
  thinkingConfig?: { thinkingBudget?: number | undefined } | undefined;
  systemInstruction?: unknown;
  tools?: unknown;
  toolConfig?: unknown;
}

/**
 * A Gemini request in either SDK's layout: @google/genai puts systemInstruction, tools and the generation settings
 * in `config`; @google-cloud/vertexai puts systemInstruction and tools at the top and the settings in
 * `generationConfig`.
 */
export interface GeminiRequest {
  contents?: unknown;
  systemInstruction?: unknown;
  tools?: unknown;
  toolConfig?: unknown;
  config?: GenerationSettings | undefined;
  generationConfig?: GenerationSettings | undefined;
}

/** Heuristic input tokens of `contents`: a string, a Part, a Content, or an array of them (chars/4 + framing). */
export function estimateContentsTokens(contents: unknown): number {
  if (contents === undefined || contents === null) return 0;
  if (typeof contents === "string") return estimateTextTokens(contents) + MESSAGE_OVERHEAD_TOKENS;
  const items = Array.isArray(contents) ? contents : [contents];
  let total = 0;
  for (const item of items) total += MESSAGE_OVERHEAD_TOKENS + estimateTokens(item);
  return total;
}

/**
 * Estimates a generateContent request offline.
 * - input: contents + systemInstruction + tools + toolConfig (heuristic, about four characters per token);
 * - output: `maxOutputTokens × candidateCount` (else `defaultOutputTokens × candidateCount`), plus
 *   `thinkingConfig.thinkingBudget` when it is a positive number, since thoughts are billed as output and reported
 *   apart from the candidates. A dynamic budget (-1) adds nothing: pass `estimate` to reserve more.
 */
export function estimateGeminiRequest(
  request: GeminiRequest,
  defaultOutputTokens: number = DEFAULT_OUTPUT_TOKENS,
): TokenEstimate {
  const settings: GenerationSettings = { ...request.generationConfig, ...request.config };
  const inputTokens =
    estimateContentsTokens(request.contents) +
    estimateTokens(request.systemInstruction ?? settings.systemInstruction) +
    estimateTokens(request.tools ?? settings.tools) +
    estimateTokens(request.toolConfig ?? settings.toolConfig);
  const candidates = positive(settings.candidateCount) ?? 1;
  const maxOutput = positive(settings.maxOutputTokens) ?? defaultOutputTokens;
  const thinking = positive(settings.thinkingConfig?.thinkingBudget) ?? 0;
  return { inputTokens, outputTokens: maxOutput * candidates + thinking };
}

/** Estimates an embedContent request: the contents as input, no output. */
export function estimateEmbedRequest(request: { contents?: unknown }): TokenEstimate {
  return { inputTokens: estimateContentsTokens(request.contents), outputTokens: 0 };
}

function positive(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.ceil(value) : undefined;
}
