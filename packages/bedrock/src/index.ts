export {
  type EstimateInput,
  estimateBedrockRequest,
  estimateConverseInputTokens,
  estimateInvokeModelInputTokens,
  maxOutputTokens,
} from "./estimate.js";
export {
  type BedrockRequest,
  DEFAULT_OUTPUT_TOKENS,
  LIMITED_COMMANDS,
  type LimitedCommandName,
  type TokenEstimate,
  type WithRateLimitOptions,
} from "./options.js";
export {
  converseUsage,
  headerUsage,
  invocationMetricsUsage,
  NativeStreamUsage,
  nativeBodyUsage,
  type Usage,
} from "./usage.js";
export {
  httpStatusOf,
  type MiddlewareClient,
  RATE_LIMIT_ATTEMPT_MIDDLEWARE,
  RATE_LIMIT_MIDDLEWARE,
  withRateLimit,
} from "./with-rate-limit.js";
