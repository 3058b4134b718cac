/**
 * Every error this library throws extends {@link LlmRateLimiterError}. Checks use `isInstance` (a `Symbol.for`
 * marker) rather than `instanceof`, so they still work when two copies of the package end up in one process.
 */
const MARKER = Symbol.for("llmratelimiter.error");

export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "REQUEST_TOO_LARGE"
  | "WAIT_TIMEOUT"
  | "QUEUE_FULL"
  | "STORE_UNAVAILABLE"
  | "STORE_ERROR"
  | "LIMITER_CLOSED";

export class LlmRateLimiterError extends Error {
  readonly [MARKER] = true;
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  static isInstance(error: unknown): error is LlmRateLimiterError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** A value the caller passed is not acceptable. Nothing was changed. */
export class InvalidArgumentError extends LlmRateLimiterError {
  /** The option or argument at fault, e.g. `tpm` or `acquire.inputTokens`. */
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, expected: string, value: unknown) {
    super("INVALID_ARGUMENT", `Invalid \`${field}\`: expected ${expected}, got ${describe(value)}`);
    this.field = field;
    this.value = value;
  }

  static override isInstance(error: unknown): error is InvalidArgumentError {
    return LlmRateLimiterError.isInstance(error) && error.code === "INVALID_ARGUMENT";
  }
}

/** The request costs more than a limit allows in a whole window, so it could never be admitted. */
export class RequestTooLargeError extends LlmRateLimiterError {
  /** Which limit: `tpm`, `inputTpm`, `outputTpm` or `rpm`. */
  readonly limitName: string;
  /** The limit per window, burst multiplier applied. */
  readonly limit: number;
  readonly requested: number;

  constructor(limitName: string, limit: number, requested: number) {
    super(
      "REQUEST_TOO_LARGE",
      `Request needs ${requested} against \`${limitName}\` but the limit is ${limit} per window: it can never be admitted`,
    );
    this.limitName = limitName;
    this.limit = limit;
    this.requested = requested;
  }
}

/** The earliest slot is further away than `maxWaitMs`. Nothing was reserved. */
export class WaitTimeoutError extends LlmRateLimiterError {
  /** When the request would have started, counted from now: retrying after this is likely to succeed. */
  readonly retryAfterMs: number;
  readonly maxWaitMs: number;
  /** Reservations already waiting. */
  readonly queueDepth: number;

  constructor(retryAfterMs: number, maxWaitMs: number, queueDepth: number) {
    super(
      "WAIT_TIMEOUT",
      `The earliest slot is in ${retryAfterMs} ms, more than maxWaitMs ${maxWaitMs} (${queueDepth} waiting); nothing reserved`,
    );
    this.retryAfterMs = retryAfterMs;
    this.maxWaitMs = maxWaitMs;
    this.queueDepth = queueDepth;
  }
}

/** `maxQueueDepth` reservations are already waiting. Nothing was reserved. */
export class QueueFullError extends LlmRateLimiterError {
  readonly queueDepth: number;
  readonly maxQueueDepth: number;
  readonly retryAfterMs: number;

  constructor(queueDepth: number, maxQueueDepth: number, retryAfterMs: number) {
    super("QUEUE_FULL", `${queueDepth} reservations are waiting, maxQueueDepth is ${maxQueueDepth}; nothing reserved`);
    this.queueDepth = queueDepth;
    this.maxQueueDepth = maxQueueDepth;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The store could not be reached within the retry budget and `onRedisError` is `"deny"`. */
export class StoreUnavailableError extends LlmRateLimiterError {
  readonly operation: string;
  readonly attempts: number;

  constructor(operation: string, attempts: number, cause: unknown) {
    super(
      "STORE_UNAVAILABLE",
      `Rate limit store unavailable for ${operation} after ${attempts} attempt(s): ${errorMessage(cause)}`,
      { cause },
    );
    this.operation = operation;
    this.attempts = attempts;
  }
}

/** The store answered with something that is not a connectivity problem (script error, wrong type, foreign key). */
export class StoreError extends LlmRateLimiterError {
  readonly operation: string;

  constructor(operation: string, message: string, cause?: unknown) {
    super("STORE_ERROR", `Rate limit store failed in ${operation}: ${message}`, { cause });
    this.operation = operation;
  }
}

/** The limiter was closed; pending waits are rejected with this. */
export class LimiterClosedError extends LlmRateLimiterError {
  constructor() {
    super("LIMITER_CLOSED", "The rate limiter is closed");
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(value: unknown): string {
  if (typeof value === "string")
    return `${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)} (string)`;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return `${String(value)} (${typeof value})`;
  }
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? `an object` : typeof value;
}
