/**
 * Semantics 14, measured: under saturation, calls reserve max_tokens and use far less. With refunds reaching the
 * requests already queued, the budget fills with real usage; with fixed slots it would stay at actual/estimate.
 * Share of refunded capacity reused = (real usage per window / limit - actual/estimate) / (1 - actual/estimate).
 */
import { afterAll, describe, expect, it } from "vitest";
import { limiterFactory, type StoreKind } from "../../../test/harness/limiters.js";

describe.each<StoreKind>(["memory", "redis"])("refund reuse on the %s store", (kind) => {
  const f = limiterFactory(kind);
  afterAll(() => f.close());

  it("reuses most of the refunded capacity while requests are queued", async () => {
    const limit = 5000;
    const windowMs = 1000;
    const limiter = f.make({ tpm: limit, windowSeconds: windowMs / 1000 });
    const estimate = { inputTokens: 200, outputTokens: 800 }; // reserves 1,000
    const actualOutput = 200; // uses 400: 60 % of each reservation comes back
    const used: Array<{ slot: number; tokens: number }> = [];
    await Promise.all(
      Array.from({ length: 60 }, async () => {
        const r = await limiter.acquire(estimate);
        await new Promise((resolve) => setTimeout(resolve, 30)); // the model call
        await limiter.adjust(r.recordId, { actualOutput });
        used.push({ slot: r.slotTime, tokens: estimate.inputTokens + actualOutput });
      }),
    );
    const t0 = Math.min(...used.map((u) => u.slot));
    const full = Math.floor((Math.max(...used.map((u) => u.slot)) - t0) / windowMs);
    const realPerWindow = used.filter((u) => u.slot < t0 + full * windowMs).reduce((s, u) => s + u.tokens, 0) / full;
    const fixedShare = 400 / 1000;
    const reuse = (realPerWindow / limit - fixedShare) / (1 - fixedShare);
    console.log(
      `refund reuse (${kind}): ${full} full windows, real usage ${((realPerWindow / limit) * 100).toFixed(1)} % of the limit ` +
        `(fixed slots: ${fixedShare * 100} %), share of refunded capacity reused ${(reuse * 100).toFixed(1)} %`,
    );
    expect(full).toBeGreaterThanOrEqual(2);
    expect(reuse).toBeGreaterThan(0.5);
  }, 30_000);
});
