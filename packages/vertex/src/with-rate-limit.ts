import type { RateLimiter } from "@llmratelimiter/core";
import { InvalidArgumentError } from "@llmratelimiter/core";
import { isGenAIClient, wrapGenAI } from "./genai.js";
import { resolveOptions, type WithRateLimitOptions } from "./options.js";
import { isVertexAIClient, wrapVertexAI } from "./vertexai.js";

const WRAPPED = Symbol.for("llmratelimiter.vertex.wrapped");

/**
 * Rate-limits a `GoogleGenAI` (@google/genai) or `VertexAI` (@google-cloud/vertexai) client in place and returns
 * the same instance. Every HTTP call to generateContent / streamGenerateContent / embedContent is admitted by the
 * limiter first and settled to the usage Google reports. Wrapping an already wrapped client does nothing.
 */
export function withRateLimit<T extends object>(client: T, limiterOrOptions: RateLimiter | WithRateLimitOptions): T {
  const options = resolveOptions(limiterOrOptions);
  if (typeof client !== "object" || client === null) {
    throw new InvalidArgumentError("client", "a GoogleGenAI or VertexAI instance", client);
  }
  if ((client as Record<symbol, unknown>)[WRAPPED]) return client;
  if (isGenAIClient(client)) wrapGenAI(client, options);
  else if (isVertexAIClient(client)) wrapVertexAI(client, options);
  else throw new InvalidArgumentError("client", "a GoogleGenAI or VertexAI instance", client);
  Object.defineProperty(client, WRAPPED, { value: true });
  return client;
}
