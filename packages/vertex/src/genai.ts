import type { RateLimiter } from "@llmratelimiter/core";
import { selectLimiter } from "@llmratelimiter/core";
import { type Admission, open, runUnary, settleStream } from "./call.js";
import {
  estimateEmbedRequest,
  estimateGeminiRequest,
  type GeminiRequest,
  type GenerationSettings,
} from "./estimate.js";
import { bareModel } from "./model-name.js";
import type { EstimateContext, ResolvedOptions } from "./options.js";
import { statusOf, usageOfEmbedding, usageOfResponse } from "./usage.js";

/** `HttpRetryOptions` of @google/genai (seconds, like the SDK). */
interface RetryOptionsLike {
  attempts?: number;
  initialDelay?: number;
  maxDelay?: number;
  expBase?: number;
  jitter?: number;
  httpStatusCodes?: number[];
}

interface HttpOptionsLike {
  retryOptions?: RetryOptionsLike;
  [key: string]: unknown;
}

/** The parameters of Models' per-HTTP-call methods (already transformed: callable tools resolved). */
interface InternalParams {
  model: string;
  contents?: unknown;
  config?: (GenerationSettings & { abortSignal?: AbortSignal; httpOptions?: HttpOptionsLike }) | undefined;
}

type Internal = (params: InternalParams) => Promise<unknown>;

/**
 * The private per-HTTP-call methods of `Models` (same names in @google/genai 1.x–3.x). The public methods,
 * automatic function calling, automatic continuation and chats all reach the server only through these.
 */
export interface GenAIModelsLike {
  generateContentInternal: Internal;
  generateContentStreamInternal: (params: InternalParams) => Promise<AsyncIterable<unknown>>;
  embedContentInternal?: Internal;
  apiClient?: { clientOptions?: { httpOptions?: HttpOptionsLike } };
}

export interface GenAIClientLike {
  models: GenAIModelsLike;
}

export function isGenAIClient(client: unknown): client is GenAIClientLike {
  const models = (client as { models?: unknown } | null)?.models;
  return (
    typeof models === "object" &&
    models !== null &&
    typeof (models as GenAIModelsLike).generateContentInternal === "function" &&
    typeof (models as GenAIModelsLike).generateContentStreamInternal === "function"
  );
}

const DEFAULT_RETRY_CODES = [408, 429, 500, 502, 503, 504];

interface RetryPolicy {
  attempts: number;
  delayMs(attempt: number): number;
  codes: number[];
}

/**
 * The SDK retries inside one internal call when `httpOptions.retryOptions` is set, which would send attempts the
 * limiter never admitted. So the wrapper turns the SDK's retries off for that call and retries itself with the
 * same policy, admitting every attempt (and pausing on each 429).
 */
function retryPolicy(models: GenAIModelsLike, params: InternalParams): RetryPolicy | undefined {
  const base = models.apiClient?.clientOptions?.httpOptions?.retryOptions;
  const perCall = params.config?.httpOptions?.retryOptions;
  if (!base && !perCall) return undefined;
  const merged: RetryOptionsLike = { ...base, ...perCall };
  const initial = (merged.initialDelay ?? 1) * 1000;
  const max = Math.max(initial, (merged.maxDelay ?? 60) * 1000);
  const factor = merged.expBase ?? 2;
  const jitter = (merged.jitter ?? 1) > 0;
  return {
    attempts: Math.max(1, Math.floor(merged.attempts ?? 5)),
    codes: merged.httpStatusCodes ?? DEFAULT_RETRY_CODES,
    delayMs: (attempt) => Math.min(max, initial * factor ** (attempt - 1) * (jitter ? 1 + Math.random() : 1)),
  };
}

function withoutSdkRetries(params: InternalParams): InternalParams {
  const httpOptions = params.config?.httpOptions;
  return {
    ...params,
    config: {
      ...params.config,
      httpOptions: { ...httpOptions, retryOptions: { ...httpOptions?.retryOptions, attempts: 1 } },
    },
  };
}

async function withRetries<T>(
  models: GenAIModelsLike,
  params: InternalParams,
  attempt: (params: InternalParams) => Promise<T>,
): Promise<T> {
  const policy = retryPolicy(models, params);
  if (!policy) return attempt(params);
  const single = withoutSdkRetries(params);
  for (let n = 1; ; n++) {
    try {
      return await attempt(single);
    } catch (error) {
      const status = statusOf(error);
      const retryable = status !== undefined && policy.codes.includes(status);
      if (!retryable || n >= policy.attempts || params.config?.abortSignal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, policy.delayMs(n)));
    }
  }
}

export function wrapGenAI(client: GenAIClientLike, options: ResolvedOptions): void {
  const models = client.models;
  const generate = models.generateContentInternal;
  const stream = models.generateContentStreamInternal;
  const embed = models.embedContentInternal;

  const admission = (params: InternalParams, kind: EstimateContext["kind"]): Admission | undefined => {
    const model = bareModel(params.model);
    const limiter: RateLimiter | undefined = selectLimiter(options.selector, model);
    if (!limiter) return undefined;
    const estimate = options.estimate
      ? options.estimate(params, { model, kind })
      : kind === "embed"
        ? estimateEmbedRequest(params)
        : estimateGeminiRequest(params as GeminiRequest, options.defaultOutputTokens);
    return { limiter, estimate, signal: params.config?.abortSignal, maxWaitMs: options.maxWaitMs };
  };

  // Own properties shadow the prototype methods; the SDK calls them as `this.…Internal`, so every path is covered.
  models.generateContentInternal = (params) => {
    const plan = admission(params, "generate");
    if (!plan) return generate.call(models, params);
    return withRetries(models, params, (p) => runUnary(plan, () => generate.call(models, p), usageOfResponse));
  };

  models.generateContentStreamInternal = (params) => {
    const plan = admission(params, "generate");
    if (!plan) return stream.call(models, params);
    return withRetries(models, params, async (p) => {
      const reservation = await open(plan);
      let source: AsyncIterable<unknown>;
      try {
        source = await stream.call(models, p);
      } catch (error) {
        await reservation.failed(statusOf(error));
        throw error;
      }
      return settleStream(reservation, source, usageOfResponse);
    });
  };

  if (typeof embed === "function") {
    models.embedContentInternal = (params) => {
      const plan = admission(params, "embed");
      if (!plan) return embed.call(models, params);
      return withRetries(models, params, (p) => runUnary(plan, () => embed.call(models, p), usageOfEmbedding));
    };
  }
}
