export {
  type ErrorCode,
  InvalidArgumentError,
  LimiterClosedError,
  LlmRateLimiterError,
  QueueFullError,
  RequestTooLargeError,
  StoreError,
  StoreUnavailableError,
  WaitTimeoutError,
} from "./errors.js";
export { escapeKeyPart, type LimiterKeys, limiterKeys } from "./keys.js";
export {
  type AcquireRequest,
  type AcquireResult,
  type AdjustResult,
  type AdjustStatus,
  type AdjustUsage,
  DEFAULT_RETRY,
  DEFAULTS,
  type LimitOptions,
  type PauseResult,
  type RateLimiterOptions,
  type RateLimitStatus,
  type RedisErrorPolicy,
  type ReleaseResult,
  type ReleaseStatus,
  type RetryOptions,
} from "./options.js";
export { RateLimiter, type RateLimiterEvents } from "./rate-limiter.js";
export { ioredisAdapter, type RedisAdapter, type RedisClientLike } from "./redis/client.js";
export { RedisConnectionManager, type RedisConnectionManagerOptions } from "./redis/connection-manager.js";
export {
  type NodeRedisAdapterOptions,
  type NodeRedisClientLike,
  type NodeRedisSubscriberLike,
  nodeRedisAdapter,
} from "./redis/node-redis.js";
export { backoffDelay, isRetryable } from "./retry.js";
export { MemoryStore, type MemoryStoreOptions } from "./store/memory-store.js";
export { MAX_BATCH, RedisStore, SCRIPTS, STATE_LAYOUT } from "./store/redis-store.js";
export type {
  LimiterSpec,
  MoveNotice,
  Quad,
  Store,
  StoreAcquireArgs,
  StoreAcquireReply,
  StoreStatus,
} from "./store/store.js";
export { MAX_TOKENS } from "./validate.js";
export * from "./wrap/index.js";
