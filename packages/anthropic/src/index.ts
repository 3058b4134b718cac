export { estimateAnthropicRequest, estimateMessagesInputTokens } from "./estimate.js";
export {
  type MiddlewareContextLike,
  type MiddlewareRequest,
  type RateLimitMiddleware,
  rateLimitMiddleware,
} from "./middleware.js";
export {
  type AnthropicRateLimitOptions,
  type AnthropicRequest,
  DEFAULT_OUTPUT_TOKENS,
  type TokenEstimate,
} from "./options.js";
export { CompletionStreamUsage, MessageStreamUsage, type SettledUsage, usageOfResponse } from "./usage.js";
export { withRateLimit } from "./with-rate-limit.js";
