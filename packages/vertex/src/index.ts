export {
  estimateContentsTokens,
  estimateEmbedRequest,
  estimateGeminiRequest,
  type GeminiRequest,
  type GenerationSettings,
} from "./estimate.js";
export {
  DEFAULT_OUTPUT_TOKENS,
  type EstimateContext,
  type TokenEstimate,
  type WithRateLimitOptions,
} from "./options.js";
export {
  statusOf,
  type Usage,
  type UsageMetadata,
  usageFromMetadata,
  usageOfEmbedding,
  usageOfResponse,
} from "./usage.js";
export { withRateLimit } from "./with-rate-limit.js";
