import type Anthropic from "@anthropic-ai/sdk";
import { estimateAnthropicRequest, withRateLimit } from "@llmratelimiter/anthropic";
import type { AcquireResult, RateLimiter } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { BODY, collect, legacyCompletions, makeClient, SDKS, settlements } from "./helpers.js";
import { MockAnthropic, message, SETTLED } from "./mock-server.js";

const TOOL_USE = [{ type: "tool_use", id: "toolu_1", name: "clock", input: {} }];

/** A runnable tool as both majors' toolRunner accept it. */
function clockTool() {
  return {
    name: "clock",
    description: "Current time",
    input_schema: { type: "object" as const, properties: {} },
    run: () => "12:00",
    parse: (input: unknown) => input,
  };
}

interface Case {
  name: string;
  /** Requests (and settlements) the call makes. */
  calls?: number;
  only?: 0 | 1;
  script?: (mock: MockAnthropic) => void;
  run: (client: Anthropic) => Promise<unknown>;
  /** What the reservation settles to; defaults to the mock's usage. */
  settled?: { input: number; output: number };
  body?: Record<string, unknown>;
}

const completionBody = { model: "claude-2.1", max_tokens_to_sample: 50, prompt: "\n\nHuman: Hi\n\nAssistant:" };

const CASES: Case[] = [
  { name: "messages.create", run: (c) => c.messages.create(BODY) },
  { name: "messages.create stream", run: async (c) => collect(await c.messages.create({ ...BODY, stream: true })) },
  { name: "messages.stream finalMessage()", run: (c) => c.messages.stream(BODY).finalMessage() },
  {
    name: "messages.stream events + finalText()",
    run: async (c) => {
      const stream = c.messages.stream(BODY);
      const texts: string[] = [];
      stream.on("text", (t) => texts.push(t));
      return { text: await stream.finalText(), texts };
    },
  },
  { name: "messages.parse", run: (c) => c.messages.parse(BODY) },
  { name: "beta.messages.create", run: (c) => c.beta.messages.create(BODY) },
  {
    name: "beta.messages.create stream",
    run: async (c) => collect(await c.beta.messages.create({ ...BODY, stream: true })),
  },
  { name: "beta.messages.stream finalMessage()", run: (c) => c.beta.messages.stream(BODY).finalMessage() },
  { name: "beta.messages.parse", run: (c) => c.beta.messages.parse(BODY) },
  {
    name: "beta.messages.toolRunner (two turns)",
    calls: 2,
    script: (mock) =>
      mock.reply(
        { kind: "json", body: { ...message({}, TOOL_USE), stop_reason: "tool_use" } },
        { kind: "json", body: message() },
      ),
    run: (c) => c.beta.messages.toolRunner({ ...BODY, tools: [clockTool()] }).runUntilDone(),
    settled: { input: 30, output: 4 },
    // The runner sends the tool without its `run`/`parse` functions.
    body: {
      ...BODY,
      tools: [{ name: "clock", description: "Current time", input_schema: { type: "object", properties: {} } }],
    },
  },
  {
    name: "messages.create withResponse()",
    run: async (c) => {
      const { data, response, request_id } = await c.messages.create(BODY).withResponse();
      return { data, status: response.status, requestId: response.headers.get("request-id"), request_id };
    },
  },
  {
    name: "messages.create asResponse()",
    run: async (c) => {
      const response = await c.messages.create(BODY).asResponse();
      return { url: response.url.replace(/:\d+\//, "/"), json: await response.json() };
    },
  },
  {
    name: "completions.create (legacy)",
    only: 0,
    run: async (c) => legacyCompletions(c)?.create(completionBody),
    // No usage on /v1/complete: input keeps the estimate, output is estimated from " Hello there, friend".
    settled: { input: estimateAnthropicRequest({ route: "complete", body: completionBody }).inputTokens, output: 5 },
    body: completionBody,
  },
  {
    name: "completions.create stream (legacy)",
    only: 0,
    run: async (c) =>
      collect((await legacyCompletions(c)?.create({ ...completionBody, stream: true })) as AsyncIterable<unknown>),
    settled: { input: estimateAnthropicRequest({ route: "complete", body: completionBody }).inputTokens, output: 5 },
    body: completionBody,
  },
];

describe.each(SDKS)("$name: every billable method goes through the limiter", (sdk) => {
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

  it("legacy completions exist only before 1.0", () => {
    expect(legacyCompletions(makeClient(sdk, mock)) !== undefined).toBe(sdk.major === 0);
  });

  for (const c of CASES) {
    it.skipIf(c.only !== undefined && c.only !== sdk.major)(c.name, async () => {
      const calls = c.calls ?? 1;
      c.script?.(mock);
      const expected = await c.run(makeClient(sdk, mock));
      const rawRequests = mock.requests.length;

      const grants: Array<{ result: AcquireResult; serverSawBefore: number }> = [];
      limiter.on("acquire", (e) => grants.push({ result: e.result, serverSawBefore: mock.requests.length }));
      const client = withRateLimit(makeClient(sdk, mock), limiter);
      const settled = settlements(limiter, calls);
      c.script?.(mock);
      const actual = await c.run(client);
      expect(await settled).toEqual(Array(calls).fill("adjust"));

      expect(actual).toEqual(expected);
      expect(grants).toHaveLength(calls);
      // Each attempt was admitted before the server saw it.
      expect(grants.map((g) => g.serverSawBefore)).toEqual(grants.map((_, i) => rawRequests + i));
      const estimate = estimateAnthropicRequest({
        route: c.body === completionBody ? "complete" : "messages",
        body: c.body ?? BODY,
      });
      expect(grants[0]?.result).toMatchObject(estimate);
      const status = await limiter.status();
      const want = c.settled ?? SETTLED;
      expect(status).toMatchObject({
        inputTokensUsed: want.input,
        outputTokensUsed: want.output,
        tokensUsed: want.input + want.output,
        requestsUsed: calls,
        pausedUntil: null,
      });
    });
  }

  it("leaves countTokens, batches, models and files alone", async () => {
    let acquired = 0;
    limiter.on("acquire", () => acquired++);
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const count = await client.messages.countTokens({ model: "claude-x", messages: BODY.messages });
    const betaCount = await client.beta.messages.countTokens({ model: "claude-x", messages: BODY.messages });
    const batch = await client.messages.batches.create({ requests: [{ custom_id: "a", params: BODY }] });
    const models = await client.models.list();
    expect(count.input_tokens).toBe(10);
    expect(betaCount.input_tokens).toBe(10);
    expect(batch.id).toBe("msgbatch_1");
    expect(models.data[0]?.id).toBe("claude-x");
    expect(mock.requests.map((r) => r.path)).toEqual([
      "/v1/messages/count_tokens",
      "/v1/messages/count_tokens",
      "/v1/messages/batches",
      "/v1/models",
    ]);
    expect(acquired).toBe(0);
    expect((await limiter.status()).requestsUsed).toBe(0);
  });
});
