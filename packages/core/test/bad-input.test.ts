/**
 * Semantics 11: every public entry point rejects bad input with an InvalidArgumentError that names the field and
 * the value, before touching the store, so state never changes. Runs on both stores.
 */
import { InvalidArgumentError, RateLimiter as Limiter, type RateLimiter } from "@llmratelimiter/core";
import { afterAll, describe, expect, it } from "vitest";
import { limiterFactory, type StoreKind } from "../../../test/harness/limiters.js";

const constructorCases: Array<[string, Record<string, unknown>, string]> = [
  ["no limit at all", { model: "m" }, "tpm"],
  ["negative tpm", { model: "m", tpm: -1 }, "tpm"],
  ["zero rpm", { model: "m", rpm: 0 }, "rpm"],
  ["fractional inputTpm", { model: "m", inputTpm: 10.5 }, "inputTpm"],
  ["NaN outputTpm", { model: "m", outputTpm: Number.NaN }, "outputTpm"],
  ["Infinity tpm", { model: "m", tpm: Number.POSITIVE_INFINITY }, "tpm"],
  ["string tpm", { model: "m", tpm: "100" }, "tpm"],
  ["empty model", { model: "", tpm: 10 }, "model"],
  ["non-string model", { model: 42, tpm: 10 }, "model"],
  ["zero window", { model: "m", tpm: 10, windowSeconds: 0 }, "windowSeconds"],
  ["negative window", { model: "m", tpm: 10, windowSeconds: -60 }, "windowSeconds"],
  ["sub-millisecond window", { model: "m", tpm: 10, windowSeconds: 0.0005 }, "windowSeconds"],
  ["burst of zero", { model: "m", tpm: 10, burstMultiplier: 0 }, "burstMultiplier"],
  ["negative burst", { model: "m", tpm: 10, burstMultiplier: -1 }, "burstMultiplier"],
  ["burst that zeroes a limit", { model: "m", rpm: 1, burstMultiplier: 0.5 }, "burstMultiplier"],
  ["negative burndown", { model: "m", tpm: 10, burndownRate: -5 }, "burndownRate"],
  ["NaN burndown", { model: "m", tpm: 10, burndownRate: Number.NaN }, "burndownRate"],
  ["empty keyPrefix", { model: "m", tpm: 10, keyPrefix: "" }, "keyPrefix"],
  ["unknown policy", { model: "m", tpm: 10, onRedisError: "ignore" }, "onRedisError"],
  ["bad redis URL", { model: "m", tpm: 10, redis: "http://localhost:6379" }, "redis"],
  ["negative retries", { model: "m", tpm: 10, retry: { maxRetries: -1 } }, "retry.maxRetries"],
  ["jitter above 1", { model: "m", tpm: 10, retry: { jitter: 2 } }, "retry.jitter"],
  ["unknown retry option", { model: "m", tpm: 10, retry: { retries: 3 } }, "retry.retries"],
  ["typo in an option", { model: "m", tmp: 10 }, "tmp"],
  ["margin longer than the window", { model: "m", tpm: 10, windowSeconds: 1, windowMarginMs: 1001 }, "windowMarginMs"],
  ["zero command timeout", { model: "m", tpm: 10, commandTimeoutMs: 0 }, "commandTimeoutMs"],
  ["fractional maxQueueDepth", { model: "m", tpm: 10, maxQueueDepth: 1.5 }, "maxQueueDepth"],
];

describe("constructor rejects bad options with the field named", () => {
  it.each(constructorCases)("%s", (_name, options, field) => {
    let error: unknown;
    try {
      new Limiter(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    expect((error as InvalidArgumentError).message).toMatch(
      new RegExp(`^Invalid \`${field.replace(".", "\\.")}\`: expected .+, got .+`),
    );
  });
});

const callCases: Array<[string, (l: RateLimiter) => Promise<unknown>, string]> = [
  ["negative input", (l) => l.acquire({ inputTokens: -1 }), "acquire.inputTokens"],
  ["fractional input", (l) => l.acquire({ inputTokens: 1.5 }), "acquire.inputTokens"],
  ["NaN output", (l) => l.acquire({ inputTokens: 1, outputTokens: Number.NaN }), "acquire.outputTokens"],
  ["Infinity tokens", (l) => l.acquire({ tokens: Number.POSITIVE_INFINITY }), "acquire.tokens"],
  ["tokens and inputTokens", (l) => l.acquire({ tokens: 1, inputTokens: 1 }), "acquire.tokens"],
  ["no tokens at all", (l) => l.acquire({}), "acquire.inputTokens"],
  ["over 32 bits", (l) => l.acquire({ tokens: 2 ** 32 }), "acquire.tokens"],
  ["string tokens", (l) => l.acquire({ tokens: "5" as never }), "acquire.tokens"],
  ["negative maxWaitMs", (l) => l.acquire({ tokens: 1, maxWaitMs: -1 }), "acquire.maxWaitMs"],
  ["signal that is not one", (l) => l.acquire({ tokens: 1, signal: {} as never }), "acquire.signal"],
  ["unknown acquire field", (l) => l.acquire({ tokens: 1, priority: 1 } as never), "acquire.priority"],
  ["adjust with no usage", (l) => l.adjust("1.1", {}), "adjust.actualOutput"],
  ["adjust negative output", (l) => l.adjust("1.1", { actualOutput: -3 }), "adjust.actualOutput"],
  ["adjust fractional input", (l) => l.adjust("1.1", { actualInput: 0.5 }), "adjust.actualInput"],
  ["adjust empty id", (l) => l.adjust("", { actualInput: 1 }), "adjust.recordId"],
  ["adjust non-string id", (l) => l.adjust(7 as never, { actualInput: 1 }), "adjust.recordId"],
  ["adjust unknown field", (l) => l.adjust("1.1", { output: 1 } as never), "adjust.output"],
  ["release non-string id", (l) => l.release(null as never), "release.recordId"],
  ["pause zero", (l) => l.pause(0), "pause.durationMs"],
  ["pause NaN", (l) => l.pause(Number.NaN), "pause.durationMs"],
  ["pause over a day", (l) => l.pause(86_400_001), "pause.durationMs"],
];

describe.each<StoreKind>(["memory", "redis"])("calls on the %s store", (kind) => {
  const f = limiterFactory(kind);
  afterAll(() => f.close());

  it.each(callCases)("%s: typed error, field named, no state change", async (_name, call, field) => {
    const limiter = f.make({ model: `bad-${field}-${_name}`, tpm: 1000, rpm: 10 });
    const held = await limiter.acquire({ inputTokens: 100, outputTokens: 50 });
    const before = await limiter.status();
    const error: unknown = await call(limiter).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    const after = await limiter.status();
    expect(after).toEqual(before);
    expect(held.degraded).toBe(false);
  });
});
