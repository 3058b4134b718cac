import { InvalidArgumentError, type LimiterSelector, RateLimiter, validateSelector } from "@llmratelimiter/core";

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
  if (value instanceof RateLimiter) {
    return { selector: value, estimate: undefined, defaultOutputTokens: DEFAULT_OUTPUT_TOKENS, maxWaitMs: undefined };
  }
  if (typeof value !== "object" || value === null) {
    throw new InvalidArgumentError(
      "options",
      "a RateLimiter or { limiter, estimate?, defaultOutputTokens?, maxWaitMs? }",
      value,
    );
  }
  const options = value as Record<string, unknown>;
  const selector = validateSelector("limiter", options.limiter);
  const { estimate, defaultOutputTokens, maxWaitMs } = options;
  if (estimate !== undefined && typeof estimate !== "function") {
    throw new InvalidArgumentError(
      "estimate",
      "a function (request, context) => { inputTokens, outputTokens }",
      estimate,
    );
  }
  if (
    defaultOutputTokens !== undefined &&
    !(typeof defaultOutputTokens === "number" && Number.isSafeInteger(defaultOutputTokens) && defaultOutputTokens >= 0)
  ) {
    throw new InvalidArgumentError("defaultOutputTokens", "a non-negative integer", defaultOutputTokens);
  }
  if (maxWaitMs !== undefined && !(typeof maxWaitMs === "number" && Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) {
    throw new InvalidArgumentError("maxWaitMs", "a non-negative number of milliseconds", maxWaitMs);
  }
  return {
    selector,
    estimate: estimate as ResolvedOptions["estimate"],
    defaultOutputTokens: defaultOutputTokens ?? DEFAULT_OUTPUT_TOKENS,
    maxWaitMs,
  };
}
