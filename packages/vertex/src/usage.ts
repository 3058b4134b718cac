/** Token counts as Gemini reports them (raw REST field names; both SDKs pass them through). */
export interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  /** The name @google/genai gives candidatesTokenCount in embedding responses. */
  responseTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  totalTokenCount?: number;
}

export interface Usage {
  input?: number | undefined;
  output?: number | undefined;
}

/**
 * input = promptTokenCount (+ toolUsePromptTokenCount, which is billed as input and not part of it);
 * output = candidatesTokenCount + thoughtsTokenCount (thoughts are not included in candidates).
 */
export function usageFromMetadata(metadata: unknown): Usage | undefined {
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const m = metadata as UsageMetadata;
  const prompt = num(m.promptTokenCount);
  const toolUse = num(m.toolUsePromptTokenCount);
  const candidates = num(m.candidatesTokenCount) ?? num(m.responseTokenCount);
  const thoughts = num(m.thoughtsTokenCount);
  const input = prompt === undefined && toolUse === undefined ? undefined : (prompt ?? 0) + (toolUse ?? 0);
  let output = candidates === undefined && thoughts === undefined ? undefined : (candidates ?? 0) + (thoughts ?? 0);
  // A response that reports its prompt but no output produced none (blocked prompt, pure function call).
  if (output === undefined && input !== undefined) output = 0;
  return input === undefined && output === undefined ? undefined : { input, output };
}

/** Usage of a GenerateContentResponse (or a stream chunk). */
export function usageOfResponse(response: unknown): Usage | undefined {
  if (typeof response !== "object" || response === null) return undefined;
  return usageFromMetadata((response as { usageMetadata?: unknown }).usageMetadata);
}

/**
 * Usage of an EmbedContentResponse: `usageMetadata` (embedContent API), else the per-embedding
 * `statistics.tokenCount` (Vertex `:predict`); the Gemini API reports nothing, so the estimate stays.
 */
export function usageOfEmbedding(response: unknown): Usage | undefined {
  if (typeof response !== "object" || response === null) return undefined;
  const r = response as { usageMetadata?: unknown; embeddings?: Array<{ statistics?: { tokenCount?: number } }> };
  const fromMetadata = usageFromMetadata(r.usageMetadata);
  if (fromMetadata?.input !== undefined) return { input: fromMetadata.input, output: 0 };
  let total: number | undefined;
  for (const embedding of r.embeddings ?? []) {
    const count = num(embedding?.statistics?.tokenCount);
    if (count !== undefined) total = (total ?? 0) + count;
  }
  return total === undefined ? undefined : { input: total, output: 0 };
}

/**
 * The HTTP status behind an SDK error, or undefined when the request never got an answer.
 * @google/genai throws `ApiError { status }`; @google-cloud/vertexai throws `ClientError` whose cause is a
 * `GoogleApiError { code, status: "RESOURCE_EXHAUSTED" }` for 4xx and `GoogleGenerativeAIError("got status: 500 …")`
 * for 5xx.
 */
export function statusOf(error: unknown, depth = 0): number | undefined {
  if (typeof error !== "object" || error === null || depth > 4) return undefined;
  const e = error as { status?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  if (isHttpStatus(e.status)) return e.status;
  if (isHttpStatus(e.code)) return e.code;
  if (e.status === "RESOURCE_EXHAUSTED") return 429;
  const message = typeof e.message === "string" ? e.message : "";
  const match = /got status: (\d{3})\b/.exec(message);
  if (match) return Number(match[1]);
  if (message.includes("RESOURCE_EXHAUSTED")) return 429;
  return statusOf(e.cause, depth + 1);
}

function isHttpStatus(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value < 600;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}
