import { describe, expect, it } from "vitest";
import { analyzeTimeline, type SimStats } from "../src/index.js";
import { type Amounts, SlidingWindowQuota, TokenBucketQuota } from "../src/quota.js";

const need = (p: Partial<Amounts>): Amounts => ({ requests: 1, tokens: 0, input: 0, output: 0, ...p });

describe("SlidingWindowQuota", () => {
  it("refuses exactly when the window would exceed a limit, and names when it fits", () => {
    const q = new SlidingWindowQuota({ requests: 0, tokens: 1000, input: 0, output: 0 }, 1000);
    expect(q.admit(0, need({ tokens: 600 })).ok).toBe(true);
    expect(q.admit(100, need({ tokens: 400 })).ok).toBe(true); // exactly 1000
    const refused = q.admit(200, need({ tokens: 1 }));
    expect(refused).toEqual({ ok: false, dim: "tokens", retryAfterMs: 800 }); // first entry leaves at 1000
    expect(q.admit(1000, need({ tokens: 600 })).ok).toBe(true); // (0, 1000] no longer holds the first
  });

  it("settles a reservation to the final charge (Bedrock burndown can exceed it)", () => {
    const q = new SlidingWindowQuota({ requests: 0, tokens: 1000, input: 0, output: 0 }, 1000);
    const a = q.admit(0, need({ tokens: 500 }));
    if (!a.ok) throw new Error("refused");
    q.settle(10, a.ticket, { tokens: 900 });
    expect(q.state(20).tokens?.remaining).toBe(100);
    expect(q.admit(20, need({ tokens: 101 })).ok).toBe(false);
    expect(q.admit(20, need({ tokens: 100 })).ok).toBe(true);
  });
});

describe("TokenBucketQuota", () => {
  it("refills continuously and refunds on settlement, capped at the limit", () => {
    const q = new TokenBucketQuota({ requests: 0, tokens: 0, input: 0, output: 600 }, 60_000);
    const a = q.admit(0, need({ output: 600 }));
    if (!a.ok) throw new Error("refused");
    // 10 tokens per second refill: 1 s later 10 are back, not 11.
    expect(q.admit(1000, need({ output: 11 }))).toEqual({ ok: false, dim: "output", retryAfterMs: 100 });
    q.settle(1000, a.ticket, { output: 200 }); // OTPM adjusted down: 400 come back
    expect(q.state(1000).output?.remaining).toBe(410);
    q.settle(1000, a.ticket, { output: 200 });
    expect(q.state(1000).output?.remaining).toBe(410);
  });
});

describe("analyzeTimeline", () => {
  it("counts admissions whose sliding window holds more than a limit, and the share of quota used", () => {
    const stats: SimStats = {
      requests: 5,
      ok: 4,
      rateLimited: 1,
      windowMs: 1000,
      timeline: [
        { t: 0, status: 200, input: 10, output: 0, charged: 600 },
        { t: 500, status: 200, input: 10, output: 0, charged: 400 },
        { t: 600, status: 429, input: 10, output: 0, charged: 0 },
        { t: 900, status: 200, input: 10, output: 0, charged: 100 }, // 1100 in (−100, 900]
        { t: 1000, status: 200, input: 10, output: 0, charged: 100 }, // 600 in (0, 1000]
      ],
    };
    const r = analyzeTimeline(stats, { tpm: 1000 }, 2000);
    expect(r.violations).toBe(1);
    expect(r.rateLimited).toBe(1);
    expect(r.binding).toBe("tpm");
    expect(r.quotaShare).toBeCloseTo(1200 / 2000);
    expect(r.peakShare).toBeCloseTo(1.1);
  });
});

describe("reset", () => {
  it("refills a bucket whose clock restarts at 0 (the simulator's clock restarts on reset)", () => {
    const q = new TokenBucketQuota({ requests: 0, tokens: 100, input: 0, output: 0 }, 1000);
    expect(q.admit(5000, need({ tokens: 100 })).ok).toBe(true);
    q.reset();
    expect(q.admit(0, need({ tokens: 100 })).ok).toBe(true);
    expect(q.admit(500, need({ tokens: 50 })).ok).toBe(true); // refilled 50 since 0
  });
});
