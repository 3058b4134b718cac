import { type LimiterSelector, resolveWrapperOptions } from "@llmratelimiter/core";

/** The Bedrock runtime commands that spend model quota, and so go through the limiter. */
export const LIMITED_COMMANDS = [
  "ConverseCommand",
  "ConverseStreamCommand",
  "InvokeModelCommand",
  "InvokeModelWithResponseStreamCommand",
] as const;

export type LimitedCommandName = (typeof LIMITED_COMMANDS)[number];

/** One call as the estimator sees it: the command's name and the input the caller gave it. */
export interface BedrockRequest {
  commandName: LimitedCommandName;
  modelId: string;
  input: Record<string, unknown>;
}

/** A token estimate; a side left unset falls back to the built-in estimate. */
export interface TokenEstimate {
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
}

export interface WithRateLimitOptions {
  /** One limiter for every model, or a function choosing one per `modelId` (undefined = not limited). */
  limiter: LimiterSelector;
  /**
   * Replaces the built-in estimate ({@link estimateBedrockRequest}) for some or all calls. Return `undefined`, or
   * leave a side unset, to keep the built-in value for it.
   * @default the built-in heuristic
   */
  estimate?: ((request: BedrockRequest) => TokenEstimate | undefined) | undefined;
  /**
   * Output tokens to reserve when the request sets no cap (`inferenceConfig.maxTokens`, or the native body's
   * `max_tokens`, `max_gen_len`, …). Bedrock itself then reserves the model's maximum output (64K+ for recent
   * Claude models), so set a cap on the request rather than relying on this.
   * @default 4096
   */
  defaultOutputTokens?: number | undefined;
  /** Fail with `WaitTimeoutError` instead of queueing longer than this. @default the limiter's own `maxWaitMs` */
  maxWaitMs?: number | undefined;
}

export interface ResolvedOptions {
  limiter: LimiterSelector;
  estimate: ((request: BedrockRequest) => TokenEstimate | undefined) | undefined;
  defaultOutputTokens: number;
  maxWaitMs: number | undefined;
}

export const DEFAULT_OUTPUT_TOKENS = 4096;

export function resolveOptions(value: unknown): ResolvedOptions {
  return resolveWrapperOptions<NonNullable<ResolvedOptions["estimate"]>>(value, {
    defaultOutputTokens: DEFAULT_OUTPUT_TOKENS,
    estimateSignature: "a function (request) => { inputTokens?, outputTokens? }",
    field: "limiter",
    maxWaitExpected: "a non-negative finite number of milliseconds",
  });
}
