/**
 * Several Node processes share one limiter on one Redis and saturate it. From the granted slots: no window over a
 * limit, FIFO across processes, and at least 95 % of the capacity used while the queue was full.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, inject, it } from "vitest";
import { fifoInversions, type Grant, windowViolations } from "./harness/limiters.js";

const root = fileURLToPath(new URL("..", import.meta.url));

function runWorker(args: string[]): Promise<{ pid: number; grants: Grant[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=llmratelimiter-source", "--import", "tsx", "test/workers/saturate.ts", ...args],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}: ${err}`)),
    );
  });
}

describe("multi-process", () => {
  it("3 processes saturating one limiter: 0 window violations, FIFO, >= 95 % utilisation", async () => {
    const prefix = `mp-${randomUUID()}`;
    const startAt = Date.now() + 4000;
    const results = await Promise.all(
      [1, 2, 3].map((seed) => runWorker([inject("redisUrl"), prefix, "60", String(startAt), String(seed)])),
    );
    const grants = results.flatMap((r) => r.grants);
    expect(grants).toHaveLength(180);
    expect(new Set(results.map((r) => r.pid)).size).toBe(3);
    expect(windowViolations(grants, 1000, [10_000, 0, 0, 200])).toEqual([]);
    expect(fifoInversions(grants)).toBe(0);

    // Utilisation over the full windows while the queue was saturated: tokens granted per window / limit.
    const slots = grants.map((g) => g.slot);
    const t0 = Math.min(...slots);
    const fullWindows = Math.floor((Math.max(...slots) - t0) / 1000);
    expect(fullWindows).toBeGreaterThanOrEqual(3);
    const used = grants.filter((g) => g.slot < t0 + fullWindows * 1000).reduce((sum, g) => sum + g.cost[0], 0);
    const utilisation = used / (fullWindows * 10_000);
    console.log(
      `multi-process: ${grants.length} grants, ${fullWindows} full windows, utilisation ${(utilisation * 100).toFixed(1)} %`,
    );
    expect(utilisation).toBeGreaterThanOrEqual(0.95);
    expect(utilisation).toBeLessThanOrEqual(1);
  }, 60_000);
});
