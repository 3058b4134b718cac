/**
 * All validation lives here, with one message form: "Invalid `field`: expected …, got value (type)". Every public
 * entry point validates before touching the store, so bad input changes no state.
 */
import { InvalidArgumentError } from "./errors.js";
import type { AcquireRequest, AdjustUsage, RateLimiterOptions, RetryOptions } from "./options.js";

/** Largest token count one request may carry (the store packs counts in 32 bits). */
export const MAX_TOKENS = 0xffffffff;

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidArgumentError(field, expected, value);
}

export function validateCount(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TOKENS) {
    fail(field, `an integer from 0 to ${MAX_TOKENS}`, value);
  }
  return value;
}

function validateLimit(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_TOKENS) {
    fail(field, `a positive integer up to ${MAX_TOKENS}, or unset`, value);
  }
  return value;
}

function validateNumber(field: string, value: unknown, expected: string, ok: (n: number) => boolean): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) fail(field, expected, value);
  return value;
}

export function validateMs(field: string, value: unknown): number {
  return validateNumber(field, value, "a finite number of ms >= 0", (n) => n >= 0);
}

export function validateRedisUrl(field: string, value: unknown): string {
  if (typeof value !== "string" || !/^(rediss?|memory):\/\//.test(value)) {
    fail(field, "a redis://, rediss:// or memory:// URL", value);
  }
  return value;
}

export function validateRetry(retry: unknown): Required<RetryOptions> | undefined {
  if (retry === undefined) return undefined;
  if (typeof retry !== "object" || retry === null) fail("retry", "an object", retry);
  const r = retry as RetryOptions;
  const known = new Set(["maxRetries", "baseDelayMs", "maxDelayMs", "exponentialBase", "jitter"]);
  for (const key of Object.keys(r)) if (!known.has(key)) fail(`retry.${key}`, "no such option", key);
  return {
    maxRetries: validateNumber(
      "retry.maxRetries",
      r.maxRetries ?? 3,
      "an integer from 0 to 100",
      (n) => Number.isInteger(n) && n <= 100 && n >= 0,
    ),
    baseDelayMs: validateMs("retry.baseDelayMs", r.baseDelayMs ?? 100),
    maxDelayMs: validateMs("retry.maxDelayMs", r.maxDelayMs ?? 5000),
    exponentialBase: validateNumber("retry.exponentialBase", r.exponentialBase ?? 2, "a number >= 1", (n) => n >= 1),
    jitter: validateNumber("retry.jitter", r.jitter ?? 0.1, "a number from 0 to 1", (n) => n >= 0 && n <= 1),
  };
}

const OPTION_KEYS = new Set([
  "redis",
  "store",
  "model",
  "tpm",
  "inputTpm",
  "outputTpm",
  "rpm",
  "windowSeconds",
  "windowMarginMs",
  "burstMultiplier",
  "burndownRate",
  "keyPrefix",
  "onRedisError",
  "localShare",
  "retry",
  "commandTimeoutMs",
  "breakerCooldownMs",
  "maxQueueDepth",
  "maxWaitMs",
]);

export interface ValidatedOptions {
  model: string;
  limits: { tpm?: number; inputTpm?: number; outputTpm?: number; rpm?: number };
  windowMs: number;
  windowMarginMs: number;
  burstMultiplier: number;
  burndownRate: number;
  keyPrefix: string;
  onRedisError: "allow" | "deny" | "local";
  localShare: number;
  retry: Required<RetryOptions> | undefined;
  commandTimeoutMs: number;
  breakerCooldownMs: number;
  maxQueueDepth: number | undefined;
  maxWaitMs: number | undefined;
}

export function validateOptions(options: RateLimiterOptions): ValidatedOptions {
  if (typeof options !== "object" || options === null) fail("options", "an object", options);
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) fail(key, "no such option", key);
  const model = options.model;
  if (typeof model !== "string" || model.length === 0) fail("model", "a non-empty string", model);
  const limits = {
    ...opt("tpm", validateLimit("tpm", options.tpm)),
    ...opt("inputTpm", validateLimit("inputTpm", options.inputTpm)),
    ...opt("outputTpm", validateLimit("outputTpm", options.outputTpm)),
    ...opt("rpm", validateLimit("rpm", options.rpm)),
  };
  if (Object.keys(limits).length === 0) {
    fail("tpm", "at least one of tpm, inputTpm, outputTpm, rpm to be set", options.tpm);
  }
  const windowSeconds = validateNumber(
    "windowSeconds",
    options.windowSeconds ?? 60,
    "a number of seconds > 0 that is a whole number of ms (e.g. 60, 0.5), at most 1 day",
    (n) => n > 0 && n <= 86_400 && Number.isInteger(Math.round(n * 1e6) / 1e3),
  );
  const keyPrefix = options.keyPrefix ?? "llmrl";
  if (typeof keyPrefix !== "string" || keyPrefix.length === 0) fail("keyPrefix", "a non-empty string", keyPrefix);
  const onRedisError = options.onRedisError ?? "allow";
  if (onRedisError !== "allow" && onRedisError !== "deny" && onRedisError !== "local") {
    fail("onRedisError", '"allow", "deny" or "local"', onRedisError);
  }
  const windowMs = Math.round(windowSeconds * 1000);
  return {
    model,
    limits,
    windowMs,
    windowMarginMs: validateNumber(
      "windowMarginMs",
      options.windowMarginMs ?? 0,
      "a whole number of ms from 0 to the window length",
      (n) => Number.isInteger(n) && n >= 0 && n <= windowMs,
    ),
    burstMultiplier: validateNumber(
      "burstMultiplier",
      options.burstMultiplier ?? 1,
      "a number > 0 and <= 1000",
      (n) => n > 0 && n <= 1000,
    ),
    burndownRate: validateNumber(
      "burndownRate",
      options.burndownRate ?? 1,
      "a number from 0 to 1000",
      (n) => n >= 0 && n <= 1000,
    ),
    keyPrefix,
    onRedisError,
    localShare: validateNumber(
      "localShare",
      options.localShare ?? 0.25,
      "a fraction > 0 and <= 1",
      (n) => n > 0 && n <= 1,
    ),
    retry: validateRetry(options.retry),
    commandTimeoutMs: validateNumber(
      "commandTimeoutMs",
      options.commandTimeoutMs ?? 2000,
      "a number of ms > 0",
      (n) => n > 0,
    ),
    breakerCooldownMs: validateMs("breakerCooldownMs", options.breakerCooldownMs ?? 1000),
    maxQueueDepth:
      options.maxQueueDepth === undefined
        ? undefined
        : validateNumber(
            "maxQueueDepth",
            options.maxQueueDepth,
            "an integer >= 0",
            (n) => Number.isInteger(n) && n >= 0,
          ),
    maxWaitMs: options.maxWaitMs === undefined ? undefined : validateMs("maxWaitMs", options.maxWaitMs),
  };
}

function opt<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

export interface ValidatedRequest {
  input: number;
  output: number;
}

const ACQUIRE_FIELDS = new Set(["inputTokens", "outputTokens", "tokens", "signal", "maxWaitMs"]);

export function validateAcquire(request: AcquireRequest): ValidatedRequest {
  if (typeof request !== "object" || request === null) fail("acquire.request", "an object", request);
  for (const key of Object.keys(request)) if (!ACQUIRE_FIELDS.has(key)) fail(`acquire.${key}`, "no such field", key);
  const { inputTokens, outputTokens, tokens } = request;
  if (tokens !== undefined && inputTokens !== undefined) {
    fail("acquire.tokens", "either tokens or inputTokens, not both", tokens);
  }
  if (tokens === undefined && inputTokens === undefined && outputTokens === undefined) {
    fail("acquire.inputTokens", "inputTokens, outputTokens or tokens", inputTokens);
  }
  const input = validateCount(
    tokens !== undefined ? "acquire.tokens" : "acquire.inputTokens",
    tokens ?? inputTokens ?? 0,
  );
  const output = validateCount("acquire.outputTokens", outputTokens ?? 0);
  if (request.maxWaitMs !== undefined) validateMs("acquire.maxWaitMs", request.maxWaitMs);
  if (request.signal !== undefined && !(request.signal instanceof AbortSignal)) {
    fail("acquire.signal", "an AbortSignal", request.signal);
  }
  return { input, output };
}

export function validateAdjust(recordId: unknown, usage: AdjustUsage): void {
  validateRecordId("adjust.recordId", recordId);
  if (typeof usage !== "object" || usage === null) fail("adjust.usage", "an object", usage);
  for (const key of Object.keys(usage)) {
    if (key !== "actualInput" && key !== "actualOutput") fail(`adjust.${key}`, "no such field", key);
  }
  if (usage.actualInput === undefined && usage.actualOutput === undefined) {
    fail("adjust.actualOutput", "actualInput and/or actualOutput", undefined);
  }
  if (usage.actualInput !== undefined) validateCount("adjust.actualInput", usage.actualInput);
  if (usage.actualOutput !== undefined) validateCount("adjust.actualOutput", usage.actualOutput);
}

export function validateRecordId(field: string, recordId: unknown): string {
  if (typeof recordId !== "string" || recordId.length === 0 || recordId.length > 64) {
    fail(field, "a record id returned by acquire", recordId);
  }
  return recordId;
}

export function validatePause(durationMs: unknown): number {
  return validateNumber(
    "pause.durationMs",
    durationMs,
    "a number of ms > 0, at most 1 day",
    (n) => n > 0 && n <= 86_400_000,
  );
}
