import { GoogleGenAI as GoogleGenAIv3 } from "@google/genai";
import { InvalidArgumentError, WaitTimeoutError } from "@llmratelimiter/core";
import { withRateLimit } from "@llmratelimiter/vertex";
import { GoogleGenAI as GoogleGenAIv2 } from "google-genai-v2";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clearGoogleEnv, collect, expectUsage, grants, plain } from "./helpers.js";
import {
  AFC_FIRST_USAGE,
  AFC_SECOND_USAGE,
  type MockServer,
  RESOURCE_EXHAUSTED,
  STREAM_CHUNKS,
  startMock,
  textResponse,
} from "./mock-server.js";

type Client = GoogleGenAIv3;
const majors: Array<[string, new (options: ConstructorParameters<typeof GoogleGenAIv3>[0]) => Client]> = [
  ["@google/genai v3", GoogleGenAIv3],
  ["@google/genai v2", GoogleGenAIv2 as unknown as typeof GoogleGenAIv3],
];

let mock: MockServer;
beforeAll(async () => {
  clearGoogleEnv();
  mock = await startMock();
});
afterAll(() => mock.close());

/** A callable tool, as users write them for automatic function calling. */
function weatherTool(calls: unknown[]) {
  return {
    tool: async () => ({
      functionDeclarations: [
        { name: "get_weather", description: "Weather of a city", parametersJsonSchema: { type: "object" } },
      ],
    }),
    callTool: async (functionCalls: Array<{ name?: string; args?: unknown }>) => {
      calls.push(...functionCalls);
      return functionCalls.map((call) => ({
        functionResponse: { name: call.name ?? "", response: { output: "sunny" } },
      }));
    },
  };
}

describe.each(majors)("%s", (_name, GoogleGenAI) => {
  let f: ReturnType<typeof limiterFactory>;
  const make = (retry?: { attempts: number; initialDelay: number }): Client =>
    new GoogleGenAI({
      vertexai: true,
      apiKey: "test-key",
      httpOptions: { baseUrl: mock.url, ...(retry ? { retryOptions: retry } : {}) },
    });

  beforeEach(() => {
    mock.reset();
    f = limiterFactory("redis");
  });
  afterEach(() => f.close());

  it("generateContent: admitted before the request, settled to usageMetadata, result unchanged", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    let acquiredBeforeRequest = false;
    limiter.on("acquire", () => {
      acquiredBeforeRequest = mock.requests.length === 0;
    });
    const ai = withRateLimit(make(), limiter);
    const request = {
      model: "gemini-2.5-pro",
      contents: "Say hello",
      config: { maxOutputTokens: 200, candidateCount: 2, thinkingConfig: { thinkingBudget: 100 } },
    };
    const wrapped = await ai.models.generateContent(request);
    expect(seen).toHaveLength(1);
    expect(acquiredBeforeRequest).toBe(true);
    expect(seen[0]?.outputTokens).toBe(200 * 2 + 100);
    expect(seen[0]?.inputTokens).toBeGreaterThan(0);
    await expectUsage(limiter, { input: 11, output: 7 + 3, requests: 1 });

    const raw = await make().models.generateContent(request);
    expect(wrapped).toBeInstanceOf(raw.constructor);
    expect(plain(wrapped)).toEqual(plain(raw));
    expect(wrapped.text).toBe("Hello!");
    expect(mock.requests[0]?.body).toEqual(mock.requests[1]?.body);
  });

  it("generateContentStream read to the end: settled to the last chunk's usage, chunks unchanged", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make(), limiter);
    const request = { model: "gemini-2.5-flash", contents: "Stream please", config: { maxOutputTokens: 64 } };
    const stream = await ai.models.generateContentStream(request);
    const chunks = await collect(stream);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.outputTokens).toBe(64);
    await expectUsage(limiter, { input: 11, output: 6 + 2, requests: 1 });
    const raw = await collect(await make().models.generateContentStream(request));
    expect(plain(chunks)).toEqual(plain(raw));
    expect(chunks.map((c) => c.text).join("")).toBe("Hello!");
  });

  it("generateContentStream broken off: settled to the usage streamed so far", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const ai = withRateLimit(make(), limiter);
    const stream = await ai.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: "Stream please",
      config: { maxOutputTokens: 64 },
    });
    for await (const chunk of stream) {
      expect(chunk.text).toBe("Hel");
      break;
    }
    await expectUsage(limiter, { input: 11, output: 1, requests: 1 });
  });

  it("generateContentStream failing mid-stream: the error reaches the caller, streamed usage is kept", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const ai = withRateLimit(make(), limiter);
    mock.queue({ sse: STREAM_CHUNKS, dropAfter: 2 });
    const stream = await ai.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: "Stream please",
      config: { maxOutputTokens: 64, automaticContinuation: false } as never,
    });
    const texts: string[] = [];
    await expect(async () => {
      for await (const chunk of stream) texts.push(chunk.text ?? "");
    }).rejects.toThrow();
    expect(texts).toEqual(["Hel", "lo"]);
    await expectUsage(limiter, { input: 11, output: 4, requests: 1 });
  });

  it("a 429 inside the stream pauses the limiter", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const ai = withRateLimit(make(), limiter);
    mock.queue({ sse: [STREAM_CHUNKS[0], RESOURCE_EXHAUSTED.json] });
    const stream = await ai.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: "x",
      config: { automaticContinuation: false } as never,
    });
    await expect(collect(stream)).rejects.toMatchObject({ status: 429 });
    await expectUsage(limiter, { input: 0, output: 0, requests: 1 });
    expect((await limiter.status()).pausedUntil).toBeGreaterThan(Date.now());
  });

  it("embedContent: admitted with no output, settled to the token_count Vertex reports", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make(), limiter);
    const request = { model: "text-embedding-005", contents: ["What is your name?"] };
    const wrapped = await ai.models.embedContent(request);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.outputTokens).toBe(0);
    expect(mock.requests[0]?.path).toContain(":predict");
    await expectUsage(limiter, { input: 5, output: 0, requests: 1 });
    expect(plain(wrapped)).toEqual(plain(await make().models.embedContent(request)));
  });

  it("chats go through the same models instance: sendMessage and sendMessageStream", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make(), limiter);
    const chat = ai.chats.create({ model: "gemini-2.5-pro", config: { maxOutputTokens: 50 } });
    const reply = await chat.sendMessage({ message: "Hi" });
    expect(reply.text).toBe("Hello!");
    await expectUsage(limiter, { input: 11, output: 10, requests: 1 });
    const chunks = await collect(await chat.sendMessageStream({ message: "Again" }));
    expect(chunks.map((c) => c.text).join("")).toBe("Hello!");
    expect(seen).toHaveLength(2);
    // the second turn carries the history, so it is estimated larger
    expect(seen[1]?.inputTokens).toBeGreaterThan(seen[0]?.inputTokens ?? 0);
    await expectUsage(limiter, { input: 22, output: 10 + 8, requests: 2 });
  });

  it("automatic function calling: every model call is admitted and settled", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make(), limiter);
    const toolCalls: unknown[] = [];
    const request = {
      model: "gemini-2.5-pro",
      contents: "Weather in Paris?",
      config: { tools: [weatherTool(toolCalls)], maxOutputTokens: 100 },
    };
    const wrapped = await ai.models.generateContent(request);
    expect(wrapped.text).toBe("Sunny in Paris");
    expect(toolCalls).toHaveLength(1);
    expect(mock.requests).toHaveLength(2);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.inputTokens).toBeGreaterThan(seen[0]?.inputTokens ?? 0);
    await expectUsage(limiter, {
      input: AFC_FIRST_USAGE.promptTokenCount + AFC_SECOND_USAGE.promptTokenCount,
      output:
        AFC_FIRST_USAGE.candidatesTokenCount +
        AFC_SECOND_USAGE.candidatesTokenCount +
        AFC_SECOND_USAGE.thoughtsTokenCount,
      requests: 2,
    });
    const raw = await make().models.generateContent({
      ...request,
      config: { ...request.config, tools: [weatherTool([])] },
    });
    expect(plain(wrapped)).toEqual(plain(raw));
  });

  it("automatic function calling while streaming: every model call is admitted and settled", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make(), limiter);
    const stream = await ai.models.generateContentStream({
      model: "gemini-2.5-pro",
      contents: "Weather in Paris?",
      config: { tools: [weatherTool([])] },
    });
    const chunks = await collect(stream);
    expect(chunks.at(-1)?.text).toBe("Sunny in Paris");
    expect(seen).toHaveLength(2);
    await expectUsage(limiter, { input: 20 + 30, output: 5 + 6 + 4, requests: 2 });
  });

  it("RESOURCE_EXHAUSTED pauses every limiter sharing the store, then the call succeeds", async () => {
    const first = f.make({ tpm: 100_000, rpm: 100 });
    const second = f.make({ tpm: 100_000, rpm: 100 });
    const ai = withRateLimit(make(), first);
    mock.queue(RESOURCE_EXHAUSTED);
    const request = { model: "gemini-2.5-pro", contents: "hi" };
    await expect(ai.models.generateContent(request)).rejects.toMatchObject({ status: 429 });
    const paused = await second.status();
    expect(paused.pausedUntil).toBeGreaterThan(Date.now());
    // refunded but still counted as a request
    expect(paused.requestsUsed).toBe(1);
    expect(paused.inputTokensUsed).toBe(0);

    const after = withRateLimit(make(), second);
    const seen = grants(second);
    const ok = await after.models.generateContent(request);
    expect(ok.text).toBe("Hello!");
    expect(seen[0]?.slotTime).toBeGreaterThanOrEqual(paused.pausedUntil ?? 0);
    await expectUsage(second, { input: 11, output: 10, requests: 2 });
  });

  it("SDK retries (httpOptions.retryOptions): every attempt is admitted", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(make({ attempts: 3, initialDelay: 0.01 }), limiter);
    mock.queue({ status: 503, json: { error: { code: 503, message: "unavailable", status: "UNAVAILABLE" } } });
    const result = await ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" });
    expect(result.text).toBe("Hello!");
    expect(mock.requests).toHaveLength(2);
    expect(seen).toHaveLength(2);
    await expectUsage(limiter, { input: 11, output: 10, requests: 2 });
  });

  it("an error that never reached the server releases the reservation", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const ai = withRateLimit(
      new GoogleGenAI({ vertexai: true, apiKey: "k", httpOptions: { baseUrl: "http://127.0.0.1:1" } }),
      limiter,
    );
    await expect(ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" })).rejects.toThrow();
    expect(seen).toHaveLength(1);
    await expectUsage(limiter, { input: 0, output: 0, requests: 0 });
  });

  it("split mode: input and output budgets are enforced separately", async () => {
    const limiter = f.make({ inputTpm: 100, outputTpm: 50, rpm: 100 });
    const ai = withRateLimit(make(), { limiter, maxWaitMs: 0 });
    // output-heavy answers exhaust the output budget while input has room
    mock.handler = () => ({ json: textResponse("long", { promptTokenCount: 5, candidatesTokenCount: 45 }) });
    await ai.models.generateContent({ model: "m", contents: "a", config: { maxOutputTokens: 45 } });
    await expect(
      ai.models.generateContent({ model: "m", contents: "b", config: { maxOutputTokens: 10 } }),
    ).rejects.toBeInstanceOf(WaitTimeoutError);
    // a call needing little output still fits
    await ai.models.generateContent({ model: "m", contents: "c", config: { maxOutputTokens: 5 } });
    expect(mock.requests).toHaveLength(2);
    const s = await limiter.status();
    expect([s.inputTokensUsed, s.outputTokensUsed, s.inputTokensLimit, s.outputTokensLimit]).toEqual([10, 90, 100, 50]);
  });

  it("split mode: a full input budget blocks while output has room", async () => {
    const limiter = f.make({ inputTpm: 100, outputTpm: 10_000, rpm: 100 });
    const ai = withRateLimit(make(), { limiter, maxWaitMs: 0 });
    mock.handler = () => ({ json: textResponse("x", { promptTokenCount: 95, candidatesTokenCount: 1 }) });
    await ai.models.generateContent({ model: "m", contents: "a", config: { maxOutputTokens: 1 } });
    await expect(
      ai.models.generateContent({ model: "m", contents: "a long enough prompt", config: { maxOutputTokens: 1 } }),
    ).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(mock.requests).toHaveLength(1);
    await expectUsage(limiter, { input: 95, output: 1, requests: 1 });
  });

  it("the caller's abortSignal cancels the wait for a slot", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    await limiter.pause(60_000);
    const ai = withRateLimit(make(), limiter);
    const controller = new AbortController();
    const call = ai.models.generateContent({ model: "m", contents: "hi", config: { abortSignal: controller.signal } });
    setTimeout(() => controller.abort(new Error("stop")), 50);
    await expect(call).rejects.toThrow("stop");
    expect(mock.requests).toHaveLength(0);
  });

  it("a selector returning undefined leaves that model unlimited; wrapping twice admits once", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const client = make();
    const ai = withRateLimit(client, { limiter: (model) => (model === "gemini-2.5-pro" ? limiter : undefined) });
    expect(withRateLimit(ai, limiter)).toBe(client);
    await ai.models.generateContent({ model: "other", contents: "hi" });
    expect(seen).toHaveLength(0);
    await ai.models.generateContent({ model: "publishers/google/models/gemini-2.5-pro", contents: "hi" });
    expect(seen).toHaveLength(1);
  });

  it("bad options throw InvalidArgumentError naming the field", () => {
    const limiter = f.make({ tpm: 1000 });
    const cases: Array<[unknown, unknown, string]> = [
      [make(), null, "options"],
      [make(), {}, "limiter"],
      [make(), { limiter: "x" }, "limiter"],
      [make(), { limiter, estimate: 5 }, "estimate"],
      [make(), { limiter, defaultOutputTokens: -1 }, "defaultOutputTokens"],
      [make(), { limiter, defaultOutputTokens: 1.5 }, "defaultOutputTokens"],
      [make(), { limiter, maxWaitMs: "soon" }, "maxWaitMs"],
      [{ models: {} }, limiter, "client"],
      [null, limiter, "client"],
    ];
    for (const [client, options, field] of cases) {
      let caught: unknown;
      try {
        withRateLimit(client as object, options as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).field).toBe(field);
    }
  });
});
