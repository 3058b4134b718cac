import { LlmRateLimiterError, Reservation, retryAfterMs, selectLimiter } from "@llmratelimiter/core";
import { estimateAnthropicRequest } from "./estimate.js";
import { type AnthropicRateLimitOptions, type AnthropicRequest, resolveOptions } from "./options.js";
import { ServerSentEvents, tapResponse } from "./tap-body.js";
import { CompletionStreamUsage, MessageStreamUsage, type SettledUsage, usageOfResponse } from "./usage.js";

/**
 * The SDK's middleware contract (`@anthropic-ai/sdk` >= 0.101), written structurally so the wrapper does not pin
 * one major's types: a request, the rest of the chain, and a context carrying the SDK's request options.
 */
export interface MiddlewareRequest extends RequestInit {
  url: string;
  headers: Headers;
}

export interface MiddlewareContextLike {
  readonly options?:
    | {
        method?: string | undefined;
        path?: string | undefined;
        body?: unknown;
        stream?: boolean | undefined;
        signal?: AbortSignal | null | undefined;
      }
    | undefined;
}

export type RateLimitMiddleware = (
  request: MiddlewareRequest,
  next: (request: MiddlewareRequest) => Promise<Response>,
  ctx: MiddlewareContextLike,
) => Promise<Response>;

/** Marks our middleware so a second wrap (or a derived `withOptions()` client) does not add another one. */
export const MIDDLEWARE_MARK: unique symbol = Symbol.for("llmratelimiter.anthropic.middleware");

const ROUTES: Record<string, AnthropicRequest["route"]> = { "/v1/messages": "messages", "/v1/complete": "complete" };

/**
 * The rate-limiting middleware itself, for `new Anthropic({ middleware: [rateLimitMiddleware(limiter)] })`.
 * It runs once per HTTP attempt inside the SDK's retry loop, so every attempt that reaches the provider has been
 * admitted; only `POST /v1/messages` (beta included) and `POST /v1/complete` are limited.
 */
export function rateLimitMiddleware(
  limiterOrOptions: AnthropicRateLimitOptions["limiter"] | AnthropicRateLimitOptions,
) {
  const options = resolveOptions(limiterOrOptions);
  const middleware: RateLimitMiddleware = async (request, next, ctx) => {
    const sdk = ctx.options;
    const route = sdk?.path === undefined ? undefined : ROUTES[sdk.path.split("?")[0] ?? ""];
    const body = sdk?.body;
    if (!sdk || !route || sdk.method?.toLowerCase() !== "post" || typeof body !== "object" || body === null) {
      return next(request);
    }
    const fields = body as Record<string, unknown>;
    const model = typeof fields.model === "string" ? fields.model : "";
    const limiter = selectLimiter(options.limiter, model);
    if (!limiter) return next(request);

    const described: AnthropicRequest = { route, path: sdk.path?.split("?")[0] ?? "", body: fields, model };
    const estimate = {
      ...estimateAnthropicRequest(described, options.defaultOutputTokens),
      ...dropUndefined(options.estimate?.(described)),
    };
    // The request's signal follows the caller's signal; the SDK arms its timeout only around the inner fetch, so
    // time spent queueing here does not count against `timeout`.
    const reservation = await Reservation.open(limiter, {
      inputTokens: estimate.inputTokens,
      outputTokens: estimate.outputTokens,
      signal: request.signal ?? sdk.signal ?? undefined,
      maxWaitMs: options.maxWaitMs,
    }).catch((error: unknown) => {
      throw keepOutOfSdkRetries(error);
    });

    let response: Response;
    try {
      response = await next(request);
    } catch (error) {
      await reservation.release();
      throw error;
    }
    if (!response.ok) {
      // Awaited so a 429's pause is in the store before the SDK's own retry asks for its next slot.
      await reservation.failed(response.status, response.status === 429 ? retryAfterMs(response.headers) : undefined);
      return response;
    }
    return sdk.stream
      ? tapStream(response, route, reservation, request.signal)
      : tapJson(response, reservation, request.signal);
  };
  return Object.assign(middleware, { [MIDDLEWARE_MARK]: true as const });
}

/** Settles to the `usage` of a JSON body once the SDK has read it; keeps the estimate if it was cut short. */
function tapJson(response: Response, reservation: Reservation, signal: AbortSignal | null | undefined): Response {
  if (!response.headers.get("content-type")?.includes("json")) {
    void reservation.settle({});
    return response;
  }
  let text = "";
  return tapResponse(
    response,
    (part) => {
      text += part;
    },
    ({ completed }) => {
      let usage: SettledUsage = {};
      try {
        if (completed) usage = usageOfResponse(JSON.parse(text));
      } catch {
        // Not the JSON the SDK expected: it reports that to the caller; the estimate stands.
      }
      void reservation.settle(usage);
    },
    signal,
  );
}

/**
 * Follows the event stream as the caller consumes it and settles when it ends: completed, broken off (`break`,
 * abort), or failed. An `event: error` or a dropped connection still leaves the tokens streamed before it spent.
 */
function tapStream(
  response: Response,
  route: AnthropicRequest["route"],
  reservation: Reservation,
  signal: AbortSignal | null | undefined,
): Response {
  const tracker = route === "complete" ? new CompletionStreamUsage() : new MessageStreamUsage();
  const events = new ServerSentEvents((event, data) => {
    if (event === "error" || event === "ping") return;
    try {
      tracker.push(JSON.parse(data));
    } catch {
      // The SDK reports unparsable events to the caller; they carry no usage.
    }
  });
  return tapResponse(
    response,
    (text) => events.push(text),
    () => void reservation.settle(tracker.usage()),
    signal,
  );
}

/**
 * The SDK takes any middleware error whose `String()` matches `/timed? ?out/i` for a network timeout: it retries
 * the request and replaces the error with `APIConnectionTimeoutError`. `WaitTimeoutError` would match by its name,
 * so limiter errors get a `toString` that does not, and reach the caller as they are.
 */
function keepOutOfSdkRetries(error: unknown): unknown {
  if (LlmRateLimiterError.isInstance(error)) {
    const text = `${error.name}: ${error.message}`.replace(/(time)(d?) ?(out)/gi, "$1$2-$3");
    Object.defineProperty(error, "toString", { value: () => text, configurable: true, writable: true });
  }
  return error;
}

function dropUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
