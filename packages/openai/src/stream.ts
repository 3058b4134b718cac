import { tapAsyncIterable } from "@llmratelimiter/core";
import type { Endpoint } from "./endpoints.js";
import { type ReportedUsage, streamItemOutputTokens, streamItemUsage } from "./usage.js";

/** The part of the SDK's `Stream` we touch: its (TS-private) iterator factory, used by iteration, `tee()` and helpers. */
export interface StreamLike {
  iterator: () => AsyncIterator<unknown>;
}

export function isStreamLike(value: unknown): value is StreamLike {
  return typeof value === "object" && value !== null && typeof (value as StreamLike).iterator === "function";
}

export interface StreamSettlement {
  /** The final usage event arrived. */
  onUsage(usage: ReportedUsage): void;
  /** The stream ended without one (consumer `break`, error, or a server that never sent it). */
  onEndWithoutUsage(streamedOutputTokens: number): void;
}

/**
 * Replaces the stream's iterator with one that watches for usage and, when `hideUsageChunks` (we injected
 * `stream_options.include_usage`), drops the usage-only chunk (`choices: []`) and the `usage: null` field the API
 * then adds to every other chunk, so the caller sees the stream it asked for. Every consumer (for-await, `tee()`,
 * `toReadableStream()`, ChatCompletionStream, ResponseStream) goes through `iterator`, so all are covered.
 */
export function tapStream(
  stream: StreamLike,
  endpoint: Endpoint,
  hideUsageChunks: boolean,
  settlement: StreamSettlement,
): void {
  const original = stream.iterator.bind(stream);
  stream.iterator = () => {
    let sawUsage = false;
    let streamed = 0;
    const observed = observe({ [Symbol.asyncIterator]: original }, endpoint, hideUsageChunks, (item) => {
      const usage = streamItemUsage(endpoint, item);
      if (usage) {
        sawUsage = true;
        settlement.onUsage(usage);
      } else {
        streamed += streamItemOutputTokens(endpoint, item);
      }
    });
    const tapped = tapAsyncIterable(
      observed,
      () => {},
      () => {
        if (!sawUsage) settlement.onEndWithoutUsage(streamed);
      },
    );
    return tapped[Symbol.asyncIterator]();
  };
}

async function* observe(
  source: AsyncIterable<unknown>,
  endpoint: Endpoint,
  hideUsageChunks: boolean,
  onItem: (item: unknown) => void,
): AsyncGenerator<unknown> {
  for await (const item of source) {
    onItem(item);
    if (hideUsageChunks && endpoint !== "responses" && typeof item === "object" && item !== null) {
      const chunk = item as { choices?: unknown; usage?: unknown };
      if (Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage != null) continue;
      if (chunk.usage === null) delete chunk.usage;
    }
    yield item;
  }
}
