import { withRateLimit } from "@llmratelimiter/openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fifoInversions, type Grant, limiterFactory, seqOf, windowViolations } from "../../../test/harness/limiters.js";
import { makeClient, SDKS } from "./helpers.js";
import { type MockOpenAI, startMockOpenAI } from "./mock-openai.js";

describe.each(SDKS)("%s: 20 parallel calls under a tight limit", (_name, Sdk) => {
  let mock: MockOpenAI;
  const f = limiterFactory("redis");
  beforeAll(async () => {
    mock = await startMockOpenAI();
  });
  afterAll(() => mock.close());
  afterEach(() => f.close());

  it("are admitted in call order, FIFO, with no window overrun", async () => {
    const windowMs = 400;
    const limits = { tpm: 1_000_000, rpm: 4 };
    const limiter = f.make({ ...limits, windowSeconds: windowMs / 1000 });
    const grants: Grant[] = [];
    const arrivals: Array<{ seq: number; call: number }> = [];
    limiter.on("acquire", ({ result: r }) => {
      grants.push({
        seq: seqOf(r.recordId),
        slot: r.slotTime,
        cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
      });
      arrivals.push({ seq: seqOf(r.recordId), call: r.inputTokens - 1000 }); // the estimate tags each call
    });
    const client = withRateLimit(makeClient(Sdk, mock), {
      limiter,
      estimate: ({ body }) => ({ inputTokens: 1000 + Number((body as { user: string }).user), outputTokens: 10 }),
    });

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.chat.completions.create({
          model: "gpt-4o",
          user: String(i),
          messages: [{ role: "user", content: `#${i}` }],
        }),
      ),
    );

    expect(results.every((r) => r.choices[0]?.message.content === "Hello there")).toBe(true);
    expect(grants).toHaveLength(20);
    expect(windowViolations(grants, windowMs, [limits.tpm, 0, 0, limits.rpm])).toEqual([]);
    expect(fifoInversions(grants)).toBe(0);
    // The store saw them in call order, so FIFO by store order is FIFO by call order.
    const calls = [...arrivals].sort((a, b) => a.seq - b.seq).map((a) => a.call);
    expect(calls).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const bySeq = [...grants].sort((a, b) => a.seq - b.seq);
    const spread = bySeq.at(-1)!.slot - bySeq[0]!.slot;
    expect(spread).toBeGreaterThanOrEqual(4 * windowMs); // 20 requests at 4 per window need 5 windows
  });
});
