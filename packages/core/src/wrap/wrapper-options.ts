import { InvalidArgumentError } from "../errors.js";
import { RateLimiter } from "../rate-limiter.js";
import { type LimiterSelector, validateSelector } from "./limiter-selector.js";

/** The options every SDK wrapper takes besides a bare `RateLimiter`, validated once, here. */
export interface ResolvedWrapperOptions<E> {
  limiter: LimiterSelector;
  /** The user's estimator, if any. */
  estimate: E | undefined;
  defaultOutputTokens: number;
  maxWaitMs: number | undefined;
}

export interface WrapperOptionRules {
  /** Output tokens reserved when the request names no maximum. */
  defaultOutputTokens: number;
  /** How the wrapper's `estimate` is called, for the error message. */
  estimateSignature: string;
  /** Field named when the argument is neither a RateLimiter nor an object. @default "options" */
  field?: string;
  /** Reject keys that are not options (`options.<key>`). @default false */
  rejectUnknown?: boolean;
  /** Wording of the maxWaitMs error. @default "a non-negative number of milliseconds" */
  maxWaitExpected?: string;
}

const KNOWN = new Set(["limiter", "estimate", "defaultOutputTokens", "maxWaitMs"]);

/** `withRateLimit(client, limiter | { limiter, estimate?, defaultOutputTokens?, maxWaitMs? })`'s second argument. */
export function resolveWrapperOptions<E>(value: unknown, rules: WrapperOptionRules): ResolvedWrapperOptions<E> {
  if (value instanceof RateLimiter) {
    return {
      limiter: value,
      estimate: undefined,
      defaultOutputTokens: rules.defaultOutputTokens,
      maxWaitMs: undefined,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(
      rules.field ?? "options",
      "a RateLimiter or { limiter, estimate?, defaultOutputTokens?, maxWaitMs? }",
      value,
    );
  }
  const options = value as Record<string, unknown>;
  if (rules.rejectUnknown) {
    for (const key of Object.keys(options)) {
      if (!KNOWN.has(key)) throw new InvalidArgumentError(`options.${key}`, "no such option", options[key]);
    }
  }
  const limiter = validateSelector("limiter", options.limiter);
  const { estimate, defaultOutputTokens, maxWaitMs } = options;
  if (estimate !== undefined && typeof estimate !== "function") {
    throw new InvalidArgumentError("estimate", rules.estimateSignature, estimate);
  }
  if (
    defaultOutputTokens !== undefined &&
    !(typeof defaultOutputTokens === "number" && Number.isSafeInteger(defaultOutputTokens) && defaultOutputTokens >= 0)
  ) {
    throw new InvalidArgumentError("defaultOutputTokens", "a non-negative integer", defaultOutputTokens);
  }
  if (maxWaitMs !== undefined && !(typeof maxWaitMs === "number" && Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) {
    throw new InvalidArgumentError(
      "maxWaitMs",
      rules.maxWaitExpected ?? "a non-negative number of milliseconds",
      maxWaitMs,
    );
  }
  return {
    limiter,
    estimate: estimate as E | undefined,
    defaultOutputTokens: (defaultOutputTokens as number | undefined) ?? rules.defaultOutputTokens,
    maxWaitMs: maxWaitMs as number | undefined,
  };
}
