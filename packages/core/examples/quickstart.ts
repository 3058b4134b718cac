/**
 * Quick start on the embedded store (no Redis): eight workers share a 6,000 tokens / 10 requests budget over a 2 s
 * window. Each reserves its prompt plus max_tokens, "calls the model", and settles to the (smaller) real usage, so
 * waiting workers move up as soon as capacity comes back.
 *
 *   pnpm --filter @llmratelimiter/core example            # embedded store
 *   REDIS_URL=redis://127.0.0.1:6379 pnpm --filter @llmratelimiter/core example
 */
import { RateLimiter } from "@llmratelimiter/core";

const limiter = new RateLimiter({
  redis: process.env.REDIS_URL,
  model: "gpt-4o",
  tpm: 6000,
  rpm: 10,
  windowSeconds: 2,
});

const started = Date.now();
const log = (msg: string) => console.log(`${String(Date.now() - started).padStart(5)} ms  ${msg}`);

limiter.on("wait", (e) => log(`request ${e.recordId} queued: position ${e.queuePosition}, up to ${e.waitMs} ms`));
limiter.on("move", (e) => log(`request ${e.recordId} moved up by a refund`));

async function worker(id: number): Promise<void> {
  for (let call = 0; call < 3; call++) {
    const r = await limiter.acquire({ inputTokens: 400, outputTokens: 800 });
    log(`worker ${id} call ${call} admitted after ${r.waitMs} ms (${r.combinedTokens} tokens reserved)`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the model call
    await limiter.adjust(r.recordId, { actualInput: 380, actualOutput: 120 + ((id * 37) % 300) });
  }
}

await Promise.all(Array.from({ length: 8 }, (_, i) => worker(i)));
const s = await limiter.status();
log(
  `done: ${s.requestsUsed}/${s.requestsLimit} requests and ${s.tokensUsed}/${s.tokensLimit} tokens in the current window`,
);
await limiter.close();
