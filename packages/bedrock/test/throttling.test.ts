import { ConverseCommand, type ConverseCommandInput, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { estimateBedrockRequest, withRateLimit } from "@llmratelimiter/bedrock";
import type { AcquireResult } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clientPool, collect, MODEL_ID, userMessage } from "./helpers.js";
import { CONVERSE_REPLY, type MockBedrock, startMockBedrock, THROTTLED } from "./mock-server.js";

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
  messages: [userMessage("Say hi.")],
  inferenceConfig: { maxTokens: 1000 },
};
const estimated = estimateBedrockRequest({ commandName: "ConverseCommand", input });

function grants(limiter: ReturnType<typeof f.make>) {
  const list: AcquireResult[] = [];
  limiter.on("acquire", (e) => list.push(e.result));
  return list;
}

describe("ThrottlingException", () => {
  test("pauses every process sharing the budget; the next call waits for the pause", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const otherProcess = f.make({ tpm: 100_000, rpm: 100 });
    const granted = grants(limiter);
    mock.queue("converse", THROTTLED, THROTTLED);
    const rawError = await pool
      .client(mock.endpoint)
      .send(new ConverseCommand(input))
      .catch((e: unknown) => e);
    const client = withRateLimit(pool.client(mock.endpoint), limiter);

    const error = await client.send(new ConverseCommand(input)).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: "ThrottlingException", $metadata: { httpStatusCode: 429 } });
    expect(error).toEqual(rawError);
    const seen = await otherProcess.status();
    expect(seen.pausedUntil).toBeGreaterThan(Date.now() + 300); // backoff 1 s ±20 %
    expect(seen).toMatchObject({ requestsUsed: 1, tokensUsed: 0 }); // counted, tokens refunded

    const result = await client.send(new ConverseCommand(input));
    expect(result.usage).toEqual(CONVERSE_REPLY.usage);
    expect(granted).toHaveLength(2);
    expect(granted[1]!.slotTime).toBeGreaterThanOrEqual(seen.pausedUntil!);
    expect(await otherProcess.status()).toMatchObject({ requestsUsed: 2, inputTokensUsed: 10, outputTokensUsed: 2 });
  });

  test("SDK retries: each HTTP attempt is admitted, the retry queues behind the pause", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const granted = grants(limiter);
    const pauses: number[] = [];
    limiter.on("pause", (e) => pauses.push(e.result.pausedUntil));
    mock.queue("converse", THROTTLED);
    const client = withRateLimit(pool.client(mock.endpoint, { maxAttempts: 2 }), limiter);

    const result = await client.send(new ConverseCommand(input));

    expect(result.$metadata.attempts).toBe(2);
    expect(mock.requests).toHaveLength(2);
    expect(granted.map((g) => g.combinedTokens)).toEqual([estimated.inputTokens + 1000, estimated.inputTokens + 1000]);
    expect(pauses).toHaveLength(1);
    expect(granted[1]!.slotTime).toBeGreaterThanOrEqual(pauses[0]!);
    expect(await limiter.status()).toMatchObject({
      requestsUsed: 2,
      inputTokensUsed: 10,
      outputTokensUsed: 2,
      tokensUsed: 12,
    });
  });

  test("SDK retries of a stream command are admitted too", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const granted = grants(limiter);
    mock.queue("converse-stream", THROTTLED);
    const client = withRateLimit(pool.client(mock.endpoint, { maxAttempts: 2 }), limiter);
    const events = await collect((await client.send(new ConverseStreamCommand(input))).stream);
    expect(events.at(-1)).toHaveProperty("metadata");
    expect(granted).toHaveLength(2);
    await vi.waitFor(async () =>
      expect(await limiter.status()).toMatchObject({ requestsUsed: 2, inputTokensUsed: 26, outputTokensUsed: 6 }),
    );
  });

  test("other HTTP errors refund the tokens and keep the request; no pause", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    mock.queue("converse", {
      status: 400,
      headers: { "x-amzn-errortype": "ValidationException" },
      json: { message: "messages: bad" },
    });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    await expect(client.send(new ConverseCommand(input))).rejects.toMatchObject({ name: "ValidationException" });
    expect(await limiter.status()).toMatchObject({ requestsUsed: 1, tokensUsed: 0, pausedUntil: null });
  });

  test("a request that never reached the service is released", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const dead = await startMockBedrock();
    await dead.close();
    const client = withRateLimit(pool.client(dead.endpoint), limiter);
    const released: string[] = [];
    limiter.on("release", (e) => released.push(e.result.status));
    await expect(client.send(new ConverseCommand(input))).rejects.toThrow();
    expect(released).toEqual(["released"]);
    expect(await limiter.status()).toMatchObject({ requestsUsed: 0, tokensUsed: 0 });
  });
});

describe("burndown", () => {
  test("1,000 output tokens reserve 5,000 of the combined TPM; settling refunds at the same rate", async () => {
    const limiter = f.make({ tpm: 1_000_000, rpm: 100, burndownRate: 5 });
    let open!: () => void;
    mock.queue("converse", {
      json: { ...CONVERSE_REPLY, usage: { inputTokens: 10, outputTokens: 200, totalTokens: 210 } },
      gate: new Promise<void>((resolve) => {
        open = resolve;
      }),
    });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    const pending = client.send(new ConverseCommand(input));

    await vi.waitFor(() => expect(mock.requests).toHaveLength(1));
    expect(await limiter.status()).toMatchObject({
      inputTokensUsed: estimated.inputTokens,
      outputTokensUsed: 1000,
      tokensUsed: estimated.inputTokens + 5000,
    });
    open();
    await pending;
    expect(await limiter.status()).toMatchObject({ inputTokensUsed: 10, outputTokensUsed: 200, tokensUsed: 10 + 1000 });
  });

  test("streams settle with burndown too", async () => {
    const limiter = f.make({ tpm: 1_000_000, rpm: 100, burndownRate: 5 });
    const client = withRateLimit(pool.client(mock.endpoint), limiter);
    await collect((await client.send(new ConverseStreamCommand(input))).stream);
    await vi.waitFor(async () => expect((await limiter.status()).tokensUsed).toBe(26 + 5 * 6));
  });
});
