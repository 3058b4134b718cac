import type { RedisClientLike } from "./redis/client.js";
import type { RedisConnectionManager } from "./redis/connection-manager.js";
import type { Store } from "./store/store.js";

/** Limits per window. Set any non-empty subset; an unset limit is not enforced. */
export interface LimitOptions {
  /** Combined tokens per window: `input + burndownRate × output`. */
  tpm?: number;
  /** Input (prompt) tokens per window, enforced separately (split mode, e.g. Vertex Claude, Anthropic ITPM). */
  inputTpm?: number;
  /** Output (completion) tokens per window, enforced separately (e.g. Anthropic OTPM). */
  outputTpm?: number;
  /** Requests per window. */
  rpm?: number;
}

/** Backoff for store calls that fail with a connection error or timeout. Other errors are never retried. */
export interface RetryOptions {
  /** Retries after the first attempt. @default 3 */
  maxRetries?: number;
  /** Delay before the first retry. @default 100 */
  baseDelayMs?: number;
  /** Cap on any one delay. @default 5000 */
  maxDelayMs?: number;
  /** Growth of the delay per retry. @default 2 */
  exponentialBase?: number;
  /** Random spread, as a fraction of the delay (0 to 1), so clients do not retry in lockstep. @default 0.1 */
  jitter?: number;
}

/**
 * What a call does when the store cannot be reached after the retries.
 * - `"allow"`: admit at once, flag the result `degraded: true` and emit `degraded` (fail open, like the original).
 * - `"deny"`: throw {@link StoreUnavailableError} (fail closed).
 * - `"local"`: fall back to an embedded limiter in this process enforcing `localShare` of every limit; results are
 *   flagged `degraded: true`. Calls go back to Redis as soon as it answers again.
 */
export type RedisErrorPolicy = "allow" | "deny" | "local";

export interface RateLimiterOptions extends LimitOptions {
  /**
   * Where the shared state lives: a `redis://` / `rediss://` URL, an ioredis `Redis` or `Cluster` client, a
   * {@link RedisConnectionManager}, or a custom {@link Store}. Unset or `"memory://"`: an embedded in-memory store
   * with the same semantics, for one process.
   */
  redis?: string | RedisClientLike | RedisConnectionManager | undefined;
  /** A store to use instead of `redis` (e.g. one `MemoryStore` shared by several limiters in one process). */
  store?: Store | undefined;
  /** The model (or any name) whose budget this is. Part of the key. */
  model: string;
  /** Window length in seconds; fractional allowed (0.5 = 500 ms) as long as it is a whole number of ms. @default 60 */
  windowSeconds?: number;
  /** Multiplies every limit (1.5 = 150 % of the provider's limit). @default 1 */
  burstMultiplier?: number;
  /**
   * Extra milliseconds every reservation stays counted after its window, so a request that reaches the provider a
   * little later than its slot (network, scheduling) cannot overlap the next window at a provider that enforces a
   * strict sliding window (AWS Bedrock, Vertex AI). 100–250 ms costs well under 1 % of a 60 s window. @default 0
   */
  windowMarginMs?: number;
  /** Weight of an output token in the combined count (`tpm`); AWS Bedrock Claude uses 5. @default 1 */
  burndownRate?: number;
  /** Namespace for keys (per tenant, API key, region…). Part of the key. @default "llmrl" */
  keyPrefix?: string;
  /** See {@link RedisErrorPolicy}. @default "allow" */
  onRedisError?: RedisErrorPolicy;
  /**
   * With `onRedisError: "local"`: the fraction of each limit this process may use on its own while Redis is
   * unreachable. Set it to 1 / (number of processes) to stay within the provider's limit during an outage.
   * @default 0.25
   */
  localShare?: number;
  /** Backoff for connection errors and timeouts. */
  retry?: RetryOptions;
  /** A store call that takes longer than this counts as failed (and is retried). @default 2000 */
  commandTimeoutMs?: number;
  /**
   * After a call exhausted its retries, calls in the next `breakerCooldownMs` make one attempt without retries, so
   * an outage does not cost every caller the whole retry schedule. @default 1000
   */
  breakerCooldownMs?: number;
  /** Reject (with `QueueFullError`) when this many reservations are already waiting. @default unbounded */
  maxQueueDepth?: number;
  /** Default for `acquire({ maxWaitMs })`. @default unbounded */
  maxWaitMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = Object.freeze({
  maxRetries: 3,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  exponentialBase: 2,
  jitter: 0.1,
});

export const DEFAULTS = Object.freeze({
  windowSeconds: 60,
  burstMultiplier: 1,
  burndownRate: 1,
  keyPrefix: "llmrl",
  onRedisError: "allow" as RedisErrorPolicy,
  localShare: 0.25,
  commandTimeoutMs: 2000,
  breakerCooldownMs: 1000,
});

/** One request's cost. Give `inputTokens` (+ `outputTokens`), or `tokens` when you do not split them. */
export interface AcquireRequest {
  /** Prompt tokens (estimate). */
  inputTokens?: number;
  /** Completion tokens to reserve (usually `max_tokens`). @default 0 */
  outputTokens?: number;
  /** Tokens without an input/output split; counted as input. Not together with `inputTokens`. */
  tokens?: number;
  /** Cancels the wait: the promise rejects with `signal.reason` and the reservation is released. */
  signal?: AbortSignal | undefined;
  /** Fail at once with `WaitTimeoutError` (reserving nothing) when the slot is further away than this. */
  maxWaitMs?: number | undefined;
}

export interface AcquireResult {
  /** Pass to `adjust` / `release`. */
  recordId: string;
  /** When the request was admitted: epoch ms on the store's clock. */
  slotTime: number;
  /** How long `acquire` waited for the slot, in ms. */
  waitMs: number;
  /** Reservations ahead of this one that were still waiting when it was queued; 0 = admitted at once. */
  queuePosition: number;
  /** True when the store was unreachable and the policy let the request through unrecorded. */
  degraded: boolean;
  /** What was reserved. */
  inputTokens: number;
  outputTokens: number;
  /** Weighted combined tokens reserved: `ceil(input + burndownRate × output)`. */
  combinedTokens: number;
}

export interface AdjustUsage {
  /** Actual input tokens (absolute, not a delta). Unset keeps the reserved value. */
  actualInput?: number | undefined;
  /** Actual output tokens (absolute, not a delta). Unset keeps the reserved value. */
  actualOutput?: number | undefined;
}

/**
 * - `adjusted`: usage changed; `unchanged`: it already had these values (adjust is idempotent).
 * - `expired`: the reservation's window has passed, it no longer counts anywhere.
 * - `unknown`: no such reservation (wrong limiter, or a forged id).
 * - `released`: the reservation was released before.
 * - `degraded`: the store could not be reached (policy `allow`), or the id came from a degraded acquire.
 */
export type AdjustStatus = "adjusted" | "unchanged" | "expired" | "unknown" | "released" | "degraded";
export type ReleaseStatus = "released" | "already-released" | "expired" | "unknown" | "degraded";

export interface AdjustResult {
  recordId: string;
  status: AdjustStatus;
  /** Waiting reservations that started early thanks to this refund. */
  movedWaiters: number;
}

export interface ReleaseResult {
  recordId: string;
  status: ReleaseStatus;
  movedWaiters: number;
}

export interface PauseResult {
  /** No slot starts before this (epoch ms, store clock). */
  pausedUntil: number;
  degraded: boolean;
}

export interface RateLimitStatus {
  model: string;
  windowSeconds: number;
  /** Combined (burndown-weighted) tokens reserved in the window that ends now. */
  tokensUsed: number;
  tokensLimit: number | null;
  inputTokensUsed: number;
  inputTokensLimit: number | null;
  outputTokensUsed: number;
  outputTokensLimit: number | null;
  /** Requests whose slot is in the window that ends now (waiting ones excluded). */
  requestsUsed: number;
  requestsLimit: number | null;
  /** Reservations waiting for their slot. */
  queueDepth: number;
  /** Combined tokens those waiting reservations hold. */
  queuedTokens: number;
  /** Epoch ms (store clock) until which no slot starts, or null. */
  pausedUntil: number | null;
  degraded: boolean;
}
