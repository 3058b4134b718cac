import { type LimiterSelector, resolveWrapperOptions } from "@llmratelimiter/core";
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

export function resolveOptions(input: unknown): ResolvedOptions {
  return resolveWrapperOptions<NonNullable<ResolvedOptions["estimate"]>>(input, {
    defaultOutputTokens: DEFAULT_OUTPUT_TOKENS,
    estimateSignature: "a function (context) => { inputTokens, outputTokens }",
    rejectUnknown: true,
  });
}
