import { withRateLimit } from "@llmratelimiter/anthropic";
import type { RateLimiter } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { BODY, collect, makeClient, SDKS, settlements } from "./helpers.js";
import { errorBody, MockAnthropic, messageFrames, SETTLED } from "./mock-server.js";

/** message_start (input 10 + cache write 5 + cache read 7), then two text deltas of 12 and 14 characters. */
const PARTIAL = messageFrames({}, ["Hello there ", "general Kenobi"]).slice(0, 5);
/** 26 streamed characters ≈ 7 tokens, more than message_start's placeholder output of 1. */
const PARTIAL_OUTPUT = 7;

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe.each(SDKS)("$name: streams", (sdk) => {
  let mock: MockAnthropic;
  let factory: ReturnType<typeof limiterFactory>;
  let limiter: RateLimiter;

  beforeEach(async () => {
    mock = await new MockAnthropic().start();
    factory = limiterFactory("redis");
    limiter = factory.make({ tpm: 100_000, rpm: 100 });
  });
  afterEach(async () => {
    await factory.close();
    await mock.stop();
  });

  it("full consumption settles to message_start input and the last message_delta output", async () => {
    // message_delta repeats cumulative input fields, as the API may: they overwrite message_start's.
    const frames = messageFrames({ output_tokens: 9 });
    const last = frames[frames.length - 2]?.[1] as { usage: Record<string, number> };
    last.usage = { output_tokens: 9, input_tokens: 11, cache_creation_input_tokens: 6, cache_read_input_tokens: 50 };
    mock.reply({ kind: "sse", frames }, { kind: "sse", frames });
    const expected = await collect(await makeClient(sdk, mock).messages.create({ ...BODY, stream: true }));
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    const events = await collect(await client.messages.create({ ...BODY, stream: true }));
    await settled;
    expect(events).toEqual(expected);
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: 17, outputTokensUsed: 9, requestsUsed: 1 });
  });

  it("an early break settles to what was streamed and closes the connection", async () => {
    mock.reply({ kind: "sse", frames: PARTIAL, hold: true });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    const seen: string[] = [];
    for await (const event of await client.messages.create({ ...BODY, stream: true })) {
      seen.push(event.type);
      if (
        event.type === "content_block_delta" &&
        event.delta.type === "text_delta" &&
        event.delta.text.startsWith("general")
      )
        break;
    }
    expect(await settled).toEqual(["adjust"]);
    expect(seen).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta"]);
    expect(await limiter.status()).toMatchObject({
      inputTokensUsed: SETTLED.input,
      outputTokensUsed: PARTIAL_OUTPUT,
      requestsUsed: 1,
    });
    await until(() => mock.closedEarly === 1);
  });

  it("MessageStream.abort() settles like a break", async () => {
    mock.reply({ kind: "sse", frames: PARTIAL, hold: true });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    const stream = client.messages.stream(BODY);
    stream.on("text", (text) => {
      if (text.startsWith("general")) stream.abort();
    });
    await expect(stream.done()).rejects.toThrow(/abort/i);
    await settled;
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: SETTLED.input, outputTokensUsed: PARTIAL_OUTPUT });
    await until(() => mock.closedEarly === 1);
  });

  it("an SSE `event: error` mid-stream reaches the caller unchanged and settles what was streamed", async () => {
    const frames = [
      ...PARTIAL.slice(0, 4),
      ["error", errorBody("overloaded_error", "Overloaded")] as [string, unknown],
    ];
    mock.reply({ kind: "sse", frames }, { kind: "sse", frames });
    const rawError = await collect(await makeClient(sdk, mock).messages.create({ ...BODY, stream: true })).catch(
      (e) => e,
    );
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    const error = await collect(await client.messages.create({ ...BODY, stream: true })).catch((e) => e);
    await settled;
    expect(error).toBeInstanceOf(sdk.Client.APIError);
    expect(error.constructor).toBe(rawError.constructor);
    expect(error.message).toBe(rawError.message);
    // "Hello there " = 12 characters = 3 tokens streamed before the error; an error event is not a 429.
    expect(await limiter.status()).toMatchObject({
      inputTokensUsed: SETTLED.input,
      outputTokensUsed: 3,
      pausedUntil: null,
    });
  });

  it("MessageStream.finalMessage() and the raw stream agree with the unwrapped client", async () => {
    const expected = await makeClient(sdk, mock).messages.stream(BODY).finalMessage();
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    const stream = client.messages.stream(BODY);
    const events: unknown[] = [];
    stream.on("streamEvent", (event) => events.push(event));
    expect(await stream.finalMessage()).toEqual(expected);
    await settled;
    expect(events.length).toBe(7); // the ping is not an event
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: SETTLED.input, outputTokensUsed: SETTLED.output });
  });

  it("a stream dropped unread and aborted keeps its estimate", async () => {
    mock.reply({ kind: "sse", frames: PARTIAL, hold: true });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const reserved: number[] = [];
    limiter.on("acquire", (e) => reserved.push(e.result.inputTokens, e.result.outputTokens));
    const stream = await client.messages.create({ ...BODY, stream: true });
    stream.controller.abort();
    const status = await limiter.status();
    expect(status).toMatchObject({ inputTokensUsed: reserved[0], outputTokensUsed: reserved[1], requestsUsed: 1 });
  });
});
