import { InvalidArgumentError, type LimiterSelector, RateLimiter, validateSelector } from "@llmratelimiter/core";
import type { Endpoint } from "./endpoints.js";
import { DEFAULT_OUTPUT_TOKENS, type TokenEstimate } from "./estimate.js";

/** What a custom `estimate` function is given. */
export interface EstimateContext {
  /** Which API the call goes to. */
  endpoint: Endpoint;
  /** `body.model` ("" when absent). */
  model: string;
  /** The request body as the SDK will send it (before `stream_options` injection). */
  body: unknown;
  /** The built-in estimate, to adjust rather than replace. */
  builtIn: () => TokenEstimate;
}

export interface WithRateLimitOptions {
  /** One limiter for every model, or `(model) => RateLimiter | undefined` (undefined: that model is not limited). */
  limiter: LimiterSelector;
  /**
   * Replaces the built-in estimate (tokenizer for text, JSON of tools, request caps for output).
   * @default the built-in `estimateRequest`
   */
  estimate?: (context: EstimateContext) => TokenEstimate;
  /** Output tokens reserved when a request sets no `max_*tokens` cap. @default 1024 */
  defaultOutputTokens?: number;
  /** Fail with `WaitTimeoutError` instead of queueing longer than this. @default the limiter's `maxWaitMs` (unbounded) */
  maxWaitMs?: number;
}

export interface ResolvedOptions {
  limiter: LimiterSelector;
  estimate: ((context: EstimateContext) => TokenEstimate) | undefined;
  defaultOutputTokens: number;
  maxWaitMs: number | undefined;
}

const KNOWN = new Set(["limiter", "estimate", "defaultOutputTokens", "maxWaitMs"]);

export function resolveOptions(input: unknown): ResolvedOptions {
  if (input instanceof RateLimiter) {
    return { limiter: input, estimate: undefined, defaultOutputTokens: DEFAULT_OUTPUT_TOKENS, maxWaitMs: undefined };
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(
      "options",
      "a RateLimiter or { limiter, estimate?, defaultOutputTokens?, maxWaitMs? }",
      input,
    );
  }
  const options = input as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidArgumentError(`options.${key}`, "no such option", options[key]);
  }
  const limiter = validateSelector("limiter", options.limiter);
  const { estimate, defaultOutputTokens, maxWaitMs } = options;
  if (estimate !== undefined && typeof estimate !== "function") {
    throw new InvalidArgumentError("estimate", "a function (context) => { inputTokens, outputTokens }", estimate);
  }
  if (
    defaultOutputTokens !== undefined &&
    (typeof defaultOutputTokens !== "number" || !Number.isSafeInteger(defaultOutputTokens) || defaultOutputTokens < 0)
  ) {
    throw new InvalidArgumentError("defaultOutputTokens", "a non-negative integer", defaultOutputTokens);
  }
  if (maxWaitMs !== undefined && (typeof maxWaitMs !== "number" || !Number.isFinite(maxWaitMs) || maxWaitMs < 0)) {
    throw new InvalidArgumentError("maxWaitMs", "a non-negative number of milliseconds", maxWaitMs);
  }
  return {
    limiter,
    estimate: estimate as ResolvedOptions["estimate"],
    defaultOutputTokens: defaultOutputTokens ?? DEFAULT_OUTPUT_TOKENS,
    maxWaitMs,
  };
}
