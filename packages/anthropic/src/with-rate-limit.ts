import { InvalidArgumentError, type RateLimiter } from "@llmratelimiter/core";
import { MIDDLEWARE_MARK, rateLimitMiddleware } from "./middleware.js";
import type { AnthropicRateLimitOptions } from "./options.js";

const WRAPPED: unique symbol = Symbol.for("llmratelimiter.anthropic.wrapped");

/**
 * Rate-limits an Anthropic client in place and returns the same instance: every `POST /v1/messages` (plain and
 * beta: create, stream, parse, toolRunner) and legacy `POST /v1/complete` waits for its slot, and settles to the
 * usage the API reports. Works on `Anthropic`, and on `AnthropicBedrock`/`AnthropicVertex` from SDK versions whose
 * middleware sees the canonical request. Wrapping twice is a no-op.
 *
 * It appends one middleware to the client's `middleware` list (`@anthropic-ai/sdk` >= 0.101), which the SDK runs
 * per HTTP attempt inside its retry loop: each retry is admitted like a new request.
 */
export function withRateLimit<C extends object>(
  client: C,
  limiterOrOptions: RateLimiter | AnthropicRateLimitOptions,
): C {
  const target = client as C & { middleware?: unknown; [WRAPPED]?: true };
  if (typeof client !== "object" || client === null || !Array.isArray(target.middleware)) {
    throw new InvalidArgumentError(
      "client",
      "an Anthropic client from @anthropic-ai/sdk >= 0.101 (one with a `middleware` list)",
      client,
    );
  }
  const middleware = rateLimitMiddleware(limiterOrOptions);
  if (target[WRAPPED] || target.middleware.some((mw) => typeof mw === "function" && MIDDLEWARE_MARK in mw)) {
    return client;
  }
  // Last among the client's middleware: a user middleware that retries by calling `next` again still goes through
  // the limiter on each of its attempts.
  target.middleware = [...target.middleware, middleware];
  Object.defineProperty(target, WRAPPED, { value: true, enumerable: false });
  return client;
}
