/**
 * A process that reserves and then hangs, to be SIGKILLed by the fault suite while it holds reservations (some
 * granted, some still waiting for their slot). Fires `count` concurrent acquires of `tokens` each and prints one JSON
 * line once every one of them is either granted or queued, then stays alive until killed.
 * argv: redisUrl keyPrefix model tpm windowSeconds count tokens
 */
import { RateLimiter } from "@llmratelimiter/core";

const [url, prefix, model, tpm, windowSeconds, count, tokens] = process.argv.slice(2);
const limiter = new RateLimiter({
  redis: url,
  model: model ?? "hold",
  keyPrefix: prefix ?? "hold",
  tpm: Number(tpm),
  windowSeconds: Number(windowSeconds),
});
await limiter.status();

const granted: string[] = [];
const waiting: string[] = [];
const total = Number(count);
const report = () => {
  if (granted.length + waiting.length === total) {
    process.stdout.write(`${JSON.stringify({ pid: process.pid, granted, waiting })}\n`);
  }
};
limiter.on("acquire", (e) => {
  if (e.result.queuePosition === 0 && e.result.waitMs === 0) {
    granted.push(e.result.recordId);
    report();
  }
});
limiter.on("wait", (e) => {
  waiting.push(e.recordId);
  report();
});
for (let i = 0; i < total; i++) {
  // Never settled: the process dies holding them.
  limiter.acquire({ tokens: Number(tokens) }).catch(() => {});
}
setInterval(() => {}, 60_000);
