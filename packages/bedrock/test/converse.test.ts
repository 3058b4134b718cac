import {
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  CountTokensCommand,
} from "@aws-sdk/client-bedrock-runtime";
import {
  estimateBedrockRequest,
  RATE_LIMIT_ATTEMPT_MIDDLEWARE,
  RATE_LIMIT_MIDDLEWARE,
  withRateLimit,
} from "@llmratelimiter/bedrock";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clientPool, collect, MODEL_ID, trace, userMessage } from "./helpers.js";
import { CONVERSE_STREAM_FRAMES, type MockBedrock, startMockBedrock } from "./mock-server.js";

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

const input: ConverseCommandInput = {
  modelId: MODEL_ID,
  system: [{ text: "You are terse." }],
  messages: [userMessage("Say hi to the whole wide world, please.")],
  inferenceConfig: { maxTokens: 300 },
};
const estimated = estimateBedrockRequest({ commandName: "ConverseCommand", input });

describe("ConverseCommand", () => {
  test("client.send: acquires before the request, settles to usage, returns the SDK's result", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const raw = await pool.client(mock.endpoint).send(new ConverseCommand(input));
    const client = withRateLimit(pool.client(mock.endpoint), limiter);

    const result = await client.send(new ConverseCommand(input));

    expect(result).toEqual(raw);
    expect(estimated.outputTokens).toBe(300);
    expect(acquired).toEqual([estimated.inputTokens + 300]);
    expect(mock.log).toEqual(["server:converse", "acquire", "server:converse", "adjust"]);
    const s = await limiter.status();
    expect(s).toMatchObject({ inputTokensUsed: 10, outputTokensUsed: 2, tokensUsed: 12, requestsUsed: 1 });
  });

  test("BedrockRuntime#converse goes through the same middleware", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const raw = await pool.aggregated(mock.endpoint).converse(input);
    const client = withRateLimit(pool.aggregated(mock.endpoint), { limiter });

    const result = await client.converse(input);

    expect(result).toEqual(raw);
    expect(acquired).toEqual([estimated.inputTokens + 300]);
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: 10, outputTokensUsed: 2, requestsUsed: 1 });
  });

  test("wrapping twice is a no-op", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const client = pool.client(mock.endpoint);
    expect(withRateLimit(withRateLimit(client, limiter), f.make({ tpm: 10 }))).toBe(client);
    const names = client.middlewareStack.identify().filter((m) => m.includes("llmRateLimit"));
    expect(names).toEqual([
      `${RATE_LIMIT_MIDDLEWARE} - initialize`,
      `${RATE_LIMIT_ATTEMPT_MIDDLEWARE} - before awsAuthMiddleware`,
    ]);
    await client.send(new ConverseCommand(input));
    expect(acquired).toHaveLength(1);
    expect((await limiter.status()).tokensUsed).toBe(12);
  });

  test("concurrent sends share one cached handler (cacheMiddleware) and are still counted one by one", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const client = withRateLimit(pool.client(mock.endpoint, { cacheMiddleware: true }), limiter);
    await Promise.all([1, 2, 3].map(() => client.send(new ConverseCommand(input))));
    expect(acquired).toHaveLength(3);
    expect(await limiter.status()).toMatchObject({ requestsUsed: 3, inputTokensUsed: 30, outputTokensUsed: 6 });
  });

  test("a selector picks the limiter per modelId; undefined leaves the model unlimited", async () => {
    const sonnet = f.make({ model: "sonnet", tpm: 100_000 });
    const other = f.make({ model: "other", tpm: 100_000 });
    const client = withRateLimit(pool.client(mock.endpoint), {
      limiter: (modelId) => (modelId === MODEL_ID ? sonnet : modelId === "other-model" ? other : undefined),
    });
    await client.send(new ConverseCommand(input));
    await client.send(new ConverseCommand({ ...input, modelId: "other-model" }));
    await client.send(new ConverseCommand({ ...input, modelId: "free-model" }));
    expect(mock.requests.map((r) => r.modelId)).toEqual([MODEL_ID, "other-model", "free-model"]);
    expect((await sonnet.status()).requestsUsed).toBe(1);
    expect((await other.status()).requestsUsed).toBe(1);
  });

  test("an abortSignal cancels the wait for a slot; the request never leaves", async () => {
    const limiter = f.make({ rpm: 1 });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    await client.send(new ConverseCommand(input));
    const controller = new AbortController();
    // Aborted on a later tick: the core attaches its abort listener just after emitting "wait".
    limiter.on("wait", () => setTimeout(() => controller.abort(new Error("gave up")), 0));
    await expect(client.send(new ConverseCommand(input), { abortSignal: controller.signal })).rejects.toThrow(
      "gave up",
    );
    expect(mock.requests).toHaveLength(1);
    const s = await limiter.status();
    expect(s).toMatchObject({ requestsUsed: 1, queueDepth: 0 });
  });

  test("CountTokensCommand is free and not limited", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const result = await client.send(
      new CountTokensCommand({ modelId: MODEL_ID, input: { converse: { messages: input.messages ?? [] } } }),
    );
    expect(result.inputTokens).toBe(11);
    expect(acquired).toEqual([]);
    expect(await limiter.status()).toMatchObject({ requestsUsed: 0, tokensUsed: 0 });
  });
});

describe("ConverseStreamCommand", () => {
  const streamInput = { ...input };
  const streamEstimate = estimated.inputTokens + 300;

  test("read to the end: settles at the metadata event (cache writes count, cache reads do not)", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const acquired = trace(limiter, mock.log);
    const rawOutput = await pool.client(mock.endpoint).send(new ConverseStreamCommand(streamInput));
    const rawEvents = await collect(rawOutput.stream);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);

    const output = await client.send(new ConverseStreamCommand(streamInput));
    const events = await collect(output.stream);

    expect(events).toEqual(rawEvents);
    expect(events).toHaveLength(CONVERSE_STREAM_FRAMES.length);
    expect({ ...output, stream: undefined }).toEqual({ ...rawOutput, stream: undefined });
    expect(acquired).toEqual([streamEstimate]);
    await vi.waitFor(async () =>
      expect(await limiter.status()).toMatchObject({ inputTokensUsed: 21 + 5, outputTokensUsed: 6, requestsUsed: 1 }),
    );
  });

  test("broken off before the metadata event: keeps the estimate", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const output = await client.send(new ConverseStreamCommand(streamInput));
    const seen: unknown[] = [];
    for await (const event of output.stream ?? []) {
      seen.push(event);
      break;
    }
    expect(seen).toEqual([{ messageStart: { role: "assistant" } }]);
    const s = await limiter.status();
    expect(s).toMatchObject({ tokensUsed: streamEstimate, outputTokensUsed: 300, requestsUsed: 1 });
  });

  test("an exception event mid-stream reaches the caller unchanged; the estimate stays", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const failing = {
      frames: [
        CONVERSE_STREAM_FRAMES[0]!,
        { exception: "modelStreamErrorException", payload: { message: "model broke", originalStatusCode: 500 } },
      ],
    };
    mock.queue("converse-stream", failing, failing);
    const rawError = await collect(
      (await pool.client(mock.endpoint).send(new ConverseStreamCommand(streamInput))).stream,
    ).catch((e: unknown) => e);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const output = await client.send(new ConverseStreamCommand(streamInput));
    const error = await collect(output.stream).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: "ModelStreamErrorException", message: "model broke" });
    expect(error).toEqual(rawError);
    const s = await limiter.status();
    expect(s).toMatchObject({ tokensUsed: streamEstimate, requestsUsed: 1, pausedUntil: null });
  });

  test("a throttlingException event mid-stream also pauses the limiter", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    mock.queue("converse-stream", {
      frames: [
        CONVERSE_STREAM_FRAMES[0]!,
        { exception: "throttlingException", payload: { message: "Too many tokens" } },
      ],
    });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const output = await client.send(new ConverseStreamCommand(streamInput));
    await expect(collect(output.stream)).rejects.toMatchObject({ name: "ThrottlingException" });
    await vi.waitFor(async () => expect((await limiter.status()).pausedUntil).toBeGreaterThan(Date.now()));
    expect((await limiter.status()).tokensUsed).toBe(streamEstimate);
  });
});
