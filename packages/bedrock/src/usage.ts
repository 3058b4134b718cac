import { type HeaderSource, headerGetter } from "@llmratelimiter/core";
import { count, isRecord } from "./body.js";

/** Usage as the limiter counts it. Cache reads are free against Bedrock quotas; cache writes count as input. */
export interface Usage {
  input?: number | undefined;
  output?: number | undefined;
}

const sum = (base: number | undefined, extra: number | undefined) =>
  base === undefined ? undefined : base + (extra ?? 0);

/** Converse `usage` (also the ConverseStream `metadata` event's). */
export function converseUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  return {
    input: sum(count(usage.inputTokens), count(usage.cacheWriteInputTokens)),
    output: count(usage.outputTokens),
  };
}

/** InvokeModel's `x-amzn-bedrock-*-token-count` response headers (some providers' models omit them). */
export function headerUsage(headers: HeaderSource): Usage | undefined {
  const get = headerGetter(headers);
  const input = count(get("x-amzn-bedrock-input-token-count"));
  const output = count(get("x-amzn-bedrock-output-token-count"));
  if (input === undefined && output === undefined) return undefined;
  return { input: sum(input, count(get("x-amzn-bedrock-cache-write-input-token-count"))), output };
}

/** The `amazon-bedrock-invocationMetrics` object on a response stream's last chunk. */
export function invocationMetricsUsage(metrics: unknown): Usage | undefined {
  if (!isRecord(metrics)) return undefined;
  return {
    input: sum(count(metrics.inputTokenCount), count(metrics.cacheWriteInputTokenCount)),
    output: count(metrics.outputTokenCount),
  };
}

/** Usage inside a native response body: Anthropic, Nova, Llama, Titan, OpenAI-style layouts. */
export function nativeBodyUsage(json: unknown): Usage | undefined {
  if (!isRecord(json)) return undefined;
  const u = json.usage;
  if (isRecord(u)) {
    if (u.input_tokens !== undefined || u.output_tokens !== undefined) {
      return {
        input: sum(count(u.input_tokens), count(u.cache_creation_input_tokens)),
        output: count(u.output_tokens),
      };
    }
    if (u.inputTokens !== undefined || u.outputTokens !== undefined) {
      return {
        input: sum(count(u.inputTokens), count(u.cacheWriteInputTokenCount ?? u.cacheWriteInputTokens)),
        output: count(u.outputTokens),
      };
    }
    if (u.prompt_tokens !== undefined || u.completion_tokens !== undefined) {
      return { input: count(u.prompt_tokens), output: count(u.completion_tokens) };
    }
  }
  if (json.prompt_token_count !== undefined || json.generation_token_count !== undefined) {
    return { input: count(json.prompt_token_count), output: count(json.generation_token_count) };
  }
  if (json.inputTextTokenCount !== undefined && Array.isArray(json.results)) {
    let output = 0;
    for (const r of json.results) output += (isRecord(r) ? count(r.tokenCount) : undefined) ?? 0;
    return { input: count(json.inputTextTokenCount), output };
  }
  return undefined;
}

/**
 * Follows a native response stream's events. The last chunk's invocation metrics are authoritative; until they
 * arrive, Anthropic's `message_start` / `message_delta` usage is the best known value.
 */
export class NativeStreamUsage {
  final: Usage | undefined;
  #input: number | undefined;
  #output: number | undefined;

  /** Returns true once the final usage is known. */
  observe(event: unknown): boolean {
    if (!isRecord(event)) return false;
    const metrics = invocationMetricsUsage(event["amazon-bedrock-invocationMetrics"]);
    if (metrics) {
      this.final = metrics;
      return true;
    }
    const message = isRecord(event.message) ? event.message : undefined;
    const usage = isRecord(event.usage) ? event.usage : isRecord(message?.usage) ? message.usage : undefined;
    if (usage) {
      const input = sum(count(usage.input_tokens), count(usage.cache_creation_input_tokens));
      if (input !== undefined) this.#input = input;
      const output = count(usage.output_tokens);
      if (output !== undefined) this.#output = Math.max(this.#output ?? 0, output);
    }
    return false;
  }

  get partial(): Usage {
    return { input: this.#input, output: this.#output };
  }
}
