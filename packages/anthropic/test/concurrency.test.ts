import { estimateAnthropicRequest, withRateLimit } from "@llmratelimiter/anthropic";
import type { RateLimiter } from "@llmratelimiter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fifoInversions, type Grant, limiterFactory, seqOf, windowViolations } from "../../../test/harness/limiters.js";
import { BODY, makeClient, SDKS, settlements } from "./helpers.js";
import { MockAnthropic, message, SETTLED } from "./mock-server.js";

/** Grants as the limiter recorded them, with each cost lowered to the settled usage once adjusted. */
function recordGrants(limiters: RateLimiter[]): Map<string, Grant> {
  const grants = new Map<string, Grant>();
  for (const limiter of limiters) {
    limiter.on("acquire", (e) => {
      const r = e.result;
      grants.set(r.recordId, {
        seq: seqOf(r.recordId),
        slot: r.slotTime,
        cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
      });
    });
    limiter.on("adjust", (e) => {
      const g = grants.get(e.result.recordId);
      const input = e.usage.actualInput ?? g?.cost[1] ?? 0;
      const output = e.usage.actualOutput ?? g?.cost[2] ?? 0;
      if (g) g.cost = [input + output, input, output, 1];
    });
  }
  return grants;
}

describe.each(SDKS)("$name: shared budget under load", (sdk) => {
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

  it("20 parallel calls from two processes are admitted in FIFO order without overrunning a window", async () => {
    const limits = { tpm: 400, rpm: 5, windowSeconds: 0.4 };
    const a = factory.make(limits);
    const b = factory.make(limits);
    const grants = recordGrants([a, b]);
    const clients = [withRateLimit(makeClient(sdk, mock), a), withRateLimit(makeClient(sdk, mock), b)];
    const settled = Promise.all([settlements(a, 10), settlements(b, 10)]);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => clients[i % 2]?.messages.create(BODY)));
    await settled;
    expect(results).toEqual(Array(20).fill(message()));
    expect(mock.requests).toHaveLength(20);
    const list = [...grants.values()];
    expect(list).toHaveLength(20);
    expect(fifoInversions(list)).toBe(0);
    expect(windowViolations(list, 400, [400, 0, 0, 5])).toEqual([]);
    // The rpm limit really bound: 20 requests at 5 per window need at least three more windows after the first.
    const slots = list.map((g) => g.slot);
    expect(Math.max(...slots) - Math.min(...slots)).toBeGreaterThanOrEqual(3 * 400);
  });

  it("split mode (inputTpm/outputTpm) reserves max_tokens on the output side and settles both sides", async () => {
    const limiter = factory.make({ inputTpm: 10_000, outputTpm: 250 });
    const grants = recordGrants([limiter]);
    let waited = 0;
    limiter.on("wait", () => waited++);
    const client = withRateLimit(makeClient(sdk, mock), limiter);
    const settled = settlements(limiter, 6);
    await Promise.all(Array.from({ length: 6 }, () => client.messages.create(BODY)));
    await settled;
    const list = [...grants.values()];
    const estimate = estimateAnthropicRequest({ route: "messages", body: BODY });
    expect(estimate.outputTokens).toBe(100);
    // Only two 100-token output reservations fit in 250: the others wait for the settlements' refunds.
    expect(waited).toBeGreaterThan(0);
    expect(fifoInversions(list)).toBe(0);
    expect(windowViolations(list, 60_000, [0, 10_000, 250, 0])).toEqual([]);
    expect(await limiter.status()).toMatchObject({
      inputTokensLimit: 10_000,
      outputTokensLimit: 250,
      tokensLimit: null,
      inputTokensUsed: 6 * SETTLED.input,
      outputTokensUsed: 6 * SETTLED.output,
      requestsUsed: 6,
    });
  });
});
