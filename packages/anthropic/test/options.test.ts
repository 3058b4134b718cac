import Anthropic from "@anthropic-ai/sdk";
import { rateLimitMiddleware, withRateLimit } from "@llmratelimiter/anthropic";
import { InvalidArgumentError, type RateLimiter } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { BODY, makeClient, SDKS, settlements } from "./helpers.js";
import { MockAnthropic, message, SETTLED } from "./mock-server.js";

describe("withRateLimit options", () => {
  let mock: MockAnthropic;
  let factory: ReturnType<typeof limiterFactory>;
  let limiter: RateLimiter;

  beforeEach(async () => {
    mock = await new MockAnthropic().start();
    factory = limiterFactory("memory");
    limiter = factory.make({ tpm: 100_000 });
  });
  afterEach(async () => {
    await factory.close();
    await mock.stop();
  });

  it.each([
    ["options", null],
    ["options", "limiter"],
    ["limiter", {}],
    ["limiter", { limiter: "redis://x" }],
    ["estimate", { estimate: 3 }],
    ["defaultOutputTokens", { defaultOutputTokens: -1 }],
    ["defaultOutputTokens", { defaultOutputTokens: 1.5 }],
    ["maxWaitMs", { maxWaitMs: Number.NaN }],
    ["maxWaitMs", { maxWaitMs: -5 }],
  ])("rejects a bad `%s` with InvalidArgumentError", (field, value) => {
    const options =
      value !== null && typeof value === "object" && !("limiter" in value) && field !== "limiter"
        ? { limiter, ...value }
        : value;
    const attempt = () => withRateLimit(makeClient(SDKS[0], mock), options as never);
    expect(attempt).toThrow(InvalidArgumentError);
    try {
      attempt();
    } catch (error) {
      expect((error as InvalidArgumentError).field).toBe(field);
    }
  });

  it("rejects something that is not an Anthropic client", () => {
    expect(() => withRateLimit({}, limiter)).toThrow(InvalidArgumentError);
  });

  it.each(SDKS)(
    "$name: returns the same instance; wrapping twice (or a withOptions copy) adds nothing",
    async (sdk) => {
      const client = makeClient(sdk, mock);
      const before = client.middleware.length;
      expect(withRateLimit(client, limiter)).toBe(client);
      expect(withRateLimit(client, { limiter })).toBe(client);
      expect(client).toBeInstanceOf(sdk.Client);
      expect(client.middleware.length).toBe(before + 1);
      const derived = client.withOptions({ timeout: 5000 });
      expect(withRateLimit(derived, limiter).middleware.length).toBe(before + 1);

      let acquired = 0;
      limiter.on("acquire", () => acquired++);
      const settled = settlements(limiter, 2);
      await client.messages.create(BODY);
      await derived.messages.create(BODY);
      await settled;
      expect(acquired).toBe(2);
      expect((await limiter.status()).inputTokensUsed).toBe(2 * SETTLED.input);
    },
  );

  it("picks a limiter per model; a model without one is not limited", async () => {
    const other = factory.make({ model: "other", tpm: 100_000 });
    const client = withRateLimit(makeClient(SDKS[0], mock), {
      limiter: (model) => (model === "claude-x" ? limiter : model === "claude-y" ? other : undefined),
    });
    const settled = Promise.all([settlements(limiter), settlements(other)]);
    await client.messages.create(BODY);
    await client.messages.create({ ...BODY, model: "claude-y" });
    expect(await client.messages.create({ ...BODY, model: "claude-free" })).toEqual(message());
    await settled;
    expect((await limiter.status()).requestsUsed).toBe(1);
    expect((await other.status()).requestsUsed).toBe(1);
    expect(mock.requests).toHaveLength(3);
  });

  it("estimate overrides the built-in values field by field; defaultOutputTokens fills a missing max_tokens", async () => {
    const reserved: Array<[number, number]> = [];
    limiter.on("acquire", (e) => reserved.push([e.result.inputTokens, e.result.outputTokens]));
    const seen: unknown[] = [];
    const client = withRateLimit(makeClient(SDKS[0], mock), {
      limiter,
      defaultOutputTokens: 77,
      estimate: (request) => {
        seen.push({ route: request.route, path: request.path, model: request.model });
        return request.body.system === "exact" ? { inputTokens: 1234 } : undefined;
      },
    });
    await client.messages.create({ ...BODY, system: "exact" });
    // max_tokens is required by the types; the API would refuse the request, the mock does not.
    await client.messages.create({ model: "claude-x", messages: BODY.messages } as never);
    expect(reserved[0]).toEqual([1234, 100]);
    expect(reserved[1]?.[1]).toBe(77);
    expect(seen[0]).toEqual({ route: "messages", path: "/v1/messages", model: "claude-x" });
  });

  it("works as a constructor middleware too", async () => {
    const client = new Anthropic({
      apiKey: "t",
      baseURL: mock.baseURL,
      maxRetries: 0,
      middleware: [rateLimitMiddleware(limiter)],
    });
    const settled = settlements(limiter);
    expect(await client.messages.create(BODY)).toEqual(message());
    await settled;
    expect(withRateLimit(client, limiter).middleware).toHaveLength(1);
    expect((await limiter.status()).inputTokensUsed).toBe(SETTLED.input);
  });
});
