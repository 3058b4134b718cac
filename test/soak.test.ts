/**
 * Soak: 4 processes share one limiter on a redis-server of our own for SOAK_SECONDS (default 60) with a 10 s window
 * and mixed acquire / refund / top-up / release / abort traffic. From the JSON lines the workers write, the parent
 * checks: no window over a limit (settled costs; a top-up beyond the estimate is what the provider consumed after
 * admission, so it is capped at the reservation — raw final-cost numbers are reported too), FIFO, no leaked
 * reservation (every live record in the ring belongs to a grant that was not released; after the window the status
 * is empty and the key is gone), and bounded Redis memory (MEMORY USAGE of the key and INFO used_memory sampled).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RateLimiter, STATE_LAYOUT } from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { fifoInversions, type Grant, seqOf, windowViolations } from "./harness/limiters.js";
import { hasRedisServerBinary, startRedisServer } from "./harness/redis-server.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const PROCESSES = 4;
const CONCURRENCY = 8;
const WINDOW_SECONDS = 10;
const TPM = 150_000;
const RPM = 200;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Quad = [number, number, number, number];
type Line =
  | { t: "grant"; id: string; slot: number; cost: Quad; waitMs: number; degraded: boolean }
  | { t: "settle"; id: string; op: string; status: string; cost: Quad }
  | { t: "abort" }
  | { t: "error"; op: string; message: string }
  | { t: "done"; pid: number; counts: Record<string, number> };

function runWorker(config: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=llmratelimiter-source", "--import", "tsx", "test/workers/soak-worker.ts", JSON.stringify(config)],
      { cwd: root, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`soak worker exited ${code}: ${stderr}`))));
  });
}

/** Header of the one-key ring (layout in packages/core/src/lua/lib.lua): live records and capacity. */
async function ringHeader(redis: Redis, key: string): Promise<{ head: number; tail: number; cap: number } | null> {
  const raw = await redis.getrangeBuffer(key, 0, STATE_LAYOUT.headerBytes - 1);
  if (raw.length < STATE_LAYOUT.headerBytes) return null;
  return { head: raw.readDoubleLE(8), tail: raw.readDoubleLE(32), cap: raw.readDoubleLE(40) };
}

async function liveRecordIds(redis: Redis, key: string): Promise<{ live: string[]; released: number; hold: number }> {
  const raw = await redis.getBuffer(key);
  if (!raw) return { live: [], released: 0, hold: 0 };
  const head = raw.readDoubleLE(8);
  const tail = raw.readDoubleLE(32);
  const cap = raw.readDoubleLE(40);
  const live: string[] = [];
  let released = 0;
  let hold = 0;
  for (let seq = head; seq < tail; seq++) {
    const off = STATE_LAYOUT.headerBytes + (seq % cap) * STATE_LAYOUT.recordBytes;
    hold = Math.max(hold, raw.readUIntLE(off + 12, 6));
    if (raw.readUInt8(off + 30) === 1) live.push(`${seq}.${raw.readUIntLE(off, 6)}`);
    else released++;
  }
  return { live, released, hold };
}

describe.skipIf(!hasRedisServerBinary())("soak", () => {
  it(
    `${PROCESSES} processes × ${SECONDS} s, 10 s window, mixed traffic: 0 violations, 0 leaks, bounded memory`,
    async () => {
      const redis = await startRedisServer();
      const admin = new Redis(redis.url);
      admin.on("error", () => {});
      const dir = mkdtempSync(join(tmpdir(), "llmrl-soak-"));
      const prefix = `soak-${randomUUID()}`;
      const model = "soak";
      const observer = new RateLimiter({
        redis: redis.url,
        model,
        keyPrefix: prefix,
        tpm: TPM,
        rpm: RPM,
        windowSeconds: WINDOW_SECONDS,
      });
      const windowMs = WINDOW_SECONDS * 1000;
      try {
        const baseline = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
        const startAt = Date.now() + 5000;
        const files = Array.from({ length: PROCESSES }, (_, i) => join(dir, `worker-${i}.jsonl`));
        const workers = Promise.all(
          files.map((out, i) =>
            runWorker({
              url: redis.url,
              prefix,
              model,
              tpm: TPM,
              rpm: RPM,
              windowSeconds: WINDOW_SECONDS,
              startAt,
              durationMs: SECONDS * 1000,
              concurrency: CONCURRENCY,
              seed: 7919 * (i + 1),
              out,
            }),
          ),
        );

        // Memory samples while the workers run.
        const samples: Array<{ keyBytes: number; usedMemory: number; live: number; cap: number }> = [];
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const [keyBytes, info, header] = await Promise.all([
              admin.call("MEMORY", "USAGE", observer.key, "SAMPLES", "0") as Promise<number | null>,
              admin.info("memory"),
              ringHeader(admin, observer.key),
            ]);
            if (keyBytes !== null && header) {
              samples.push({
                keyBytes,
                usedMemory: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0),
                live: header.tail - header.head,
                cap: header.cap,
              });
            }
            await sleep(500);
          }
        })();
        try {
          await workers;
        } finally {
          sampling = false;
          await sampler;
        }

        // Read what every process reported.
        const lines = files.flatMap((f) =>
          readFileSync(f, "utf8")
            .split("\n")
            .filter((l) => l.length > 0)
            .map((l) => JSON.parse(l) as Line),
        );
        const errors = lines.filter((l): l is Extract<Line, { t: "error" }> => l.t === "error");
        const done = lines.filter((l): l is Extract<Line, { t: "done" }> => l.t === "done");
        const grantLines = lines.filter((l): l is Extract<Line, { t: "grant" }> => l.t === "grant");
        const settles = lines.filter((l): l is Extract<Line, { t: "settle" }> => l.t === "settle");
        const grants = new Map(grantLines.map((g) => [g.id, { ...g, final: g.cost, released: false }]));
        const settleStatuses = new Map<string, number>();
        for (const s of settles) {
          settleStatuses.set(s.status, (settleStatuses.get(s.status) ?? 0) + 1);
          const g = grants.get(s.id);
          if (!g) continue;
          if (s.status === "adjusted" || s.status === "unchanged") g.final = s.cost;
          if (s.status === "released") {
            g.final = [0, 0, 0, 0];
            g.released = true;
          }
        }

        // Leaks: every live record in the ring is a grant that was not released (no orphan of an abort or a close).
        const ring = await liveRecordIds(admin, observer.key);
        const leaked = ring.live.filter((id) => !grants.get(id) || grants.get(id)!.released);

        // Windows. Settled costs with top-ups capped at the reservation (the store had admitted against these),
        // and, for the record, raw final costs.
        const limits = [TPM, 0, 0, RPM];
        const list = [...grants.values()];
        const capped: Grant[] = list.map((g) => ({
          seq: seqOf(g.id),
          slot: g.slot,
          cost: g.final.map((c, d) => Math.min(c, g.cost[d]!)) as unknown as Grant["cost"],
        }));
        const final: Grant[] = list.map((g) => ({ seq: seqOf(g.id), slot: g.slot, cost: g.final }));
        const violations = windowViolations(capped, windowMs, limits);
        const rawViolations = windowViolations(final, windowMs, limits);
        const inversions = fifoInversions(capped);

        // Utilisation over the whole windows of the run (granted tokens / limit, requests / limit).
        const slots = list.map((g) => g.slot);
        const t0 = Math.min(...slots);
        const fullWindows = Math.max(1, Math.floor((Math.max(...slots) - t0) / windowMs));
        const inRun = list.filter((g) => g.slot < t0 + fullWindows * windowMs);
        const tokenUtil = inRun.reduce((s, g) => s + g.final[0], 0) / (fullWindows * TPM);
        const requestUtil = inRun.filter((g) => !g.released).length / (fullWindows * RPM);

        // After the last reservation's window: nothing used, nothing queued, and the key expires by itself.
        const afterWindow = Math.max(ring.hold, ...slots) + windowMs + 100;
        await sleep(Math.max(0, afterWindow - Date.now()));
        const idle = await observer.status();
        const vanishBy = Date.now() + windowMs + 5000;
        while ((await admin.exists(observer.key)) === 1 && Date.now() < vanishBy) await sleep(100);
        const keyGone = (await admin.exists(observer.key)) === 0;

        const maxKey = samples.reduce((a, b) => (b.keyBytes > a.keyBytes ? b : a), samples[0]!);
        const peakLive = Math.max(...samples.map((s) => s.live));
        const maxCap = Math.max(...samples.map((s) => s.cap));
        const maxUsed = Math.max(...samples.map((s) => s.usedMemory));
        const totals = done.reduce<Record<string, number>>((acc, d) => {
          for (const [k, v] of Object.entries(d.counts)) acc[k] = (acc[k] ?? 0) + v;
          return acc;
        }, {});
        console.log(
          `soak: ${PROCESSES} processes × ${CONCURRENCY} clients, ${SECONDS} s, window ${WINDOW_SECONDS} s, tpm ${TPM} rpm ${RPM}: ` +
            `${list.length} grants (refund ${totals.refund}, top-up ${totals.topup}, release ${totals.release}, keep ${totals.keep}, ` +
            `aborted while queued ${totals.aborted}, abort after grant ${totals.abortLate}), settle statuses ${JSON.stringify(Object.fromEntries(settleStatuses))}; ` +
            `violations ${violations.length} (raw final costs incl. top-ups: ${rawViolations.length}), FIFO inversions ${inversions}; ` +
            `utilisation over ${fullWindows} windows: tokens ${(tokenUtil * 100).toFixed(1)} %, requests ${(requestUtil * 100).toFixed(1)} %; ` +
            `leaked ${leaked.length} (ring at end: ${ring.live.length} live, ${ring.released} released); ` +
            `after the window: tokensUsed ${idle.tokensUsed}, requestsUsed ${idle.requestsUsed}, queueDepth ${idle.queueDepth}, key gone ${keyGone}; ` +
            `max key ${maxKey.keyBytes} B (cap ${maxKey.cap}, ${maxKey.live} live, ${(maxKey.keyBytes / Math.max(1, maxKey.live)).toFixed(1)} B/reservation; ` +
            `peak live ${peakLive}, max cap ${maxCap}); used_memory max ${maxUsed} B (baseline ${baseline} B, +${maxUsed - baseline} B); ${samples.length} samples`,
        );

        expect(errors.map((e) => `${e.op}: ${e.message}`)).toEqual([]);
        expect(done).toHaveLength(PROCESSES);
        expect(list.length).toBeGreaterThan(0);
        expect(list.filter((g) => g.degraded)).toEqual([]);
        expect(settleStatuses.get("unknown") ?? 0).toBe(0);
        expect(violations).toEqual([]);
        expect(inversions).toBe(0);
        expect(leaked).toEqual([]);
        expect([idle.tokensUsed, idle.requestsUsed, idle.queueDepth, idle.queuedTokens]).toEqual([0, 0, 0, 0]);
        expect(keyGone).toBe(true);
        // Memory: the ring holds 31 B per slot and only grows when full, so its capacity stays within twice the live
        // records (64 minimum), and the key is that ring plus a header and Redis' own overhead.
        expect(samples.length).toBeGreaterThan(0);
        expect(maxCap).toBeLessThanOrEqual(Math.max(64, 2 * peakLive) * 2);
        expect(maxKey.keyBytes).toBeLessThanOrEqual(
          STATE_LAYOUT.headerBytes + STATE_LAYOUT.recordBytes * maxCap + 1024,
        );
        expect(maxUsed - baseline).toBeLessThan(32 * 1024 * 1024);
      } finally {
        await observer.close();
        admin.disconnect();
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    (SECONDS + 120) * 1000,
  );
});
