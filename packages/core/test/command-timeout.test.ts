/**
 * Command timeouts share one timer per timeout length (src/retry.ts). These check that a stuck store call still
 * fails on time, and that fake timers a test installed and removed earlier cannot leave later calls without one.
 */
import {
  type LimiterSpec,
  RateLimiter,
  type Store,
  type StoreAcquireArgs,
  type StoreAcquireReply,
  StoreUnavailableError,
} from "@llmratelimiter/core";
import { afterEach, describe, expect, it, vi } from "vitest";

/** A store whose acquire never answers (a stalled server); everything else is never called. */
class StuckStore implements Store {
  readonly kind = "stuck";
  calls = 0;
  acquire(_spec: LimiterSpec, _args: StoreAcquireArgs): Promise<StoreAcquireReply> {
    this.calls++;
    return new Promise(() => {});
  }
  adjust(): never {
    throw new Error("not used");
  }
  release(): never {
    throw new Error("not used");
  }
  pause(): never {
    throw new Error("not used");
  }
  status(): never {
    throw new Error("not used");
  }
  peek(): never {
    throw new Error("not used");
  }
  subscriptionEpoch() {
    return 0;
  }
  async subscribe() {
    return async () => {};
  }
  async close() {}
}

function stuckLimiter(commandTimeoutMs: number) {
  const store = new StuckStore();
  const limiter = new RateLimiter({
    model: "stuck",
    tpm: 1000,
    store,
    commandTimeoutMs,
    retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1 },
    onRedisError: "deny",
  });
  return { store, limiter };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("command timeouts", () => {
  it("fail a stuck call after commandTimeoutMs, each retry with its own deadline", async () => {
    const { store, limiter } = stuckLimiter(60);
    const started = performance.now();
    const error = await limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).attempts).toBe(2);
    expect(store.calls).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(2 * 60 - 5); // never early
  });

  it("still time out after a test armed the shared timer under fake timers and then went back to real ones", async () => {
    const ms = 73; // a length no other test uses: its timer is armed first under fake timers
    vi.useFakeTimers();
    const first = stuckLimiter(ms);
    const abandoned = first.limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0); // the call is now waiting behind a fake timer
    vi.useRealTimers();
    const second = stuckLimiter(ms);
    const error = await second.limiter.acquire({ tokens: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    void abandoned;
  });
});
