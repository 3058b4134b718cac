import { InvalidArgumentError, type RateLimiter, Reservation, retryAfterMs, selectLimiter } from "@llmratelimiter/core";
import { type Endpoint, endpointFor } from "./endpoints.js";
import { estimateRequest, type TokenEstimate } from "./estimate.js";
import { type ResolvedOptions, resolveOptions, type WithRateLimitOptions } from "./options.js";
import { isStreamLike, tapStream } from "./stream.js";
import { loadTokenizer } from "./tokenizer.js";
import { type ReportedUsage, responseUsage } from "./usage.js";

/** Marks a wrapped client, so wrapping it again changes nothing. */
const WRAPPED = Symbol.for("llmratelimiter.openai.wrapped");
/** Carries the call's state on the request options, which the SDK hands to `prepareRequest` on every attempt. */
const CALL: unique symbol = Symbol("llmratelimiter.openai.call");
/** Carries one attempt's reservation on its RequestInit; `fetchWithTimeout` spreads it into what `fetch` gets. */
const ATTEMPT: unique symbol = Symbol("llmratelimiter.openai.attempt");

type Json = Record<PropertyKey, unknown>;
type Fetch = (url: unknown, init?: Json) => Promise<Response>;

interface ResponseProps {
  options?: { stream?: unknown } | undefined;
}

/** The APIPromise surface we rely on (same in openai 5–7). */
interface APIPromiseLike {
  _thenUnwrap(transform: (data: unknown, props: ResponseProps) => unknown): APIPromiseLike;
  asResponse(): Promise<unknown>;
}

/** The client internals we patch as own properties (never a Proxy: the SDK uses #private fields). */
interface ClientInternals {
  post(path: string, opts?: unknown): APIPromiseLike;
  prepareRequest?(request: Json, context: { url: string; options: Json }): Promise<void>;
  fetch?: Fetch;
  [WRAPPED]?: true;
}

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null;
const isPlainObject = (value: unknown): value is Json =>
  isRecord(value) && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

/**
 * One logical call (`create`, `parse`, a `stream` helper round…): its estimate and the reservation of the HTTP
 * attempt in flight. The first attempt's reservation is taken in `post` (before the SDK builds the request, so
 * queueing does not eat its timeout); every SDK retry takes its own in `prepareRequest`.
 */
class Call {
  #pending: Reservation | undefined;
  current: Reservation;

  constructor(
    readonly limiter: RateLimiter,
    readonly endpoint: Endpoint,
    readonly estimate: TokenEstimate,
    readonly signal: AbortSignal | undefined,
    readonly maxWaitMs: number | undefined,
    readonly hideUsageChunks: boolean,
    first: Reservation,
  ) {
    this.#pending = first;
    this.current = first;
  }

  /** The reservation for the HTTP attempt about to be sent: the one from `post` first, then a new one per retry. */
  async nextAttempt(): Promise<Reservation> {
    const pending = this.#pending;
    if (pending) {
      this.#pending = undefined;
      return pending;
    }
    this.current = await Reservation.open(this.limiter, {
      ...this.estimate,
      signal: this.signal,
      maxWaitMs: this.maxWaitMs,
    });
    return this.current;
  }

  /** The parsed response (or stream) of the attempt that succeeded. */
  onData(data: unknown, props: ResponseProps): unknown {
    const reservation = this.current;
    if (props.options?.stream && isStreamLike(data)) {
      tapStream(data, this.endpoint, this.hideUsageChunks, {
        onUsage: (usage) => void reservation.settle(usage),
        // Interrupted: keep the estimate, or what was visibly streamed if that is more. Settled explicitly (not
        // left open) so the reservation is final and observable.
        onEndWithoutUsage: (streamed) => void reservation.settle(keepEstimate(reservation, streamed)),
      });
      return data;
    }
    void reservation.settle(responseUsage(this.endpoint, data) ?? keepEstimate(reservation, 0));
    return data;
  }

  /** The call failed. Attempts already settled by the `fetch` hook stay as they are (settling is once-only). */
  onError(error: unknown): void {
    const status = isRecord(error) && typeof error.status === "number" ? error.status : undefined;
    const headers = isRecord(error) ? (error.headers as Headers | undefined) : undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending && pending !== this.current) void pending.release();
    void this.current.failed(status, status === 429 ? retryAfterMs(headers) : undefined);
  }
}

function keepEstimate(reservation: Reservation, streamedOutput: number): ReportedUsage {
  const { inputTokens, outputTokens } = reservation.result;
  return { input: inputTokens, output: Math.max(outputTokens, streamedOutput) };
}

async function openCall(options: ResolvedOptions, endpoint: Endpoint, requestOptions: Json): Promise<Call | undefined> {
  const body = requestOptions.body;
  const model = isRecord(body) && typeof body.model === "string" ? body.model : "";
  const limiter = selectLimiter(options.limiter, model);
  if (!limiter) return undefined;
  await loadTokenizer(model);
  const builtIn = () => estimateRequest(endpoint, body, { defaultOutputTokens: options.defaultOutputTokens });
  const estimate = options.estimate ? options.estimate({ endpoint, model, body, builtIn }) : builtIn();
  const signal = (requestOptions.signal ?? undefined) as AbortSignal | undefined;
  const first = await Reservation.open(limiter, { ...estimate, signal, maxWaitMs: options.maxWaitMs });
  return new Call(limiter, endpoint, estimate, signal, options.maxWaitMs, wantsInjectedUsage(endpoint, body), first);
}

/** Chat and legacy completions streams report usage only when asked; we ask, and hide the answer from the caller. */
function wantsInjectedUsage(endpoint: Endpoint, body: unknown): boolean {
  if (endpoint !== "chat" && endpoint !== "completions") return false;
  if (!isPlainObject(body) || body.stream !== true) return false;
  return !(isRecord(body.stream_options) && body.stream_options.include_usage === true);
}

function withIncludeUsage(body: Json): Json {
  const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
  return { ...body, stream_options: { ...streamOptions, include_usage: true } };
}

/**
 * Rate-limits an OpenAI client (openai 5–7) in place and returns the same instance. Chat completions (and `parse`,
 * `stream`, `runTools`), Responses (`create`, `parse`, `stream`, `compact`), legacy completions and embeddings wait
 * for their slot, then settle to the reported usage; every SDK retry is admitted separately. Wrapping twice is a
 * no-op. Clients derived later with `withOptions()` are not wrapped: wrap them too.
 */
export function withRateLimit<C extends { post(path: string, ...rest: never[]): unknown }>(
  client: C,
  limiterOrOptions: RateLimiter | WithRateLimitOptions,
): C {
  if (!isRecord(client) || typeof (client as Json).post !== "function") {
    throw new InvalidArgumentError("client", "an OpenAI client instance", client);
  }
  const options = resolveOptions(limiterOrOptions);
  const internals = client as unknown as ClientInternals;
  if (internals[WRAPPED]) return client;
  Object.defineProperty(internals, WRAPPED, { value: true });

  const post = internals.post;
  internals.post = function rateLimitedPost(path: string, opts?: unknown): APIPromiseLike {
    const endpoint = endpointFor(path);
    if (!endpoint) return post.call(this, path, opts);
    let call: Call | undefined;
    const gated = Promise.resolve(opts).then(async (resolved) => {
      const requestOptions: Json = isRecord(resolved) ? resolved : {};
      call = await openCall(options, endpoint, requestOptions);
      if (!call) return resolved;
      const body = call.hideUsageChunks ? withIncludeUsage(requestOptions.body as Json) : requestOptions.body;
      return { ...requestOptions, body, [CALL]: call };
    });
    const promise = post.call(this, path, gated);
    // Observe failures without parsing: a second parse of the body would break the caller's `_thenUnwrap`.
    promise.asResponse().then(
      () => {},
      (error: unknown) => call?.onError(error),
    );
    return promise._thenUnwrap((data, props) => (call ? call.onData(data, props) : data));
  };

  const prepareRequest = internals.prepareRequest;
  if (typeof prepareRequest === "function") {
    internals.prepareRequest = async function rateLimitedPrepareRequest(request, context) {
      const call = context?.options?.[CALL];
      if (call instanceof Call) request[ATTEMPT] = await call.nextAttempt();
      return prepareRequest.call(this, request, context);
    };
  }

  const fetch = internals.fetch;
  if (typeof fetch === "function") {
    internals.fetch = async (url, init) => {
      const attempt = init?.[ATTEMPT];
      if (!(attempt instanceof Reservation) || !init) return fetch(url, init);
      const { [ATTEMPT]: _, ...rest } = init;
      let response: Response;
      try {
        response = await fetch(url, rest);
      } catch (error) {
        // Aborted (timeout or caller) after sending: the provider may be working on it, keep the estimate.
        // Anything else is a connection failure: the request never got there.
        if ((rest.signal as AbortSignal | null | undefined)?.aborted) await attempt.settle(keepEstimate(attempt, 0));
        else await attempt.release();
        throw error;
      }
      // Settled before the SDK sees the response, so a 429 pause is in place before it sleeps and retries.
      if (!response.ok) await attempt.failed(response.status, retryAfterMs(response.headers));
      return response;
    };
  }
  return client;
}
