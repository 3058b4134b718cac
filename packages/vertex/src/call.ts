import { type RateLimiter, Reservation, tapAsyncIterable } from "@llmratelimiter/core";
import type { TokenEstimate } from "./options.js";
import { statusOf, type Usage } from "./usage.js";

/** Everything needed to admit one HTTP call. */
export interface Admission {
  limiter: RateLimiter;
  estimate: TokenEstimate;
  signal?: AbortSignal | undefined;
  maxWaitMs?: number | undefined;
}

export function open(admission: Admission): Promise<Reservation> {
  return Reservation.open(admission.limiter, {
    inputTokens: admission.estimate.inputTokens,
    outputTokens: admission.estimate.outputTokens,
    signal: admission.signal,
    maxWaitMs: admission.maxWaitMs,
  });
}

/** Admits, sends, and settles to the reported usage; an error settles by its HTTP status (none: released). */
export async function runUnary<T>(
  admission: Admission,
  send: () => Promise<T>,
  usageOf: (result: T) => Usage | undefined,
): Promise<T> {
  const reservation = await open(admission);
  let result: T;
  try {
    result = await send();
  } catch (error) {
    await reservation.failed(statusOf(error));
    throw error;
  }
  await reservation.settle(usageOf(result) ?? {});
  return result;
}

/**
 * Settles a stream when it ends: to the last usage seen (chunks carry cumulative usage), or the estimate when none
 * came. A 429 reported mid-stream pauses like a 429 response; any other mid-stream failure had reached the
 * provider, so it is charged rather than released.
 */
export function settleStream<T>(
  reservation: Reservation,
  source: AsyncIterable<T>,
  usageOf: (chunk: T) => Usage | undefined,
): AsyncGenerator<T> {
  let last: Usage | undefined;
  const tapped = tapAsyncIterable(
    source,
    (chunk) => {
      last = usageOf(chunk) ?? last;
    },
    ({ error }) => {
      if (error !== undefined && statusOf(error) === 429) void reservation.failed(429);
      else void reservation.settle(last ?? {});
    },
  );
  return asGenerator(tapped);
}

/** Gives a tapped iterable the generator surface (next/return/throw, self-iterable) callers of the SDK may use. */
function asGenerator<T>(iterable: AsyncIterable<T>): AsyncGenerator<T> {
  const it = iterable[Symbol.asyncIterator]();
  const generator = {
    next: (...args: [] | [unknown]) => it.next(...args),
    return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
    throw: (error?: unknown) => it.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return generator;
    },
  };
  return generator as unknown as AsyncGenerator<T>;
}
