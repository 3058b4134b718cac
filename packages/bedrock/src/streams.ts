import { backoffFor429, type Reservation, tapAsyncIterable } from "@llmratelimiter/core";
import { isRecord } from "./body.js";
import { converseUsage, NativeStreamUsage, type Usage } from "./usage.js";

const decoder = new TextDecoder();

/**
 * Ends a stream's reservation when the final usage never came: a consumer that broke off, or an exception event.
 * Generation may have gone on past what was read, so the output estimate (the cap Bedrock reserved) stays; the
 * input is corrected when the stream already reported it. A throttling exception mid-stream also pauses the
 * limiter, since AWS sends nothing that says for how long.
 */
function endEarly(reservation: Reservation, error: unknown, known: Usage): void {
  if (reservation.settled) return;
  if (isRecord(error) && error.name === "ThrottlingException") {
    reservation.limiter.pause(backoffFor429(1, reservation.limiter.windowSeconds * 1000)).catch(() => {});
  }
  void reservation.settle({ input: known.input });
}

/** ConverseStream: settles at the `metadata` event, which carries the whole call's usage. */
export function tapConverseStream(stream: AsyncIterable<unknown>, reservation: Reservation): AsyncIterable<unknown> {
  return tapAsyncIterable(
    stream,
    (event) => {
      if (isRecord(event) && isRecord(event.metadata)) {
        const usage = converseUsage(event.metadata.usage);
        if (usage) void reservation.settle(usage);
      }
    },
    ({ completed, error }) => {
      if (completed) void reservation.settle({});
      else endEarly(reservation, error, {});
    },
  );
}

/**
 * InvokeModelWithResponseStream: each `{ chunk: { bytes } }` is one native JSON event; the last one carries
 * `amazon-bedrock-invocationMetrics`. Only chunks that can hold usage are parsed.
 */
export function tapNativeStream(stream: AsyncIterable<unknown>, reservation: Reservation): AsyncIterable<unknown> {
  const usage = new NativeStreamUsage();
  return tapAsyncIterable(
    stream,
    (event) => {
      if (reservation.settled || !isRecord(event) || !isRecord(event.chunk)) return;
      const bytes = event.chunk.bytes;
      if (!(bytes instanceof Uint8Array)) return;
      const text = decoder.decode(bytes);
      if (!text.includes("usage") && !text.includes("amazon-bedrock-invocationMetrics")) return;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return;
      }
      if (usage.observe(json) && usage.final) void reservation.settle(usage.final);
    },
    ({ completed, error }) => {
      if (completed) void reservation.settle(usage.final ?? usage.partial);
      else endEarly(reservation, error, usage.partial);
    },
  );
}
