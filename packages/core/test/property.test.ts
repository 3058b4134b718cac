/**
 * Property test (fast-check): random concurrent mixes of acquire / adjust (refunds) / release / abort, on both
 * stores, must keep semantics 1 (no window over a limit, computed from the final costs), 2 (slots monotone in store
 * arrival order) and 6 (adjust/release statuses: idempotent, released stays released).
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  fifoInversions,
  type Grant,
  type LimiterOptions,
  limiterFactory,
  type StoreKind,
  seqOf,
  windowViolations,
} from "../../../test/harness/limiters.js";

const op = fc.record({
  input: fc.integer({ min: 0, max: 400 }),
  output: fc.integer({ min: 0, max: 400 }),
  /** what happens after the slot: keep, refund to a fraction, release, or abort while queued */
  after: fc.constantFrom("keep", "refund", "release", "abort"),
  refund: fc.double({ min: 0, max: 1, noNaN: true }),
  /** 0 often: acquires started in the same tick share one script call on the Redis store */
  delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
});

const limitsArb = fc.record({
  tpm: fc.integer({ min: 800, max: 2000 }),
  inputTpm: fc.option(fc.integer({ min: 400, max: 1500 }), { nil: undefined }),
  outputTpm: fc.option(fc.integer({ min: 400, max: 1500 }), { nil: undefined }),
  rpm: fc.integer({ min: 3, max: 12 }),
  burndownRate: fc.constantFrom(1, 2, 5),
});

describe.each<StoreKind>(["memory", "redis"])("random schedules on the %s store", (kind) => {
  const f = limiterFactory(kind);
  afterAll(() => f.close());

  it("hold the window, FIFO and settlement invariants", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(limitsArb, fc.array(op, { minLength: 5, maxLength: 24 }), async (limits, ops) => {
        const windowMs = 200;
        const limiter = f.make({ model: `prop-${run++}`, windowSeconds: windowMs / 1000, ...clean(limits) });
        const caps = limiter.limits;
        const grants = new Map<string, Grant>();
        const statuses: string[] = [];
        await Promise.all(
          ops.map(async (o, i) => {
            await new Promise((r) => setTimeout(r, o.delayMs));
            const combined = limiter.combinedCost(o.input, o.output);
            if ((caps.tpm ?? Infinity) < combined) return;
            if ((caps.inputTpm ?? Infinity) < o.input || (caps.outputTpm ?? Infinity) < o.output) return;
            const controller = new AbortController();
            if (o.after === "abort") setTimeout(() => controller.abort(new Error(`abort ${i}`)), 5);
            let r: Awaited<ReturnType<typeof limiter.acquire>>;
            try {
              r = await limiter.acquire({ inputTokens: o.input, outputTokens: o.output, signal: controller.signal });
            } catch (error) {
              expect((error as Error).message).toBe(`abort ${i}`);
              return;
            }
            grants.set(r.recordId, {
              seq: seqOf(r.recordId),
              slot: r.slotTime,
              cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
            });
            if (o.after === "refund") {
              const input = Math.floor(o.input * o.refund);
              const output = Math.floor(o.output * o.refund);
              const first = await limiter.adjust(r.recordId, { actualInput: input, actualOutput: output });
              const again = await limiter.adjust(r.recordId, { actualInput: input, actualOutput: output });
              statuses.push(
                first.status,
                again.status === "unchanged" || again.status === "expired" ? "ok" : again.status,
              );
              grants.set(r.recordId, {
                seq: seqOf(r.recordId),
                slot: r.slotTime,
                cost: [limiter.combinedCost(input, output), input, output, 1],
              });
            } else if (o.after === "release") {
              const first = await limiter.release(r.recordId);
              const again = await limiter.release(r.recordId);
              const adjusted = await limiter.adjust(r.recordId, { actualInput: 1 });
              if (first.status === "released") {
                expect(again.status === "already-released" || again.status === "expired").toBe(true);
                expect(adjusted.status === "released" || adjusted.status === "expired").toBe(true);
                grants.set(r.recordId, { seq: seqOf(r.recordId), slot: r.slotTime, cost: [0, 0, 0, 0] });
              }
            }
          }),
        );
        const list = [...grants.values()];
        const limitList = [caps.tpm ?? 0, caps.inputTpm ?? 0, caps.outputTpm ?? 0, caps.rpm ?? 0];
        expect(windowViolations(list, windowMs, limitList)).toEqual([]);
        expect(fifoInversions(list)).toBe(0);
        for (const s of statuses) expect(["adjusted", "unchanged", "expired", "ok"]).toContain(s);
      }),
      { numRuns: 25, endOnFailure: true },
    );
  }, 120_000);
});

function clean(o: Record<string, number | undefined>): LimiterOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LimiterOptions;
}
