import { InvalidArgumentError, RateLimiter } from "@llmratelimiter/core";
import { withRateLimit } from "@llmratelimiter/openai";
import OpenAI from "openai";
import { afterAll, describe, expect, it } from "vitest";

describe("withRateLimit options", () => {
  const limiter = new RateLimiter({ model: "m", rpm: 10 });
  const client = new OpenAI({ apiKey: "test", baseURL: "http://127.0.0.1:1/v1" });
  afterAll(() => limiter.close());

  it.each([
    ["options", null],
    ["options", 42],
    ["limiter", {}],
    ["limiter", { limiter: "redis://x" }],
    ["estimate", { limiter, estimate: 3 }],
    ["defaultOutputTokens", { limiter, defaultOutputTokens: -1 }],
    ["defaultOutputTokens", { limiter, defaultOutputTokens: 1.5 }],
    ["maxWaitMs", { limiter, maxWaitMs: "soon" }],
    ["maxWaitMs", { limiter, maxWaitMs: Number.NaN }],
    ["options.maxWait", { limiter, maxWait: 5 }],
  ])("rejects bad %s: %j", (field, options) => {
    const attempt = () => withRateLimit(client, options as never);
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(expect.objectContaining({ field }));
  });

  it("rejects something that is not a client", () => {
    expect(() => withRateLimit({} as never, limiter)).toThrow(expect.objectContaining({ field: "client" }));
  });

  it("accepts a limiter, a selector function, and full options", () => {
    expect(withRateLimit(new OpenAI({ apiKey: "t" }), limiter)).toBeInstanceOf(OpenAI);
    expect(withRateLimit(new OpenAI({ apiKey: "t" }), { limiter: () => undefined })).toBeInstanceOf(OpenAI);
    const full = {
      limiter,
      estimate: () => ({ inputTokens: 1, outputTokens: 1 }),
      defaultOutputTokens: 0,
      maxWaitMs: 0,
    };
    expect(withRateLimit(new OpenAI({ apiKey: "t" }), full)).toBeInstanceOf(OpenAI);
  });
});
