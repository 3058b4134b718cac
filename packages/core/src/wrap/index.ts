/** The toolkit every SDK wrapper is built from (also usable for wrappers of your own). */
export { BINARY_PART_TOKENS, estimateTextTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "./estimate.js";
export { type LimiterSelector, selectLimiter, validateSelector } from "./limiter-selector.js";
export { backoffFor429, type OpenOptions, Reservation, tapAsyncIterable } from "./reservation.js";
export { type HeaderSource, headerGetter, parseGoDuration, retryAfterMs } from "./retry-after.js";
export { type ResolvedWrapperOptions, resolveWrapperOptions, type WrapperOptionRules } from "./wrapper-options.js";
