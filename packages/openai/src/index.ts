export { type Endpoint, endpointFor } from "./endpoints.js";
export { DEFAULT_OUTPUT_TOKENS, type EstimateOptions, estimateRequest, type TokenEstimate } from "./estimate.js";
export type { EstimateContext, WithRateLimitOptions } from "./options.js";
export { encodingFor, loadTokenizer, type TokenCounter, tokenCounterFor } from "./tokenizer.js";
export { type ReportedUsage, responseUsage, streamItemUsage, usageOf } from "./usage.js";
export { withRateLimit } from "./with-rate-limit.js";
