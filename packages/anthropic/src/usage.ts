import { estimateTextTokens } from "@llmratelimiter/core";

/** What a reservation settles to; a side left undefined keeps its estimate. */
export interface SettledUsage {
  input?: number | undefined;
  output?: number | undefined;
}

type Usage = Record<string, unknown>;

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}

/**
 * Input as Anthropic's ITPM limit counts it: the uncached remainder plus the tokens written to the cache. Cache
 * reads are left out, as they do not count toward ITPM on current models.
 */
function inputOf(usage: Usage): number | undefined {
  const input = num(usage.input_tokens);
  const cacheCreation = num(usage.cache_creation_input_tokens);
  if (input === undefined && cacheCreation === undefined) return undefined;
  return (input ?? 0) + (cacheCreation ?? 0);
}

/** Usage of a non-streamed response body: a `Message` (`usage`), or a legacy `Completion` (no usage: its text). */
export function usageOfResponse(data: unknown): SettledUsage {
  const body = record(data);
  if (!body) return {};
  const usage = record(body.usage);
  if (usage) return { input: inputOf(usage), output: num(usage.output_tokens) };
  if (body.type === "completion" && typeof body.completion === "string") {
    return { output: estimateTextTokens(body.completion) };
  }
  return {};
}

/**
 * Follows the usage of a `/v1/messages` event stream. `message_start` carries the input side; every
 * `message_delta` carries the cumulative output (and may repeat cumulative input and cache fields), so each one
 * overwrites. When the stream stops early, the text streamed so far is a floor for the output, since the reported
 * figure then usually is message_start's placeholder.
 */
export class MessageStreamUsage {
  #input: number | undefined;
  #cacheCreation: number | undefined;
  #output: number | undefined;
  #streamedChars = 0;
  #finished = false;

  push(event: unknown): void {
    const e = record(event);
    if (!e) return;
    switch (e.type) {
      case "message_start": {
        const usage = record(record(e.message)?.usage);
        if (usage) this.#take(usage);
        break;
      }
      case "message_delta": {
        const usage = record(e.usage);
        if (usage) this.#take(usage);
        break;
      }
      case "content_block_delta": {
        const delta = record(e.delta);
        for (const key of ["text", "thinking", "partial_json"]) {
          const part = delta?.[key];
          if (typeof part === "string") this.#streamedChars += part.length;
        }
        break;
      }
      case "message_stop":
        this.#finished = true;
        break;
    }
  }

  #take(usage: Usage): void {
    this.#input = num(usage.input_tokens) ?? this.#input;
    this.#cacheCreation = num(usage.cache_creation_input_tokens) ?? this.#cacheCreation;
    this.#output = num(usage.output_tokens) ?? this.#output;
  }

  usage(): SettledUsage {
    const input =
      this.#input === undefined && this.#cacheCreation === undefined
        ? undefined
        : (this.#input ?? 0) + (this.#cacheCreation ?? 0);
    if (this.#finished || input === undefined) return { input, output: this.#output };
    const streamed = Math.ceil(this.#streamedChars / 4);
    return { input, output: Math.max(this.#output ?? 0, streamed) };
  }
}

/** Legacy `/v1/complete` streams report no usage: the output is estimated from the streamed text. */
export class CompletionStreamUsage {
  #chars = 0;
  #seen = false;

  push(event: unknown): void {
    const e = record(event);
    if (e?.type === "completion" && typeof e.completion === "string") {
      this.#seen = true;
      this.#chars += e.completion.length;
    }
  }

  usage(): SettledUsage {
    return this.#seen ? { output: Math.ceil(this.#chars / 4) } : {};
  }
}
