import { ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import {
  estimateBedrockRequest,
  estimateConverseInputTokens,
  httpStatusOf,
  maxOutputTokens,
  withRateLimit,
} from "@llmratelimiter/bedrock";
import { estimateTokens, InvalidArgumentError, MESSAGE_OVERHEAD_TOKENS, RateLimiter } from "@llmratelimiter/core";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clientPool, MODEL_ID, userMessage } from "./helpers.js";
import { startMockBedrock } from "./mock-server.js";

const pool = clientPool();
const f = limiterFactory("memory");
afterEach(() => pool.destroy());
afterEach(() => f.close());

describe("options", () => {
  const limiter = new RateLimiter({ model: "m", tpm: 1000 });
  afterAll(() => limiter.close());
  const client = () => pool.client("http://127.0.0.1:1");

  test.each([
    ["limiter", undefined],
    ["limiter", null],
    ["limiter", {}],
    ["limiter", { limiter: "redis://x" }],
    ["estimate", { limiter, estimate: 42 }],
    ["defaultOutputTokens", { limiter, defaultOutputTokens: -1 }],
    ["defaultOutputTokens", { limiter, defaultOutputTokens: 1.5 }],
    ["maxWaitMs", { limiter, maxWaitMs: Number.NaN }],
    ["maxWaitMs", { limiter, maxWaitMs: "1000" }],
  ])("bad %s → InvalidArgumentError", (field, options) => {
    const error = (() => {
      try {
        withRateLimit(client(), options as never);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ field });
  });

  test("a client without a middleware stack → InvalidArgumentError", () => {
    expect(() => withRateLimit({} as never, limiter)).toThrow(InvalidArgumentError);
    expect(() => withRateLimit({ middlewareStack: {} }, limiter)).toThrow(/client/);
  });

  test("a custom estimate replaces the built-in one, side by side", async () => {
    const mock = await startMockBedrock();
    try {
      const l = f.make({ tpm: 100_000 });
      const reserved: [number, number][] = [];
      l.on("acquire", (e) => reserved.push([e.result.inputTokens, e.result.outputTokens]));
      const seen: string[] = [];
      const c = withRateLimit(pool.client(mock.endpoint), {
        limiter: l,
        estimate: (request) => {
          seen.push(`${request.commandName}:${request.modelId}`);
          return { inputTokens: 777 };
        },
      });
      await c.send(new ConverseCommand({ modelId: MODEL_ID, messages: [userMessage("hi")] }));
      expect(seen).toEqual([`ConverseCommand:${MODEL_ID}`]);
      expect(reserved).toEqual([[777, 4096]]); // no maxTokens: defaultOutputTokens
    } finally {
      await mock.close();
    }
  });
});

describe("estimator", () => {
  test("Converse: messages + per-message framing + system + toolConfig; output from inferenceConfig.maxTokens", () => {
    const input = {
      messages: [userMessage("a".repeat(400)), { role: "assistant", content: [{ text: "b".repeat(40) }] }],
      system: [{ text: "c".repeat(80) }],
      toolConfig: { tools: [{ toolSpec: { name: "t", inputSchema: { json: {} } } }] },
      inferenceConfig: { maxTokens: 321 },
    };
    const expected =
      estimateTokens(input.messages) +
      2 * MESSAGE_OVERHEAD_TOKENS +
      estimateTokens(input.system) +
      estimateTokens(input.toolConfig);
    expect(estimateConverseInputTokens(input)).toBe(expected);
    expect(expected).toBeGreaterThan(100 + 10 + 20);
    expect(estimateBedrockRequest({ commandName: "ConverseStreamCommand", input })).toEqual({
      inputTokens: expected,
      outputTokens: 321,
    });
  });

  test.each([
    [{ max_tokens: 10 }, 10],
    [{ max_completion_tokens: 11, n: 2 }, 22],
    [{ max_gen_len: 12 }, 12],
    [{ maxTokens: 13 }, 13],
    [{ textGenerationConfig: { maxTokenCount: 14 } }, 14],
    [{ inferenceConfig: { max_new_tokens: 15 } }, 15],
    [{ prompt: "no cap" }, undefined],
  ])("native cap %j → %s", (body, expected) => {
    for (const encode of [JSON.stringify, (b: unknown) => new TextEncoder().encode(JSON.stringify(b))]) {
      expect(maxOutputTokens({ commandName: "InvokeModelCommand", input: { body: encode(body) } })).toBe(expected);
    }
  });

  test("a non-JSON body counts by length; no cap falls back to defaultOutputTokens", () => {
    expect(estimateBedrockRequest({ commandName: "InvokeModelCommand", input: { body: "x".repeat(400) } }, 99)).toEqual(
      { inputTokens: 100, outputTokens: 99 },
    );
  });

  test("httpStatusOf reads $metadata, then $response, and maps a bare ThrottlingException to 429", () => {
    expect(httpStatusOf({ $metadata: { httpStatusCode: 503 } })).toBe(503);
    expect(httpStatusOf({ $metadata: {}, $response: { statusCode: 500 } })).toBe(500);
    expect(httpStatusOf({ name: "ThrottlingException" })).toBe(429);
    expect(httpStatusOf(new Error("ECONNREFUSED"))).toBeUndefined();
  });
});
