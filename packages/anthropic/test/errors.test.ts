import { withRateLimit } from "@llmratelimiter/anthropic";
import { LlmRateLimiterError } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { BODY, makeClient, SDKS, settlements } from "./helpers.js";
import { errorBody, MockAnthropic, message, SETTLED } from "./mock-server.js";

const rateLimited = (headers: Record<string, string>) =>
  ({
    kind: "json",
    status: 429,
    headers: { "x-should-retry": "false", ...headers },
    body: errorBody("rate_limit_error"),
  }) as const;

describe.each(SDKS)("$name: errors, retries, aborts", (sdk) => {
  let mock: MockAnthropic;
  let factory: ReturnType<typeof limiterFactory>;

  beforeEach(async () => {
    mock = await new MockAnthropic().start();
    factory = limiterFactory("redis");
  });
  afterEach(async () => {
    await factory.close();
    await mock.stop();
  });

  it("a 429 pauses every process for retry-after, refunds its tokens, and the next call waits for the pause", async () => {
    const mine = factory.make({ tpm: 100_000, rpm: 100 });
    const otherProcess = factory.make({ tpm: 100_000, rpm: 100 });
    const client = withRateLimit(makeClient(sdk, mock), mine);
    mock.reply(rateLimited({ "retry-after": "1" }));
    const before = Date.now();
    const error = await client.messages.create(BODY).catch((e) => e);
    expect(error).toBeInstanceOf(sdk.Client.RateLimitError);
    const paused = (await otherProcess.status()).pausedUntil;
    expect(paused).toBeGreaterThanOrEqual(before + 900);
    expect(await otherProcess.status()).toMatchObject({ requestsUsed: 1, tokensUsed: 0 });

    const slots: number[] = [];
    mine.on("acquire", (e) => slots.push(e.result.slotTime));
    const settled = settlements(mine);
    expect(await client.messages.create(BODY)).toEqual(message());
    await settled;
    expect(slots[0]).toBeGreaterThanOrEqual(paused ?? Number.POSITIVE_INFINITY);
    expect(await otherProcess.status()).toMatchObject({
      requestsUsed: 2,
      inputTokensUsed: SETTLED.input,
      outputTokensUsed: SETTLED.output,
    });
  });

  it("a 429 without retry-after pauses until the exhausted anthropic-ratelimit-*-reset", async () => {
    const limiter = factory.make({ tpm: 100_000 });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const reset = new Date(Date.now() + 5000).toISOString();
    mock.reply(
      rateLimited({
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": reset,
        "anthropic-ratelimit-requests-remaining": "10",
        "anthropic-ratelimit-requests-reset": new Date(Date.now() + 20_000).toISOString(),
      }),
    );
    await expect(client.messages.create(BODY)).rejects.toBeInstanceOf(sdk.Client.RateLimitError);
    // The 1 s backoff used without headers would end long before this.
    expect((await limiter.status()).pausedUntil).toBeGreaterThan(Date.parse(reset) - 1000);
  });

  it("529 overloaded is not a rate limit: no pause, tokens refunded, request counted", async () => {
    const limiter = factory.make({ tpm: 100_000, rpm: 100 });
    let pauses = 0;
    limiter.on("pause", () => pauses++);
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    mock.reply({
      kind: "json",
      status: 529,
      headers: { "x-should-retry": "false" },
      body: errorBody("overloaded_error"),
    });
    const error = await client.messages.create(BODY).catch((e) => e);
    expect(error).toBeInstanceOf(sdk.Client.APIError);
    expect(error.status).toBe(529);
    expect(pauses).toBe(0);
    expect(await limiter.status()).toMatchObject({ pausedUntil: null, tokensUsed: 0, requestsUsed: 1 });
  });

  it("another API error (400) refunds the tokens and keeps the request counted", async () => {
    const limiter = factory.make({ tpm: 100_000, rpm: 100 });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    mock.reply({ kind: "json", status: 400, body: errorBody("invalid_request_error") });
    await expect(client.messages.create(BODY)).rejects.toBeInstanceOf(sdk.Client.BadRequestError);
    expect(await limiter.status()).toMatchObject({ pausedUntil: null, tokensUsed: 0, requestsUsed: 1 });
  });

  it("a connection that never answers releases the reservation", async () => {
    const limiter = factory.make({ tpm: 100_000, rpm: 100 });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter);
    mock.reply({ kind: "drop" });
    await expect(client.messages.create(BODY)).rejects.toBeInstanceOf(sdk.Client.APIConnectionError);
    expect(await settled).toEqual(["release"]);
    expect(await limiter.status()).toMatchObject({ tokensUsed: 0, requestsUsed: 0 });
  });

  it("SDK retries are admitted one by one (maxRetries 1, first attempt 429)", async () => {
    const limiter = factory.make({ tpm: 100_000, rpm: 100 });
    const seenAtAcquire: number[] = [];
    limiter.on("acquire", () => seenAtAcquire.push(mock.requests.length));
    const client = withRateLimit(makeClient(sdk, mock, 1), limiter);
    mock.reply({ kind: "json", status: 429, headers: { "retry-after-ms": "30" }, body: errorBody("rate_limit_error") });
    const settled = settlements(limiter, 2);
    expect(await client.messages.create(BODY)).toEqual(message());
    await settled;
    expect(mock.requests).toHaveLength(2);
    expect(mock.requests[1]?.headers["x-stainless-retry-count"]).toBe("1");
    expect(seenAtAcquire).toEqual([0, 1]);
    expect(await limiter.status()).toMatchObject({
      requestsUsed: 2,
      inputTokensUsed: SETTLED.input,
      outputTokensUsed: SETTLED.output,
    });
  });

  it("aborting while queued rejects with the SDK's abort error and frees the place in the queue", async () => {
    const limiter = factory.make({ rpm: 1 });
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    await client.messages.create(BODY);
    const controller = new AbortController();
    limiter.once("wait", () => controller.abort());
    const error = await client.messages.create(BODY, { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(sdk.Client.APIUserAbortError);
    expect(mock.requests).toHaveLength(1);
    expect(await limiter.status()).toMatchObject({ requestsUsed: 1, queueDepth: 0, queuedTokens: 0 });
  });

  it("time spent queueing does not count against the SDK timeout", async () => {
    const limiter = factory.make({ rpm: 1, windowSeconds: 0.6 });
    const client = withRateLimit(
      new sdk.Client({ apiKey: "t", baseURL: mock.baseURL, maxRetries: 0, timeout: 150 }),
      limiter,
    );
    await client.messages.create(BODY);
    const waits: number[] = [];
    limiter.on("acquire", (e) => waits.push(e.result.waitMs));
    expect(await client.messages.create(BODY)).toEqual(message());
    expect(waits[0]).toBeGreaterThan(150);
  });

  it("maxWaitMs fails fast with the limiter's WaitTimeoutError, not retried by the SDK as a timeout", async () => {
    const limiter = factory.make({ rpm: 1 });
    const client = withRateLimit(makeClient(sdk, mock, 2), { limiter, maxWaitMs: 50 });
    await client.messages.create(BODY);
    const error = await client.messages.create(BODY).catch((e) => e);
    expect(LlmRateLimiterError.isInstance(error) && error.code).toBe("WAIT_TIMEOUT");
    expect(mock.requests).toHaveLength(1);
  });
});
