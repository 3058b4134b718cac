/**
 * One worker process of the multi-process test: waits for a common start instant, then fires its requests at one
 * shared limiter on Redis and prints every grant as JSON (store arrival order, slot, cost).
 * argv: redisUrl keyPrefix requests startAtEpochMs seed
 */
import { RateLimiter } from "@llmratelimiter/core";

const [url = "", prefix = "mp", count = "10", startAt = "0", seed = "1"] = process.argv.slice(2);
let state = Number(seed) || 1;
const random = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};

const limiter = new RateLimiter({
  redis: url,
  model: "gpt-4o",
  keyPrefix: prefix,
  tpm: 10_000,
  rpm: 200,
  windowSeconds: 1,
});
await limiter.status(); // connected before the start instant
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const grants = await Promise.all(
  Array.from({ length: Number(count) }, async () => {
    const input = 100 + Math.floor(random() * 300);
    const r = await limiter.acquire({ inputTokens: input, outputTokens: 100 });
    return { seq: Number(r.recordId.split(".")[0]), slot: r.slotTime, cost: [r.combinedTokens, input, 100, 1] };
  }),
);
process.stdout.write(`${JSON.stringify({ pid: process.pid, grants })}\n`);
await limiter.close();
