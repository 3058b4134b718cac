import { type LimiterSelector, resolveWrapperOptions } from "@llmratelimiter/core";

/** What one request is expected to cost, reserved before it is sent. */
export interface TokenEstimate {
  inputTokens: number;
  outputTokens: number;
}

/** A billable request as the wrapper sees it, once per HTTP attempt. */
export interface AnthropicRequest {
  /** `messages` (`/v1/messages`, beta included) or `complete` (legacy `/v1/complete`). */
  route: "messages" | "complete";
  /** The request path without its query, e.g. `/v1/messages`. */
  path: string;
  /** The JSON body the SDK is about to send (not a copy: do not mutate it). */
  body: Readonly<Record<string, unknown>>;
  /** `body.model`, or `""` when absent. */
  model: string;
}

export interface AnthropicRateLimitOptions {
  /** One limiter for every model, or a function choosing one per model (`undefined` = not limited). */
  limiter: LimiterSelector;
  /**
   * Replaces the built-in estimate (see `estimateAnthropicRequest`). A field left out keeps the built-in value.
   * @default the built-in heuristic: chars/4 of system, messages, tools, tool_choice; output = max_tokens
   */
  estimate?: ((request: AnthropicRequest) => Partial<TokenEstimate> | undefined) | undefined;
  /**
   * Output tokens to reserve when the request has no `max_tokens` (`max_tokens_to_sample` on `/v1/complete`).
   * The API requires it, so this only matters for unusual requests.
   * @default 4096
   */
  defaultOutputTokens?: number | undefined;
  /** Fail with `WaitTimeoutError` instead of queueing longer than this. @default the limiter's own `maxWaitMs` */
  maxWaitMs?: number | undefined;
}

export const DEFAULT_OUTPUT_TOKENS = 4096;

export interface ResolvedOptions {
  limiter: LimiterSelector;
  estimate: ((request: AnthropicRequest) => Partial<TokenEstimate> | undefined) | undefined;
  defaultOutputTokens: number;
  maxWaitMs: number | undefined;
}

/** Checks the second argument of `withRateLimit` up front, so a typo fails at wrap time rather than per request. */
export function resolveOptions(value: unknown): ResolvedOptions {
  return resolveWrapperOptions<NonNullable<ResolvedOptions["estimate"]>>(value, {
    defaultOutputTokens: DEFAULT_OUTPUT_TOKENS,
    estimateSignature: "a function (request) => { inputTokens?, outputTokens? }",
    maxWaitExpected: "a non-negative finite number of milliseconds",
  });
}
