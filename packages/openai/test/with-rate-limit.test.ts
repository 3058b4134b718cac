import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { RateLimiter } from "@llmratelimiter/core";
import { estimateRequest, withRateLimit } from "@llmratelimiter/openai";
import type OpenAI from "openai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { collect, expectUsage, makeClient, SDKS, type Tracker, track, waitForSettlements } from "./helpers.js";
import {
  CHAT_USAGE,
  COMPLETIONS_USAGE,
  EMBEDDINGS_USAGE,
  type MockOpenAI,
  RESPONSES_USAGE,
  startMockOpenAI,
} from "./mock-openai.js";

const messages = [
  { role: "system" as const, content: "You are terse." },
  { role: "user" as const, content: "Say hello to the rate limiter." },
];
const CHAT = { model: "gpt-4o", messages, max_completion_tokens: 50 };
const chatUsage = { input: CHAT_USAGE.prompt_tokens, output: CHAT_USAGE.completion_tokens, requests: 1 };
const responsesUsage = { input: RESPONSES_USAGE.input_tokens, output: RESPONSES_USAGE.output_tokens, requests: 1 };

describe.each(SDKS)("%s", (_name, Sdk) => {
  let mock: MockOpenAI;
  let f: ReturnType<typeof limiterFactory>;
  let limiter: RateLimiter;
  let t: Tracker;
  let client: OpenAI;
  let raw: OpenAI;

  beforeAll(async () => {
    mock = await startMockOpenAI();
  });
  afterAll(() => mock.close());
  beforeEach(() => {
    mock.requests.length = 0;
    f = limiterFactory("redis");
    limiter = f.make({ tpm: 100_000, rpm: 100 });
    t = track(limiter, mock);
    client = withRateLimit(makeClient(Sdk, mock), limiter);
    raw = makeClient(Sdk, mock);
  });
  afterEach(async () => {
    mock.onRequest = undefined;
    await f.close();
  });

  describe("chat.completions", () => {
    it("create: acquires before sending, settles to usage, returns the raw result", async () => {
      const body = { ...CHAT, n: 2 };
      const result = await client.chat.completions.create(body);
      expect(t.log).toEqual(["acquire", "request /chat/completions"]);
      expect(t.acquires[0]).toMatchObject({
        inputTokens: estimateRequest("chat", body).inputTokens,
        outputTokens: 100,
      });
      await expectUsage(limiter, chatUsage);
      expect(result).toEqual(await raw.chat.completions.create(body));
      expect(result._request_id).toBe("req_mock");
    });

    it("parse goes through create", async () => {
      const body = {
        ...CHAT,
        response_format: {
          type: "json_schema" as const,
          json_schema: { name: "a", schema: { type: "object", properties: { answer: { type: "number" } } } },
        },
      };
      const result = await client.chat.completions.parse(body);
      expect(t.acquires).toHaveLength(1);
      await expectUsage(limiter, chatUsage);
      expect(result).toEqual(await raw.chat.completions.parse(body));
    });

    it("withResponse() and asResponse() still work", async () => {
      const { data, response, request_id } = await client.chat.completions.create(CHAT).withResponse();
      expect(response.status).toBe(200);
      expect(request_id).toBe("req_mock");
      expect(data).toEqual(await raw.chat.completions.create(CHAT));
      await expectUsage(limiter, chatUsage);

      const asResponse = await client.chat.completions.create(CHAT).asResponse();
      expect(await asResponse.json()).toEqual(JSON.parse(JSON.stringify(data)));
      expect(t.acquires).toHaveLength(2); // admitted; the caller reads the body, so the estimate stays
    });

    it("stream: injects include_usage, hides the usage chunk, settles at it", async () => {
      const body = { ...CHAT, stream: true as const };
      const chunks = await collect(await client.chat.completions.create(body));
      expect(mock.requests[0]?.body.stream_options).toEqual({ include_usage: true });
      expect(body).not.toHaveProperty("stream_options"); // the caller's object is untouched
      await expectUsage(limiter, chatUsage);
      const rawChunks = await collect(await raw.chat.completions.create(body));
      expect(chunks).toEqual(rawChunks);
      expect(chunks.every((c) => c.choices.length === 1 && !("usage" in c))).toBe(true);
    });

    it("stream with include_usage asked by the caller: the usage chunk passes through", async () => {
      const body = { ...CHAT, stream: true as const, stream_options: { include_usage: true } };
      const chunks = await collect(await client.chat.completions.create(body));
      await expectUsage(limiter, chatUsage);
      expect(chunks.at(-1)).toMatchObject({ choices: [], usage: CHAT_USAGE });
      expect(chunks).toEqual(await collect(await raw.chat.completions.create(body)));
    });

    it("stream broken off by the consumer keeps the estimate", async () => {
      const stream = await client.chat.completions.create({ ...CHAT, stream: true });
      for await (const _chunk of stream) break;
      await waitForSettlements(t, 1);
      const estimate = estimateRequest("chat", CHAT);
      await expectUsage(limiter, { input: estimate.inputTokens, output: estimate.outputTokens, requests: 1 });
    });

    it("stream failing mid-way keeps the estimate and the caller gets the error", async () => {
      mock.enqueue({ kind: "stream-error" });
      const stream = await client.chat.completions.create({ ...CHAT, stream: true });
      await expect(collect(stream)).rejects.toThrow("boom");
      await waitForSettlements(t, 1);
      const estimate = estimateRequest("chat", CHAT);
      await expectUsage(limiter, { input: estimate.inputTokens, output: estimate.outputTokens, requests: 1 });
    });

    it("tee() branches see the same hidden-usage stream", async () => {
      const [a, b] = (await client.chat.completions.create({ ...CHAT, stream: true })).tee();
      const [left, right] = await Promise.all([collect(a), collect(b)]);
      expect(left).toEqual(right);
      expect(left).toEqual(await collect(await raw.chat.completions.create({ ...CHAT, stream: true })));
      await expectUsage(limiter, chatUsage);
    });

    it("ChatCompletionStream.finalChatCompletion() works", async () => {
      const final = await client.chat.completions.stream(CHAT).finalChatCompletion();
      expect(final.choices[0]?.message.content).toBe("Hello");
      expect(final).toEqual(await raw.chat.completions.stream(CHAT).finalChatCompletion());
      await expectUsage(limiter, chatUsage);
    });

    it("runTools: every round is admitted and settled", async () => {
      const run = (c: OpenAI) =>
        c.chat.completions
          .runTools({
            model: "gpt-4o",
            messages: [{ role: "user", content: "Weather in Paris?" }],
            tools: [
              {
                type: "function",
                function: {
                  name: "getWeather",
                  description: "Weather for a city",
                  function: (args: { city: string }) => `sunny in ${args.city}`,
                  parse: JSON.parse,
                  parameters: { type: "object", properties: { city: { type: "string" } } },
                },
              },
            ],
          })
          .finalContent();
      const content = await run(client);
      expect(content).toBe("It is sunny.");
      expect(t.log).toEqual(["acquire", "request /chat/completions", "acquire", "request /chat/completions"]);
      await expectUsage(limiter, {
        input: 2 * CHAT_USAGE.prompt_tokens,
        output: 2 * CHAT_USAGE.completion_tokens,
        requests: 2,
      });
      expect(await run(raw)).toBe(content);
    });
  });

  describe("responses", () => {
    const BODY = { model: "gpt-4o", instructions: "Be brief.", input: "Say hello.", max_output_tokens: 64 };

    it("create: settles to input_tokens/output_tokens, result unchanged", async () => {
      const result = await client.responses.create(BODY);
      expect(t.acquires[0]).toMatchObject({ ...estimateRequest("responses", BODY) });
      expect(t.acquires[0]?.outputTokens).toBe(64);
      await expectUsage(limiter, responsesUsage);
      expect(result.output_text).toBe("Hello");
      expect(result).toEqual(await raw.responses.create(BODY));
    });

    it("parse", async () => {
      const result = await client.responses.parse(BODY);
      await expectUsage(limiter, responsesUsage);
      expect(result).toEqual(await raw.responses.parse(BODY));
    });

    it("compact is limited too", async () => {
      const body = { model: "gpt-4o", input: "a long conversation" };
      const result = await client.responses.compact(body);
      await expectUsage(limiter, responsesUsage);
      expect(result).toEqual(await raw.responses.compact(body));
    });

    it("create stream: settles at response.completed, events unchanged", async () => {
      const events = await collect(await client.responses.create({ ...BODY, stream: true }));
      await expectUsage(limiter, responsesUsage);
      expect(events).toEqual(await collect(await raw.responses.create({ ...BODY, stream: true })));
    });

    it("stream(): ResponseStream.finalResponse() works", async () => {
      const final = await client.responses.stream(BODY).finalResponse();
      await expectUsage(limiter, responsesUsage);
      expect(final.output_text).toBe("Hello");
      expect(final).toEqual(await raw.responses.stream(BODY).finalResponse());
    });

    it("stream broken off and stream failing keep the estimate", async () => {
      const estimate = estimateRequest("responses", BODY);
      const stream = await client.responses.create({ ...BODY, stream: true });
      for await (const _event of stream) break;
      await waitForSettlements(t, 1);
      await expectUsage(limiter, { input: estimate.inputTokens, output: estimate.outputTokens, requests: 1 });

      mock.enqueue({ kind: "stream-error" });
      const failing = await client.responses.create({ ...BODY, stream: true });
      await expect(collect(failing)).rejects.toThrow("boom");
      await waitForSettlements(t, 2);
      await expectUsage(limiter, { input: 2 * estimate.inputTokens, output: 2 * estimate.outputTokens, requests: 2 });
    });
  });

  describe("completions and embeddings", () => {
    const BODY = { model: "gpt-3.5-turbo-instruct", prompt: "Say hello", max_tokens: 20, n: 2, best_of: 3 };
    const usage = { input: COMPLETIONS_USAGE.prompt_tokens, output: COMPLETIONS_USAGE.completion_tokens, requests: 1 };

    it("completions.create reserves max_tokens × max(n, best_of)", async () => {
      const result = await client.completions.create(BODY);
      expect(t.acquires[0]?.outputTokens).toBe(60);
      await expectUsage(limiter, usage);
      expect(result).toEqual(await raw.completions.create(BODY));
    });

    it("completions stream hides the injected usage chunk", async () => {
      const chunks = await collect(await client.completions.create({ ...BODY, stream: true }));
      expect(mock.requests[0]?.body.stream_options).toEqual({ include_usage: true });
      await expectUsage(limiter, usage);
      expect(chunks).toEqual(await collect(await raw.completions.create({ ...BODY, stream: true })));
    });

    it("embeddings.create (base64 decoded by the SDK) settles with output 0", async () => {
      const body = { model: "text-embedding-3-small", input: ["first text", "second text"] };
      const result = await client.embeddings.create(body);
      expect(t.acquires[0]).toMatchObject({ ...estimateRequest("embeddings", body), outputTokens: 0 });
      await expectUsage(limiter, { input: EMBEDDINGS_USAGE.prompt_tokens, output: 0, requests: 1 });
      expect(result.data[0]?.embedding).toEqual([0.25, -0.5, 0.75]);
      expect(result).toEqual(await raw.embeddings.create(body));
    });
  });

  it("token counting, models and other routes are not limited", async () => {
    const count = await client.responses.inputTokens.count({ model: "gpt-4o", input: "hi" });
    expect(count.input_tokens).toBe(12);
    const models = await client.models.list();
    expect(models.data[0]?.id).toBe("gpt-4o");
    expect(mock.requests).toHaveLength(2);
    expect(t.acquires).toHaveLength(0);
  });

  it("a model the selector does not limit passes straight through", async () => {
    const selective = withRateLimit(makeClient(Sdk, mock), {
      limiter: (model) => (model === "gpt-4o" ? limiter : undefined),
    });
    await selective.chat.completions.create({ ...CHAT, model: "other-model" });
    expect(t.acquires).toHaveLength(0);
    await selective.chat.completions.create(CHAT);
    expect(t.acquires).toHaveLength(1);
  });

  it("options: defaultOutputTokens, estimate override, maxWaitMs", async () => {
    const c1 = withRateLimit(makeClient(Sdk, mock), { limiter, defaultOutputTokens: 77 });
    await c1.chat.completions.create({ model: "gpt-4o", messages });
    expect(t.acquires[0]?.outputTokens).toBe(77);

    const c2 = withRateLimit(makeClient(Sdk, mock), {
      limiter,
      estimate: ({ endpoint, builtIn }) => ({
        inputTokens: endpoint === "chat" ? 5 : 0,
        outputTokens: builtIn().outputTokens + 1,
      }),
    });
    await c2.chat.completions.create(CHAT);
    expect(t.acquires[1]).toMatchObject({ inputTokens: 5, outputTokens: 51 });

    const tight = f.make({ rpm: 1, model: "tight" });
    const c3 = withRateLimit(makeClient(Sdk, mock), { limiter: tight, maxWaitMs: 100 });
    await c3.chat.completions.create(CHAT);
    await expect(c3.chat.completions.create(CHAT)).rejects.toMatchObject({ code: "WAIT_TIMEOUT" });
  });

  it("wrapping twice is harmless and returns the same instance", async () => {
    const plain = makeClient(Sdk, mock);
    const once = withRateLimit(plain, limiter);
    expect(once).toBe(plain);
    expect(withRateLimit(once, limiter)).toBe(plain);
    await once.chat.completions.create(CHAT);
    expect(t.acquires).toHaveLength(1);
    await expectUsage(limiter, chatUsage);
  });

  describe("errors", () => {
    it("connection error: released", async () => {
      const dead = withRateLimit(
        makeClient(Sdk, mock, { baseURL: `http://127.0.0.1:${await closedPort()}/v1` }),
        limiter,
      );
      await expect(dead.chat.completions.create(CHAT)).rejects.toBeInstanceOf(Sdk.APIConnectionError);
      await waitForSettlements(t, 1);
      expect(t.settlements[0]).toMatch(/^release/);
      await expectUsage(limiter, { input: 0, output: 0, requests: 0 });
    });

    it("other API error: failed(status) keeps the request, refunds tokens", async () => {
      mock.enqueue({ kind: "status", status: 400 });
      await expect(client.chat.completions.create(CHAT)).rejects.toMatchObject({ status: 400 });
      await expectUsage(limiter, { input: 0, output: 0, requests: 1 });
      expect(t.pauses).toHaveLength(0);
    });

    it("429 with retry-after pauses every process; the next call waits it out", async () => {
      const other = f.make({ tpm: 100_000, rpm: 100 }); // a second process on the same Redis
      mock.enqueue({ kind: "rate-limit", headers: { "retry-after": "1" } });
      await expect(client.chat.completions.create(CHAT)).rejects.toMatchObject({ status: 429 });
      expect(t.pauses).toEqual([1000]);
      const seen = await other.status();
      expect(seen.pausedUntil).toBeGreaterThan(Date.now());

      const result = await client.chat.completions.create(CHAT);
      expect(result.choices[0]?.message.content).toBe("Hello there");
      expect(t.acquires[1]?.slotTime).toBeGreaterThanOrEqual(seen.pausedUntil ?? Number.POSITIVE_INFINITY);
      await expectUsage(limiter, { ...chatUsage, requests: 2 });
    });

    it("SDK retries are admitted one by one (maxRetries: 1, first attempt 429)", async () => {
      const retrying = withRateLimit(makeClient(Sdk, mock, { maxRetries: 1 }), limiter);
      mock.enqueue({ kind: "rate-limit", headers: { "retry-after-ms": "200" } });
      const result = await retrying.chat.completions.create(CHAT);
      expect(result).toEqual(await raw.chat.completions.create(CHAT));
      expect(mock.requests.slice(0, 2).map((r) => r.headers["x-stainless-retry-count"])).toEqual(["0", "1"]);
      expect(t.log.slice(0, 4)).toEqual([
        "acquire",
        "request /chat/completions",
        "acquire",
        "request /chat/completions",
      ]);
      expect(t.pauses).toEqual([200]);
      await expectUsage(limiter, { ...chatUsage, requests: 2 }); // both attempts counted, the 429 refunded
    });

    it("abort while queued rejects and releases; nothing is sent", async () => {
      const tight = f.make({ rpm: 1, model: "tight" });
      const waits: string[] = [];
      tight.on("wait", (e) => waits.push(e.recordId));
      const c = withRateLimit(makeClient(Sdk, mock), tight);
      await c.chat.completions.create(CHAT);
      const controller = new AbortController();
      const pending = c.chat.completions.create(CHAT, { signal: controller.signal });
      const rejected = expect(pending).rejects.toThrow();
      await vi.waitFor(() => expect(waits).toHaveLength(1));
      controller.abort();
      await rejected;
      const s = await tight.status();
      expect({ queueDepth: s.queueDepth, requests: s.requestsUsed }).toEqual({ queueDepth: 0, requests: 1 });
      expect(mock.requests).toHaveLength(1);
    });

    it("queueing does not eat the SDK timeout", async () => {
      const tight = f.make({ rpm: 1, windowSeconds: 1, model: "tight" });
      const c = withRateLimit(new Sdk({ apiKey: "test", baseURL: mock.url, maxRetries: 0, timeout: 400 }), tight);
      await c.chat.completions.create(CHAT);
      const started = Date.now();
      await c.chat.completions.create(CHAT); // waits ~1 s for its slot, then gets its full 400 ms
      expect(Date.now() - started).toBeGreaterThan(400);
    });
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
