/**
 * One process of the soak test. From a common start instant until its deadline, `concurrency` clients loop over
 * acquire → "provider call" (20–300 ms) → settle, with mixed traffic: refund (adjust below the estimate), top-up
 * (adjust above it), release (never reached the provider), abort (the caller gives up while queued; if the slot
 * came first it is settled like a refund) and keep (no settlement). Every grant and settlement is written as one
 * JSON line to `out`, for the parent to check windows, leaks and FIFO.
 * argv[2]: JSON { url, prefix, model, tpm, rpm, windowSeconds, startAt, durationMs, concurrency, seed, out }
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { type AcquireResult, RateLimiter } from "@llmratelimiter/core";

interface Config {
  url: string;
  prefix: string;
  model: string;
  tpm: number;
  rpm: number;
  windowSeconds: number;
  startAt: number;
  durationMs: number;
  concurrency: number;
  seed: number;
  out: string;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
let state = cfg.seed || 1;
const random = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const out = createWriteStream(cfg.out);
const write = (line: Record<string, unknown>) => out.write(`${JSON.stringify(line)}\n`);

const limiter = new RateLimiter({
  redis: cfg.url,
  model: cfg.model,
  keyPrefix: cfg.prefix,
  tpm: cfg.tpm,
  rpm: cfg.rpm,
  windowSeconds: cfg.windowSeconds,
});
await limiter.status(); // connected before the start instant
await sleep(Math.max(0, cfg.startAt - Date.now()));
const endAt = Date.now() + cfg.durationMs;
const counts = { grants: 0, refund: 0, topup: 0, release: 0, keep: 0, aborted: 0, abortLate: 0, errors: 0 };

type Kind = "refund" | "topup" | "release" | "abort" | "keep";
const pick = (): Kind => {
  const roll = random();
  return roll < 0.4 ? "refund" : roll < 0.55 ? "topup" : roll < 0.7 ? "release" : roll < 0.85 ? "abort" : "keep";
};

async function settle(kind: Kind, r: AcquireResult): Promise<void> {
  const id = r.recordId;
  if (kind === "keep") {
    counts.keep++;
    return;
  }
  if (kind === "release") {
    const s = await limiter.release(id);
    counts.release++;
    write({ t: "settle", id, op: "release", status: s.status, cost: [0, 0, 0, 0] });
    return;
  }
  let input: number;
  let output: number;
  if (kind === "topup") {
    // the estimate was short: up to 20 % more input, all the output
    input = r.inputTokens + 1 + Math.floor(random() * 0.2 * r.inputTokens);
    output = r.outputTokens;
    counts.topup++;
  } else {
    input = Math.floor(r.inputTokens * (0.5 + 0.5 * random()));
    output = Math.floor(r.outputTokens * random());
    counts.refund++;
  }
  const s = await limiter.adjust(id, { actualInput: input, actualOutput: output });
  write({ t: "settle", id, op: kind, status: s.status, cost: [limiter.combinedCost(input, output), input, output, 1] });
}

async function client(): Promise<void> {
  while (Date.now() < endAt) {
    const kind = pick();
    const input = 100 + Math.floor(random() * 1400);
    const output = 50 + Math.floor(random() * 950);
    const controller = kind === "abort" ? new AbortController() : undefined;
    const timer = controller
      ? setTimeout(() => controller.abort(new Error("soak-abort")), Math.floor(random() * 400))
      : undefined;
    let r: AcquireResult;
    try {
      r = await limiter.acquire({
        inputTokens: input,
        outputTokens: output,
        ...(controller ? { signal: controller.signal } : {}),
      });
    } catch (error) {
      clearTimeout(timer);
      if (controller?.signal.aborted && error === controller.signal.reason) {
        counts.aborted++;
        write({ t: "abort" });
      } else {
        counts.errors++;
        write({ t: "error", op: "acquire", message: String(error) });
      }
      continue;
    }
    clearTimeout(timer);
    counts.grants++;
    write({
      t: "grant",
      id: r.recordId,
      slot: r.slotTime,
      cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
      waitMs: r.waitMs,
      degraded: r.degraded,
    });
    await sleep(20 + Math.floor(random() * 280));
    if (kind === "abort") counts.abortLate++;
    try {
      await settle(kind === "abort" ? "refund" : kind, r);
    } catch (error) {
      counts.errors++;
      write({ t: "error", op: kind, message: String(error) });
    }
  }
}

await Promise.all(Array.from({ length: cfg.concurrency }, () => client()));
await limiter.close();
write({ t: "done", pid: process.pid, counts });
out.end();
await once(out, "finish");
