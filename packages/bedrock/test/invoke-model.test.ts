import { InvokeModelCommand, InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { estimateBedrockRequest, withRateLimit } from "@llmratelimiter/bedrock";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clientPool, collect, MODEL_ID, trace } from "./helpers.js";
import { INVOKE_BODY, type MockBedrock, NATIVE_STREAM_FRAMES, startMockBedrock } from "./mock-server.js";

const pool = clientPool();
let mock: MockBedrock;
let f: ReturnType<typeof limiterFactory>;

beforeEach(async () => {
  mock = await startMockBedrock();
  f = limiterFactory("redis");
});
afterEach(async () => {
  pool.destroy();
  await mock.close();
  await f.close();
});

const anthropicBody = {
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 500,
  system: "You are terse.",
  messages: [{ role: "user", content: "Say hi to the whole wide world, please." }],
};
const input = { modelId: MODEL_ID, contentType: "application/json", body: JSON.stringify(anthropicBody) };
const estimated = estimateBedrockRequest({ commandName: "InvokeModelCommand", input });

describe("InvokeModelCommand", () => {
  test("reserves input + max_tokens, settles to the token-count headers (cache writes included)", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const raw = await pool.client(mock.endpoint).send(new InvokeModelCommand(input));
    const client = withRateLimit(pool.client(mock.endpoint), limiter);

    const result = await client.send(new InvokeModelCommand(input));

    expect(result).toEqual(raw);
    expect(JSON.parse(result.body.transformToString())).toEqual(INVOKE_BODY);
    expect(estimated.outputTokens).toBe(500);
    expect(acquired).toEqual([estimated.inputTokens + 500]);
    expect(mock.log).toEqual(["server:invoke", "acquire", "server:invoke", "adjust"]);
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: 12 + 4, outputTokensUsed: 3, requestsUsed: 1 });
  });

  test("without the headers, settles to the native body's usage", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    mock.queue("invoke", { json: { ...INVOKE_BODY, usage: { input_tokens: 40, output_tokens: 9 } } });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    await client.send(new InvokeModelCommand({ ...input, body: new TextEncoder().encode(input.body) }));
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: 40, outputTokensUsed: 9, tokensUsed: 49 });
  });

  test.each([
    ["Llama max_gen_len", { prompt: "hi", max_gen_len: 64 }, 64],
    ["Titan textGenerationConfig.maxTokenCount", { inputText: "hi", textGenerationConfig: { maxTokenCount: 77 } }, 77],
    ["Nova inferenceConfig.max_new_tokens", { messages: [], inferenceConfig: { max_new_tokens: 88 } }, 88],
    ["no cap: defaultOutputTokens", { prompt: "hi" }, 1234],
  ])("reserves the native cap: %s", async (_name, body, expected) => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const reserved: number[] = [];
    limiter.on("acquire", (e) => reserved.push(e.result.outputTokens));
    const client = withRateLimit(pool.client(mock.endpoint), { limiter, defaultOutputTokens: 1234 });
    await client.send(new InvokeModelCommand({ modelId: "meta.llama3", body: JSON.stringify(body) }));
    expect(reserved).toEqual([expected]);
    expect(mock.requests[0]?.body).toEqual(body);
    expect((await limiter.status()).outputTokensUsed).toBe(3);
  });
});

describe("InvokeModelWithResponseStreamCommand", () => {
  const streamEstimate = estimated.inputTokens + 500;

  test("read to the end: settles to the last chunk's amazon-bedrock-invocationMetrics", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const rawOutput = await pool.client(mock.endpoint).send(new InvokeModelWithResponseStreamCommand(input));
    const rawEvents = await collect(rawOutput.body);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);

    const output = await client.send(new InvokeModelWithResponseStreamCommand(input));
    const events = await collect(output.body);

    expect(events).toEqual(rawEvents);
    expect(events).toHaveLength(NATIVE_STREAM_FRAMES.length);
    expect({ ...output, body: undefined }).toEqual({ ...rawOutput, body: undefined });
    expect(acquired).toEqual([streamEstimate]);
    await vi.waitFor(async () =>
      expect(await limiter.status()).toMatchObject({ inputTokensUsed: 30 + 2, outputTokensUsed: 7, requestsUsed: 1 }),
    );
  });

  test("broken off: input corrected from message_start, output keeps the reserved cap", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const output = await client.send(new InvokeModelWithResponseStreamCommand(input));
    let n = 0;
    for await (const _event of output.body ?? []) if (++n === 2) break;
    await vi.waitFor(async () =>
      expect(await limiter.status()).toMatchObject({ inputTokensUsed: 30, outputTokensUsed: 500, requestsUsed: 1 }),
    );
  });

  test("an exception event mid-stream reaches the caller unchanged; the reservation is kept", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const failing = {
      frames: [
        NATIVE_STREAM_FRAMES[0]!,
        { exception: "modelStreamErrorException", payload: { message: "model broke", originalStatusCode: 500 } },
      ],
    };
    mock.queue("invoke-with-response-stream", failing, failing);
    const rawError = await collect(
      (await pool.client(mock.endpoint).send(new InvokeModelWithResponseStreamCommand(input))).body,
    ).catch((e: unknown) => e);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const output = await client.send(new InvokeModelWithResponseStreamCommand(input));
    const error = await collect(output.body).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: "ModelStreamErrorException", message: "model broke" });
    expect(error).toEqual(rawError);
    await vi.waitFor(async () =>
      expect(await limiter.status()).toMatchObject({ inputTokensUsed: 30, outputTokensUsed: 500, requestsUsed: 1 }),
    );
  });
});
