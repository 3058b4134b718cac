/**
 * The conformance suite: every semantic of the limiter, run unchanged against the embedded store and a real Redis.
 * Windows are short (0.3–1 s) so the suite runs in seconds; assertions are on slots (store clock), never on how
 * long the machine took.
 */
import {
  InvalidArgumentError,
  LimiterClosedError,
  QueueFullError,
  type RateLimiter,
  RequestTooLargeError,
  WaitTimeoutError,
} from "@llmratelimiter/core";
import { afterEach, describe, expect, it } from "vitest";
import {
  fifoInversions,
  type Grant,
  limiterFactory,
  type StoreKind,
  seqOf,
  windowViolations,
} from "../../../test/harness/limiters.js";
import { checkAdjust, checkRelease } from "../../../test/harness/semantics.js";

const kinds: StoreKind[] = ["memory", "redis"];

describe.each(kinds)("conformance on the %s store", (kind) => {
  let f = limiterFactory(kind);
  afterEach(async () => {
    await f.close();
    f = limiterFactory(kind);
  });

  async function burst(limiter: RateLimiter, n: number, input: number, output = 0): Promise<Grant[]> {
    const results = await Promise.all(
      Array.from({ length: n }, () => limiter.acquire({ inputTokens: input, outputTokens: output })),
    );
    return results.map((r) => ({
      seq: seqOf(r.recordId),
      slot: r.slotTime,
      cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1] as const,
    }));
  }

  it("1+2: keeps every sliding window within each limit and grants slots in FIFO order", async () => {
    const limiter = f.make({ tpm: 1000, rpm: 8, windowSeconds: 0.3 });
    const grants = await burst(limiter, 30, 120);
    expect(windowViolations(grants, 300, [1000, 0, 0, 8])).toEqual([]);
    expect(fifoInversions(grants)).toBe(0);
    // 30 requests at 8 per window need at least 3 further windows: the limiter really made them wait
    const span = Math.max(...grants.map((g) => g.slot)) - Math.min(...grants.map((g) => g.slot));
    expect(span).toBeGreaterThanOrEqual(3 * 300);
  });

  it("1: split mode enforces input and output separately in one step", async () => {
    const limiter = f.make({ inputTpm: 1000, outputTpm: 300, windowSeconds: 0.3 });
    const grants = await burst(limiter, 12, 100, 100);
    expect(windowViolations(grants, 300, [0, 1000, 300, 0])).toEqual([]);
    // output is the binding limit: 3 per window
    const start = Math.min(...grants.map((x) => x.slot));
    expect(grants.filter((g) => g.slot < start + 300).length).toBe(3);
  });

  it("3: slots are store-clock ms, not truncated; sub-second waits are honoured (D1)", async () => {
    const limiter = f.make({ rpm: 2, windowSeconds: 1 });
    const a = await limiter.acquire({ tokens: 1 });
    const b = await limiter.acquire({ tokens: 1 });
    const started = performance.now();
    const c = await limiter.acquire({ tokens: 1 });
    const waited = performance.now() - started;
    expect(Number.isInteger(a.slotTime)).toBe(true);
    expect(c.slotTime).toBeGreaterThanOrEqual(a.slotTime + 1000);
    expect(c.slotTime - a.slotTime).toBeLessThan(1000 + 200);
    expect(c.queuePosition).toBe(0);
    expect(b.queuePosition).toBe(0);
    // it really slept until the slot (within timer resolution), never fired early
    expect(waited).toBeGreaterThanOrEqual(c.slotTime - b.slotTime - 5 - 200);
    expect(c.waitMs).toBeGreaterThan(500);
  });

  it("windowMarginMs keeps each reservation counted that much longer", async () => {
    const limiter = f.make({ rpm: 1, windowSeconds: 0.3, windowMarginMs: 100 });
    const a = await limiter.acquire({ tokens: 1 });
    const b = await limiter.acquire({ tokens: 1 });
    expect(b.slotTime - a.slotTime).toBeGreaterThanOrEqual(400);
    expect(b.slotTime - a.slotTime).toBeLessThan(400 + 150);
  });

  it("4: a request that can never fit fails at once and reserves nothing (D2)", async () => {
    const limiter = f.make({ tpm: 10_000, rpm: 10 });
    await expect(limiter.acquire({ inputTokens: 50_000 })).rejects.toBeInstanceOf(RequestTooLargeError);
    await expect(limiter.acquire({ inputTokens: 9000, outputTokens: 2000 })).rejects.toMatchObject({
      limitName: "tpm",
      limit: 10_000,
      requested: 11_000,
    });
    const s = await limiter.status();
    expect(s.tokensUsed).toBe(0);
    expect(s.requestsUsed).toBe(0);
    const ok = await limiter.acquire({ inputTokens: 10 });
    expect(ok.waitMs).toBe(0);
  });

  it("4: burndown counts in the fit check: 1,000 output at 5x needs 5,000 of tpm", async () => {
    const limiter = f.make({ tpm: 4999, burndownRate: 5 });
    await expect(limiter.acquire({ inputTokens: 0, outputTokens: 1000 })).rejects.toBeInstanceOf(RequestTooLargeError);
  });

  it("5: maxWaitMs beyond the slot throws WaitTimeoutError with retryAfterMs and reserves nothing", async () => {
    const limiter = f.make({ tpm: 100, windowSeconds: 0.5 });
    await limiter.acquire({ tokens: 100 });
    const before = await limiter.status();
    const error = await limiter.acquire({ tokens: 50, maxWaitMs: 50 }).catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.retryAfterMs).toBeGreaterThan(300);
    expect(error.retryAfterMs).toBeLessThanOrEqual(500);
    const after = await limiter.status();
    expect(after.queueDepth).toBe(before.queueDepth);
    expect(after.tokensUsed + after.queuedTokens).toBe(before.tokensUsed + before.queuedTokens);
    expect(await limiter.tryAcquire({ tokens: 10 })).toBeNull();
  });

  it("5: aborting a wait rejects with signal.reason and frees the reservation", async () => {
    const limiter = f.make({ tpm: 100, windowSeconds: 1 });
    await limiter.acquire({ tokens: 100 });
    const controller = new AbortController();
    const pending = limiter.acquire({ tokens: 60, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 50));
    expect((await limiter.status()).queueDepth).toBe(1);
    const reason = new Error("user cancelled");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const s = await limiter.status();
    // the released record costs nothing, so it leaves the queue at once instead of blocking those behind it
    expect(s.queueDepth).toBe(0);
    expect(s.queuedTokens).toBe(0);
    expect(s.tokensUsed).toBe(100);
    await expect(limiter.acquire({ tokens: 1, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it("6: adjust sets absolute usage in every limit, is idempotent, refunds combined (D3)", () =>
    checkAdjust((o) => f.make(o)));

  it("6: release frees everything once; unknown and expired ids are reported, not ignored", () =>
    checkRelease((o) => f.make(o)));

  it("6: a limiter with a different burndown still settles every limit consistently", async () => {
    const limiter = f.make({ tpm: 100_000, burndownRate: 5 });
    const r = await limiter.acquire({ inputTokens: 1000, outputTokens: 1000 });
    expect(r.combinedTokens).toBe(6000);
    expect((await limiter.status()).tokensUsed).toBe(6000);
    await limiter.adjust(r.recordId, { actualOutput: 200 });
    expect((await limiter.status()).tokensUsed).toBe(2000);
  });

  it("7: reservations nobody settles expire with their window", async () => {
    const limiter = f.make({ tpm: 1000, windowSeconds: 0.3 });
    await burst(limiter, 3, 100);
    expect((await limiter.status()).tokensUsed).toBe(300);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const s = await limiter.status();
    expect([s.tokensUsed, s.requestsUsed, s.queueDepth]).toEqual([0, 0, 0]);
  });

  it("10: pause holds every instance sharing the budget, and moves waiters behind it", async () => {
    const a = f.make({ tpm: 1000, windowSeconds: 0.5 });
    const b = f.make({ tpm: 1000, windowSeconds: 0.5 });
    const before = Date.now();
    const { pausedUntil } = await a.pause(400);
    expect(pausedUntil).toBeGreaterThanOrEqual(before + 300);
    expect((await b.status()).pausedUntil).toBe(pausedUntil);
    const r = await b.acquire({ tokens: 1 });
    expect(r.slotTime).toBeGreaterThanOrEqual(pausedUntil);
  });

  it("10: a waiter already queued is pushed behind a later pause", async () => {
    const a = f.make({ tpm: 100, windowSeconds: 0.3 });
    await a.acquire({ tokens: 100 });
    const moved: number[] = [];
    a.on("move", (e) => moved.push(e.slotTime));
    const waiting = a.acquire({ tokens: 100 });
    await new Promise((r) => setTimeout(r, 30));
    const { pausedUntil } = await a.pause(800);
    const r = await waiting;
    expect(r.slotTime).toBe(pausedUntil);
    expect(moved).toContain(pausedUntil);
  });

  it("13: emits acquire, wait, adjust, release, pause events", async () => {
    const limiter = f.make({ rpm: 1, windowSeconds: 0.3 });
    const seen: string[] = [];
    for (const name of ["acquire", "wait", "adjust", "release", "pause"] as const)
      limiter.on(name, () => seen.push(name));
    const r = await limiter.acquire({ tokens: 1 });
    await limiter.acquire({ tokens: 1 });
    await limiter.adjust(r.recordId, { actualInput: 1 });
    await limiter.release(r.recordId);
    await limiter.pause(10);
    expect(new Set(seen)).toEqual(new Set(["acquire", "wait", "adjust", "release", "pause"]));
  });

  it("14: refunds reach requests already waiting, in FIFO order, without polling", async () => {
    const limiter = f.make({ tpm: 1000, windowSeconds: 2 });
    const first = await Promise.all(Array.from({ length: 5 }, () => limiter.acquire({ tokens: 200 })));
    const order: number[] = [];
    const waiting = Array.from({ length: 3 }, (_, i) =>
      limiter.acquire({ tokens: 200 }).then((r) => {
        order.push(i);
        return r;
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect((await limiter.status()).queueDepth).toBe(3);
    // each finished call used 40 of its 200: four refunds free 640, room for three waiters
    for (const r of first.slice(0, 4)) await limiter.adjust(r.recordId, { actualInput: 40 });
    const moved = await Promise.all(waiting);
    expect(order).toEqual([0, 1, 2]);
    for (const r of moved) expect(r.slotTime - first[0]!.slotTime).toBeLessThan(1000);
    expect((await limiter.status()).queueDepth).toBe(0);
  });

  it("14: releasing the head waiter lets the next one move up", async () => {
    const limiter = f.make({ tpm: 300, windowSeconds: 2 });
    const held = await limiter.acquire({ tokens: 300 });
    const controller = new AbortController();
    const a = limiter.acquire({ tokens: 300, signal: controller.signal }).catch((e) => e);
    const b = limiter.acquire({ tokens: 100 });
    await new Promise((r) => setTimeout(r, 50));
    await limiter.adjust(held.recordId, { actualInput: 150 });
    controller.abort(new Error("stop"));
    const rb = await b;
    expect(rb.slotTime - held.slotTime).toBeLessThan(1000);
    expect(await a).toBeInstanceOf(Error);
  });

  it("maxQueueDepth rejects new waiters with QueueFullError", async () => {
    const limiter = f.make({ rpm: 1, windowSeconds: 1, maxQueueDepth: 1 });
    await limiter.acquire({ tokens: 1 });
    const waiting = limiter.acquire({ tokens: 1 }).catch((error) => error);
    await new Promise((r) => setTimeout(r, 20));
    await expect(limiter.acquire({ tokens: 1 })).rejects.toBeInstanceOf(QueueFullError);
    await limiter.close();
    expect(await waiting).toBeInstanceOf(LimiterClosedError);
  });

  it("limiters with different windows or prefixes never share state", async () => {
    const a = f.make({ tpm: 100, windowSeconds: 1 });
    const b = f.make({ tpm: 100, windowSeconds: 2 });
    await a.acquire({ tokens: 100 });
    expect((await b.acquire({ tokens: 100 })).waitMs).toBe(0);
    expect(a.key).not.toBe(b.key);
  });

  it("rejects bad input with a typed error naming the field", async () => {
    const limiter = f.make({ tpm: 100 });
    await expect(limiter.acquire({ inputTokens: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(limiter.acquire({ inputTokens: -1 })).rejects.toMatchObject({ field: "acquire.inputTokens" });
    expect((await limiter.status()).requestsUsed).toBe(0);
  });
});
