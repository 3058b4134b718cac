import { InvalidArgumentError, type RateLimiter, Reservation, selectLimiter } from "@llmratelimiter/core";
import { isRecord, readBody } from "./body.js";
import { estimateBedrockRequest } from "./estimate.js";
import {
  type BedrockRequest,
  LIMITED_COMMANDS,
  type LimitedCommandName,
  type ResolvedOptions,
  resolveOptions,
  type WithRateLimitOptions,
} from "./options.js";
import { tapConverseStream, tapNativeStream } from "./streams.js";
import { converseUsage, headerUsage, nativeBodyUsage } from "./usage.js";

/** Name of the `initialize` middleware: one per `send`, estimates and admits the first attempt, settles usage. */
export const RATE_LIMIT_MIDDLEWARE = "llmRateLimitMiddleware";
/** Name of the per-attempt middleware (after the SDK's retry loop, before signing): admits each retry. */
export const RATE_LIMIT_ATTEMPT_MIDDLEWARE = "llmRateLimitAttemptMiddleware";

const WRAPPED = Symbol.for("llmratelimiter.bedrock.wrapped");
// Rides on the handler args (every SDK step spreads them) rather than the context, which `cacheMiddleware`
// shares between concurrent sends.
const CALL = Symbol("llmratelimiter.bedrock.call");

/** One `send` of a limited command, shared by the two middlewares. */
interface Call {
  limiter: RateLimiter;
  inputTokens: number;
  outputTokens: number;
  signal: AbortSignal | undefined;
  maxWaitMs: number | undefined;
  reservation: Reservation;
  attempts: number;
}

interface Args {
  input?: Record<string, unknown>;
  [CALL]?: Call;
}
interface HandlerResult {
  output: Record<string, unknown>;
  response?: { headers?: Record<string, string | undefined> } | undefined;
}
type Handler = (args: Args) => Promise<HandlerResult>;
interface Context {
  commandName?: string;
  __smithy_context?: { abortSignal?: unknown };
}
type Middleware = (next: Handler, context: Context) => Handler;

interface StackLike {
  add(middleware: Middleware, options: Record<string, unknown>): void;
  addRelativeTo(middleware: Middleware, options: Record<string, unknown>): void;
  identify(): string[];
}

/** The part of a Smithy client this needs; `BedrockRuntimeClient` and `BedrockRuntime` both fit. */
export interface MiddlewareClient {
  middlewareStack: object;
}

/**
 * Rate-limits a `BedrockRuntimeClient` (or the aggregated `BedrockRuntime`): Converse, ConverseStream, InvokeModel
 * and InvokeModelWithResponseStream wait for their slot, and every HTTP attempt the SDK's retry loop makes is
 * admitted too. Returns the same client. Wrapping it again is a no-op.
 */
export function withRateLimit<C extends MiddlewareClient>(
  client: C,
  limiterOrOptions: RateLimiter | WithRateLimitOptions,
): C {
  const options = resolveOptions(limiterOrOptions);
  const stack = (client as { middlewareStack?: Partial<StackLike> } | null | undefined)?.middlewareStack;
  if (typeof stack?.add !== "function" || typeof stack.addRelativeTo !== "function") {
    throw new InvalidArgumentError("client", "a BedrockRuntimeClient or BedrockRuntime", client);
  }
  if ((client as Record<symbol, unknown>)[WRAPPED]) return client;
  const full = stack as StackLike;

  full.add(initializeMiddleware(options), {
    name: RATE_LIMIT_MIDDLEWARE,
    step: "initialize",
    priority: "high",
    tags: ["LLM_RATE_LIMIT"],
    override: true,
  });
  // Before signing, so a long wait in the queue cannot outlive the request's SigV4 signature.
  const hasSigner = typeof full.identify === "function" && full.identify().some((m) => /\bawsAuthMiddleware\b/.test(m));
  const attemptOptions = { name: RATE_LIMIT_ATTEMPT_MIDDLEWARE, tags: ["LLM_RATE_LIMIT"], override: true };
  if (hasSigner)
    full.addRelativeTo(attemptMiddleware, { ...attemptOptions, relation: "before", toMiddleware: "awsAuthMiddleware" });
  else full.add(attemptMiddleware, { ...attemptOptions, step: "finalizeRequest", priority: "low" });

  Object.defineProperty(client, WRAPPED, { value: true });
  // With `cacheMiddleware: true` the SDK keeps handlers resolved before the wrap; drop them so ours apply.
  delete (client as { handlers?: unknown }).handlers;
  return client;
}

function isLimited(name: string | undefined): name is LimitedCommandName {
  return (LIMITED_COMMANDS as readonly (string | undefined)[]).includes(name);
}

function initializeMiddleware(options: ResolvedOptions): Middleware {
  return (next, context) => async (args) => {
    const commandName = context.commandName;
    if (!isLimited(commandName) || args[CALL]) return next(args);
    const input = args.input ?? {};
    const modelId = typeof input.modelId === "string" ? input.modelId : "";
    const limiter = selectLimiter(options.limiter, modelId);
    if (!limiter) return next(args);

    const request: BedrockRequest = { commandName, modelId, input };
    const builtIn = estimateBedrockRequest(request, options.defaultOutputTokens);
    const custom = options.estimate?.(request);
    const abortSignal = context.__smithy_context?.abortSignal;
    const admission = {
      inputTokens: custom?.inputTokens ?? builtIn.inputTokens,
      outputTokens: custom?.outputTokens ?? builtIn.outputTokens,
      // Older SDKs do not put the signal in the context: their waits cannot be cancelled.
      signal: abortSignal instanceof AbortSignal ? abortSignal : undefined,
      maxWaitMs: options.maxWaitMs,
    };
    const call: Call = { limiter, ...admission, reservation: await Reservation.open(limiter, admission), attempts: 0 };

    let result: HandlerResult;
    try {
      result = await next({ ...args, [CALL]: call });
    } catch (error) {
      // Usually settled already by the attempt middleware; this catches failures before any attempt (release).
      await call.reservation.failed(httpStatusOf(error));
      throw error;
    }
    await settle(commandName, result, call.reservation);
    return result;
  };
}

/**
 * Runs once per HTTP attempt, inside the SDK's retry loop. The first attempt uses the reservation made at
 * `initialize`; each retry waits for a reservation of its own, after the failed attempt settled its one (a
 * ThrottlingException pauses the limiter, so the retry queues behind the pause in every process).
 */
const attemptMiddleware: Middleware = (next) => async (args) => {
  const call = args[CALL];
  if (!call) return next(args);
  if (call.attempts > 0) call.reservation = await Reservation.open(call.limiter, call);
  call.attempts += 1;
  try {
    return await next(args);
  } catch (error) {
    await call.reservation.failed(httpStatusOf(error));
    throw error;
  }
};

async function settle(commandName: LimitedCommandName, result: HandlerResult, reservation: Reservation) {
  const output = result.output;
  switch (commandName) {
    case "ConverseCommand":
      return reservation.settle(converseUsage(output.usage) ?? {});
    case "InvokeModelCommand":
      return reservation.settle(
        headerUsage(result.response?.headers) ?? nativeBodyUsage(readBody(output.body).json) ?? {},
      );
    case "ConverseStreamCommand":
      if (isAsyncIterable(output.stream)) output.stream = tapConverseStream(output.stream, reservation);
      else return reservation.settle({});
      return;
    case "InvokeModelWithResponseStreamCommand":
      if (isAsyncIterable(output.body)) output.body = tapNativeStream(output.body, reservation);
      else return reservation.settle({});
      return;
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return isRecord(value) && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function";
}

/** The HTTP status of a failed attempt; undefined when no response came back (the request is released). */
export function httpStatusOf(error: unknown): number | undefined {
  if (!isRecord(error)) return undefined;
  const metadata = error.$metadata;
  const status = isRecord(metadata) ? metadata.httpStatusCode : undefined;
  if (typeof status === "number") return status;
  const response = error.$response;
  if (isRecord(response) && typeof response.statusCode === "number") return response.statusCode;
  return error.name === "ThrottlingException" ? 429 : undefined;
}
