import { type LimiterSelector, resolveWrapperOptions } from "@llmratelimiter/core";

/** What a request is expected to cost, as reserved before it is sent. */
export interface TokenEstimate {
  inputTokens: number;
  outputTokens: number;
}

/** Which SDK call is being estimated; `request` is what the estimator sees (see {@link GeminiRequest}). */
export interface EstimateContext {
  /** The bare model id (last segment of `models/…` or `projects/…/models/…`). */
  model: string;
  /** `generate` for generateContent(Stream) and chats, `embed` for embedContent. */
  kind: "generate" | "embed";
}

export interface WithRateLimitOptions {
  /** One limiter for every model, or `(model) => RateLimiter | undefined` (undefined: that model is not limited). */
  limiter: LimiterSelector;
  /**
   * Replaces the built-in estimate. Receives the request as sent on the wire (contents, systemInstruction, tools
   * and `config` / `generationConfig`), after the SDK has resolved callable tools and chat history.
   * @default estimateGeminiRequest / estimateEmbedRequest
   */
  estimate?: (request: unknown, context: EstimateContext) => TokenEstimate;
  /** Output tokens reserved when a request sets no `maxOutputTokens`. @default 1024 */
  defaultOutputTokens?: number;
  /** Longest wait for a slot before failing with `WaitTimeoutError` (nothing reserved). @default the limiter's */
  maxWaitMs?: number;
}

export interface ResolvedOptions {
  selector: LimiterSelector;
  estimate: ((request: unknown, context: EstimateContext) => TokenEstimate) | undefined;
  defaultOutputTokens: number;
  maxWaitMs: number | undefined;
}

export const DEFAULT_OUTPUT_TOKENS = 1024;

export function resolveOptions(value: unknown): ResolvedOptions {
  const { limiter, ...rest } = resolveWrapperOptions<NonNullable<ResolvedOptions["estimate"]>>(value, {
    defaultOutputTokens: DEFAULT_OUTPUT_TOKENS,
    estimateSignature: "a function (request, context) => { inputTokens, outputTokens }",
  });
  return { selector: limiter, ...rest };
}
