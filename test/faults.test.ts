/**
 * Fault suite: each test starts its own redis-server(s), runs concurrent load, breaks Redis on purpose (kill,
 * restart empty, SCRIPT FLUSH, SIGSTOP stall, SIGKILLed worker process, failover to a promoted replica, outage under
 * policy "local"), and checks that every call settles within a hard bound (no promise left pending), the policy is
 * followed, no reservation is made twice, nothing leaks, and no rejection goes unhandled. The only timing bounds are
 * the ones the issue names (retry budget + 1 s, back to normal within 1 s of Redis returning).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  type AcquireResult,
  LlmRateLimiterError,
  RateLimiter,
  type RateLimiterOptions,
  type RetryOptions,
  STATE_LAYOUT,
  StoreUnavailableError,
} from "@llmratelimiter/core";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fifoInversions, type Grant, seqOf, windowViolations } from "./harness/limiters.js";
import { hasRedisServerBinary, type RedisServer, startRedisServer } from "./harness/redis-server.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** Longest a call may take while the store fails: subscribe + every attempt timing out + the backoff delays. */
function retryBudgetMs(retry: Required<Omit<RetryOptions, "exponentialBase">>, commandTimeoutMs: number): number {
  let delays = 0;
  for (let i = 0; i < retry.maxRetries; i++) {
    delays += Math.min(retry.baseDelayMs * 2 ** i, retry.maxDelayMs) * (1 + retry.jitter);
  }
  return commandTimeoutMs + (retry.maxRetries + 1) * commandTimeoutMs + delays;
}

// ---------------------------------------------------------------------------------------------------------------
// Call tracking: every limiter call races a hard deadline; the original promise stays tracked until it settles.

type CallResult<T> =
  | { status: "ok"; value: T; ms: number }
  | { status: "error"; error: unknown; ms: number }
  | { status: "hung"; ms: number };

interface CallRecord {
  op: string;
  phase: string;
  started: number;
  ended: number;
  ms: number;
  status: "ok" | "error" | "hung";
  degraded: boolean;
  local: boolean;
  error?: unknown;
}

class Calls {
  phase = "normal";
  readonly pending = new Set<Promise<unknown>>();
  readonly hung: string[] = [];
  readonly log: CallRecord[] = [];

  async run<T>(op: string, boundMs: number, fn: () => Promise<T>): Promise<CallResult<T>> {
    const phase = this.phase;
    const started = performance.now();
    const tracked = fn().then(
      (value) => ({ status: "ok" as const, value }),
      (error: unknown) => ({ status: "error" as const, error }),
    );
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<{ status: "hung" }>((resolve) => {
      timer = setTimeout(() => resolve({ status: "hung" }), boundMs);
    });
    const r = await Promise.race([tracked, deadline]);
    clearTimeout(timer);
    const ended = performance.now();
    const ms = ended - started;
    if (r.status === "hung") this.hung.push(`${op} (${phase}) still pending after ${boundMs} ms`);
    const value = r.status === "ok" ? (r.value as Partial<AcquireResult> | undefined) : undefined;
    this.log.push({
      op,
      phase,
      started,
      ended,
      ms,
      status: r.status,
      degraded: value?.degraded === true || (value as { status?: string } | undefined)?.status === "degraded",
      local: typeof value?.recordId === "string" && value.recordId.startsWith("local:"),
      ...(r.status === "error" ? { error: r.error } : {}),
    });
    return { ...r, ms } as CallResult<T>;
  }

  /** Waits (bounded) for every tracked promise, hung ones included, to settle. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(20);
  }

  of(op: string, phase?: string): CallRecord[] {
    return this.log.filter((c) => c.op === op && (phase === undefined || c.phase === phase));
  }
}

interface LoopOptions {
  calls: Calls;
  limiter: () => RateLimiter;
  running: () => boolean;
  acquireBoundMs: number;
  settleBoundMs: number;
  tokens: () => number;
  maxWaitMs?: number;
  /** After a grant: adjust (refund) or release it, half each. */
  settle: boolean;
  onGrant?: (r: AcquireResult) => void;
}

/** One concurrent client: acquire, hold briefly, settle; pauses a little after a failure so outages do not spin. */
async function loop(o: LoopOptions): Promise<void> {
  while (o.running()) {
    const limiter = o.limiter();
    const r = await o.calls.run("acquire", o.acquireBoundMs, () =>
      limiter.acquire({
        inputTokens: o.tokens(),
        outputTokens: 0,
        ...(o.maxWaitMs === undefined ? {} : { maxWaitMs: o.maxWaitMs }),
      }),
    );
    if (r.status !== "ok") {
      await sleep(rand(10, 30));
      continue;
    }
    o.onGrant?.(r.value);
    await sleep(rand(2, 20));
    if (!o.settle) continue;
    const id = r.value.recordId;
    if (Math.random() < 0.5) {
      const actual = Math.floor(r.value.inputTokens / 2);
      await o.calls.run("adjust", o.settleBoundMs, () => limiter.adjust(id, { actualInput: actual }));
    } else {
      await o.calls.run("release", o.settleBoundMs, () => limiter.release(id));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis helpers: an admin client and a reader for the one-key ring (layout in packages/core/src/lua/lib.lua).

function admin(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => {});
  return client;
}

interface RingRecord {
  seq: number;
  token: number;
  slot: number;
  hold: number;
  input: number;
  output: number;
  combined: number;
  requests: number;
}

async function ringRecords(redis: Redis, key: string): Promise<RingRecord[]> {
  const raw = await redis.getBuffer(key);
  if (!raw) return [];
  const header = (i: number) => raw.readDoubleLE(i * 8);
  const head = header(1);
  const tail = header(4);
  const cap = header(5);
  const out: RingRecord[] = [];
  for (let seq = head; seq < tail; seq++) {
    const off = STATE_LAYOUT.headerBytes + (seq % cap) * STATE_LAYOUT.recordBytes;
    out.push({
      seq,
      token: raw.readUIntLE(off, 6),
      slot: raw.readUIntLE(off + 6, 6),
      hold: raw.readUIntLE(off + 12, 6),
      input: raw.readUInt32LE(off + 18),
      output: raw.readUInt32LE(off + 22),
      combined: raw.readUInt32LE(off + 26),
      requests: raw.readUInt8(off + 30),
    });
  }
  return out;
}

async function keysMatching(redis: Redis, fragment: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `*${fragment}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

const tokenOf = (recordId: string) =>
  Number(recordId.startsWith("degraded:") ? recordId.slice("degraded:".length) : recordId.split(".")[1]);
const isStoreUnavailable = (e: unknown) => LlmRateLimiterError.isInstance(e) && e.code === "STORE_UNAVAILABLE";
const isWaitTimeout = (e: unknown) => LlmRateLimiterError.isInstance(e) && e.code === "WAIT_TIMEOUT";

/** Closes limiters with a hard bound too: close() must not hang on a dead or stalled Redis. */
async function closeAll(limiters: RateLimiter[]): Promise<void> {
  const calls = new Calls();
  await Promise.all(limiters.map((l) => calls.run("close", 8000, () => l.close())));
  expect(calls.hung).toEqual([]);
}

const children = new Set<ChildProcess>();

function spawnWorker(file: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["--conditions=llmratelimiter-source", "--import", "tsx", file, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** The child's first stdout line; rejects if it exits or stays silent for `timeoutMs`. */
function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`worker silent for ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited ${code}: ${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

const summary: string[] = [];

describe.skipIf(!hasRedisServerBinary())("faults (own redis-server per test)", () => {
  const servers: RedisServer[] = [];
  const limiters: RateLimiter[] = [];
  const clients: Redis[] = [];

  const server = async (args?: string[]) => {
    const s = await startRedisServer(args ? { args } : {});
    servers.push(s);
    return s;
  };
  const make = (options: RateLimiterOptions) => {
    const l = new RateLimiter(options);
    limiters.push(l);
    return l;
  };
  const client = (url: string) => {
    const c = admin(url);
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    unhandled.length = 0;
    process.on("unhandledRejection", onUnhandled);
  });

  afterEach(async () => {
    for (const child of children) child.kill("SIGKILL");
    try {
      await closeAll(limiters.splice(0));
    } finally {
      for (const c of clients.splice(0)) c.disconnect();
      await Promise.all(servers.splice(0).map((s) => s.stop()));
      process.off("unhandledRejection", onUnhandled);
      if (summary.length > 0) console.log(summary.splice(0).join("\n"));
    }
  });

  async function expectNoUnhandled(): Promise<void> {
    await sleep(50);
    expect(unhandled.map((e) => (e instanceof Error ? (e.stack ?? String(e)) : String(e)))).toEqual([]);
  }

  it("1: Redis killed mid-run then restarted: calls settle within the budget, allow degrades, deny throws, back within 1 s", async () => {
    const redis = await server();
    const retry = { maxRetries: 2, baseDelayMs: 50, maxDelayMs: 200, jitter: 0.1 };
    const commandTimeoutMs = 500;
    const budget = retryBudgetMs(retry, commandTimeoutMs);
    const maxWaitMs = 1000;
    const common = {
      redis: redis.url,
      model: "kill",
      tpm: 6000,
      rpm: 60,
      windowSeconds: 1,
      retry,
      commandTimeoutMs,
      breakerCooldownMs: 300,
    };
    const allow = make({ ...common, keyPrefix: `a-${randomUUID()}`, onRedisError: "allow" });
    const deny = make({ ...common, keyPrefix: `d-${randomUUID()}`, onRedisError: "deny" });
    const degradedEvents = { allow: 0, deny: 0 };
    allow.on("degraded", () => degradedEvents.allow++);
    deny.on("degraded", () => degradedEvents.deny++);
    await allow.status();
    await deny.status();

    const callsAllow = new Calls();
    const callsDeny = new Calls();
    let running = true;
    const bounds = { acquireBoundMs: budget + maxWaitMs + 1000, settleBoundMs: budget + 1000 };
    const loops = [
      ...Array.from({ length: 6 }, () =>
        loop({
          calls: callsAllow,
          limiter: () => allow,
          running: () => running,
          ...bounds,
          maxWaitMs,
          settle: true,
          tokens: () => rand(50, 200),
        }),
      ),
      ...Array.from({ length: 6 }, () =>
        loop({
          calls: callsDeny,
          limiter: () => deny,
          running: () => running,
          ...bounds,
          maxWaitMs,
          settle: true,
          tokens: () => rand(50, 200),
        }),
      ),
    ];
    const setPhase = (p: string) => {
      callsAllow.phase = p;
      callsDeny.phase = p;
    };
    // New acquires all along, every 100 ms: never waiting for a slot (maxWaitMs 0), so while Redis is down each
    // one is bounded by the retry budget alone.
    const prober = (async () => {
      const inFlight: Promise<unknown>[] = [];
      while (running) {
        inFlight.push(callsAllow.run("probe", budget + 1000, () => allow.acquire({ inputTokens: 1, maxWaitMs: 0 })));
        inFlight.push(callsDeny.run("probe", budget + 1000, () => deny.acquire({ inputTokens: 1, maxWaitMs: 0 })));
        await sleep(100);
      }
      await Promise.all(inFlight);
    })();

    await sleep(700);
    setPhase("outage");
    const killedAt = performance.now();
    await redis.kill();
    await sleep(2000);
    setPhase("recovery");
    await redis.restart();
    const restartedAt = performance.now();
    // The first call the store answered again: a grant, or a wait timeout (which only the store can decide).
    const firstOk = (calls: Calls) =>
      calls.log
        .filter((c) => c.started >= killedAt && c.ended >= restartedAt && (c.op === "acquire" || c.op === "probe"))
        .filter((c) => (c.status === "ok" && !c.degraded) || (c.status === "error" && isWaitTimeout(c.error)))
        .sort((a, b) => a.ended - b.ended)[0];
    const recoverBy = Date.now() + 5000;
    while ((!firstOk(callsAllow) || !firstOk(callsDeny)) && Date.now() < recoverBy) await sleep(10);
    await sleep(700);
    running = false;
    await Promise.all([...loops, prober]);
    await callsAllow.drain(budget + maxWaitMs + 2000);
    await callsDeny.drain(budget + maxWaitMs + 2000);

    const recoveryAllow = (firstOk(callsAllow)?.ended ?? Number.POSITIVE_INFINITY) - restartedAt;
    const recoveryDeny = (firstOk(callsDeny)?.ended ?? Number.POSITIVE_INFINITY) - restartedAt;
    const outageProbes = [...callsAllow.of("probe", "outage"), ...callsDeny.of("probe", "outage")];
    const maxOutageMs = Math.max(...outageProbes.map((c) => c.ms));
    const pendingAtKill = [...callsAllow.of("acquire", "normal"), ...callsDeny.of("acquire", "normal")].filter(
      (c) => c.ended > killedAt,
    );
    const allowErrors = callsAllow.log.filter((c) => c.status === "error");
    const denyErrors = callsDeny.log.filter((c) => c.status === "error");
    summary.push(
      `fault 1 kill/restart: budget ${budget.toFixed(0)} ms; ${outageProbes.length} new acquires during the outage, ` +
        `slowest ${maxOutageMs.toFixed(0)} ms; ${pendingAtKill.length} acquires pending at the kill, slowest ` +
        `${Math.max(0, ...pendingAtKill.map((c) => c.ms)).toFixed(0)} ms (bound ${bounds.acquireBoundMs} incl. maxWaitMs); ` +
        `allow: ${[...callsAllow.of("acquire"), ...callsAllow.of("probe")].filter((c) => c.degraded).length} degraded results, ` +
        `${degradedEvents.allow} events; deny: ${denyErrors.filter((c) => isStoreUnavailable(c.error)).length} StoreUnavailableError; ` +
        `recovery after restart(): allow ${recoveryAllow.toFixed(0)} ms, deny ${recoveryDeny.toFixed(0)} ms`,
    );

    expect(callsAllow.hung).toEqual([]);
    expect(callsDeny.hung).toEqual([]);
    expect(callsAllow.pending.size + callsDeny.pending.size).toBe(0);
    expect(maxOutageMs).toBeLessThanOrEqual(budget + 1000);
    // allow: results flagged, event emitted, nothing thrown but wait timeouts
    expect(callsAllow.of("probe", "outage").filter((c) => c.degraded).length).toBeGreaterThan(0);
    expect(degradedEvents.allow).toBeGreaterThan(0);
    expect(allowErrors.filter((c) => !isWaitTimeout(c.error)).map((c) => String(c.error))).toEqual([]);
    // deny: the typed error, never a degraded result
    expect(callsDeny.of("probe", "outage").filter((c) => isStoreUnavailable(c.error)).length).toBeGreaterThan(0);
    expect(
      denyErrors.filter((c) => !isStoreUnavailable(c.error) && !isWaitTimeout(c.error)).map((c) => String(c.error)),
    ).toEqual([]);
    for (const c of denyErrors.filter((c) => isStoreUnavailable(c.error)))
      expect(c.error).toBeInstanceOf(StoreUnavailableError);
    expect(callsDeny.log.filter((c) => c.degraded && (c.op === "acquire" || c.op === "probe"))).toEqual([]);
    expect(degradedEvents.deny).toBeGreaterThan(0);
    // back to normal within a second of Redis answering again
    expect(recoveryAllow).toBeLessThanOrEqual(1000);
    expect(recoveryDeny).toBeLessThanOrEqual(1000);
    expect((await allow.status()).degraded).toBe(false);
    expect((await deny.status()).degraded).toBe(false);
    await expectNoUnhandled();
  }, 30_000);

  it("2: Redis restarted empty and SCRIPT FLUSH: no call fails (scripts reload)", async () => {
    const redis = await server();
    const retry = { maxRetries: 6, baseDelayMs: 100, maxDelayMs: 500, jitter: 0.1 };
    const commandTimeoutMs = 1000;
    const budget = retryBudgetMs(retry, commandTimeoutMs);
    const prefix = `s-${randomUUID()}`;
    const common = { redis: redis.url, model: "flush", keyPrefix: prefix, tpm: 6000, rpm: 60, windowSeconds: 1 };
    // deny: any call that fails throws, so "no call fails" is "no error at all"
    const a = make({ ...common, onRedisError: "deny", retry, commandTimeoutMs });
    const b = make({ ...common, onRedisError: "deny", retry, commandTimeoutMs });
    await a.status();
    await b.status();
    const calls = new Calls();
    let running = true;
    const bounds = { acquireBoundMs: budget + 3000, settleBoundMs: budget + 1000 };
    const loops = [a, b].flatMap((l) =>
      Array.from({ length: 5 }, () =>
        loop({ calls, limiter: () => l, running: () => running, ...bounds, settle: true, tokens: () => rand(50, 200) }),
      ),
    );
    const admin1 = client(redis.url);
    await sleep(500);
    calls.phase = "flush";
    await admin1.script("FLUSH");
    await sleep(500);
    calls.phase = "restart";
    await redis.restart();
    const afterRestart = performance.now();
    await sleep(1200);
    calls.phase = "flush-after-restart";
    const admin2 = client(redis.url);
    await admin2.config("RESETSTAT");
    await admin2.script("FLUSH");
    const flushedAt = performance.now();
    await sleep(600);
    running = false;
    await Promise.all(loops);
    await calls.drain(budget + 3000);

    const evals = Number(/cmdstat_eval:calls=(\d+)/.exec(await admin2.info("commandstats"))?.[1] ?? 0);
    const errors = calls.log.filter((c) => c.status === "error");
    const okAfterRestart = calls.log.filter((c) => c.op === "acquire" && c.status === "ok" && c.started > afterRestart);
    summary.push(
      `fault 2 restart+SCRIPT FLUSH: ${calls.log.length} calls, ${errors.length} failed, ${calls.log.filter((c) => c.degraded).length} degraded, ` +
        `${okAfterRestart.length} acquires after restart, ${evals} EVAL reloads after the 2nd flush, slowest call ${Math.max(...calls.log.map((c) => c.ms)).toFixed(0)} ms`,
    );
    expect(calls.hung).toEqual([]);
    expect(calls.pending.size).toBe(0);
    expect(errors.map((c) => `${c.op}/${c.phase}: ${String(c.error)}`)).toEqual([]);
    expect(calls.log.filter((c) => c.degraded)).toEqual([]);
    expect(okAfterRestart.length).toBeGreaterThan(0);
    expect(calls.log.filter((c) => c.status === "ok" && c.started > flushedAt).length).toBeGreaterThan(0);
    // NOSCRIPT led to one EVAL per script, not a failure
    expect(evals).toBeGreaterThan(0);
    await expectNoUnhandled();
  }, 30_000);

  it("3: Redis stalled 3 s (SIGSTOP): calls bounded by the command timeout, policy followed, no duplicate reservation", async () => {
    const redis = await server();
    const retry = { maxRetries: 1, baseDelayMs: 50, maxDelayMs: 100, jitter: 0 };
    const commandTimeoutMs = 500;
    const budget = retryBudgetMs(retry, commandTimeoutMs);
    const common = {
      redis: redis.url,
      model: "stall",
      // large limits and a long window: nothing waits and nothing expires, so every reservation can be counted
      tpm: 10_000_000,
      rpm: 1_000_000,
      windowSeconds: 60,
      retry,
      commandTimeoutMs,
    };
    const allow = make({ ...common, keyPrefix: `a-${randomUUID()}`, onRedisError: "allow" });
    const deny = make({ ...common, keyPrefix: `d-${randomUUID()}`, onRedisError: "deny" });
    await allow.status();
    await deny.status();
    const callsAllow = new Calls();
    const callsDeny = new Calls();
    const allowGrants: AcquireResult[] = [];
    const denyGrants: AcquireResult[] = [];
    let running = true;
    const bounds = { acquireBoundMs: budget + 1000, settleBoundMs: budget + 1000, settle: false, tokens: () => 10 };
    const loops = [
      ...Array.from({ length: 4 }, () =>
        loop({
          calls: callsAllow,
          limiter: () => allow,
          running: () => running,
          ...bounds,
          onGrant: (r) => allowGrants.push(r),
        }),
      ),
      ...Array.from({ length: 4 }, () =>
        loop({
          calls: callsDeny,
          limiter: () => deny,
          running: () => running,
          ...bounds,
          onGrant: (r) => denyGrants.push(r),
        }),
      ),
    ];
    await sleep(500);
    callsAllow.phase = callsDeny.phase = "stall";
    redis.stall();
    await sleep(3000);
    callsAllow.phase = callsDeny.phase = "resumed";
    redis.resume();
    // A reply on the same connection after the resume means the stalled backlog before it was processed.
    const okAfter = (calls: Calls) => calls.of("acquire", "resumed").some((c) => c.status === "ok" && !c.degraded);
    const until = Date.now() + 5000;
    while ((!okAfter(callsAllow) || !okAfter(callsDeny)) && Date.now() < until) await sleep(20);
    await sleep(300);
    running = false;
    await Promise.all(loops);
    await callsAllow.drain(budget + 2000);
    await callsDeny.drain(budget + 2000);

    const stalled = [...callsAllow.of("acquire", "stall"), ...callsDeny.of("acquire", "stall")];
    const failedInStall = stalled.filter((c) => c.degraded || c.status === "error");
    const maxStallMs = Math.max(...stalled.map((c) => c.ms));
    expect(callsAllow.hung).toEqual([]);
    expect(callsDeny.hung).toEqual([]);
    expect(callsAllow.pending.size + callsDeny.pending.size).toBe(0);
    expect(failedInStall.length).toBeGreaterThan(0);
    // bounded by the command timeout: every attempt timed out, none waited for the stall to end
    expect(maxStallMs).toBeLessThanOrEqual(budget + 1000);
    for (const c of failedInStall) expect(c.ms).toBeGreaterThanOrEqual(commandTimeoutMs - 5);
    // policy
    expect(callsAllow.log.filter((c) => c.status === "error").map((c) => String(c.error))).toEqual([]);
    expect(callsAllow.of("acquire", "stall").filter((c) => c.degraded).length).toBeGreaterThan(0);
    const denyErrors = callsDeny.log.filter((c) => c.status === "error");
    expect(denyErrors.length).toBeGreaterThan(0);
    expect(denyErrors.filter((c) => !isStoreUnavailable(c.error)).map((c) => String(c.error))).toEqual([]);
    expect(callsDeny.log.filter((c) => c.degraded)).toEqual([]);

    // Count reservations: exactly one per acquire that returned non-degraded, plus at most one orphan per failed one.
    const reader = client(redis.url);
    const lines: string[] = [];
    for (const [name, limiter, calls, grants] of [
      ["allow", allow, callsAllow, allowGrants],
      ["deny", deny, callsDeny, denyGrants],
    ] as const) {
      const records = await ringRecords(reader, limiter.key);
      const perToken = new Map<number, number>();
      for (const r of records) perToken.set(r.token, (perToken.get(r.token) ?? 0) + 1);
      const okTokens = grants.filter((g) => !g.degraded).map((g) => tokenOf(g.recordId));
      const degradedTokens = new Set(grants.filter((g) => g.degraded).map((g) => tokenOf(g.recordId)));
      const failed = calls.of("acquire").filter((c) => c.degraded || c.status === "error").length;
      const duplicates = [...perToken.values()].filter((n) => n > 1).length;
      const orphans = records.length - okTokens.length;
      const status = await limiter.status();
      lines.push(
        `${name}: ${okTokens.length} ok acquires, ${failed} failed, ${records.length} reservations in Redis ` +
          `(${orphans} orphans of failed acquires), ${duplicates} duplicates; status requestsUsed ${status.requestsUsed}`,
      );
      expect(duplicates).toBe(0);
      for (const t of okTokens) expect(perToken.get(t)).toBe(1);
      expect(orphans).toBeGreaterThanOrEqual(0);
      expect(orphans).toBeLessThanOrEqual(failed);
      if (name === "allow") {
        const okSet = new Set(okTokens);
        expect(records.filter((r) => !okSet.has(r.token) && !degradedTokens.has(r.token))).toEqual([]);
      }
      expect(records.every((r) => r.requests === 1)).toBe(true);
      expect(status.degraded).toBe(false);
      expect(status.requestsUsed + status.queueDepth).toBe(records.length);
    }
    summary.push(
      `fault 3 stall 3 s: budget ${budget} ms, ${stalled.length} acquires during the stall, ${failedInStall.length} failed, ` +
        `slowest ${maxStallMs.toFixed(0)} ms, fastest failure ${Math.min(...failedInStall.map((c) => c.ms)).toFixed(0)} ms; ${lines.join("; ")}`,
    );
    await expectNoUnhandled();
  }, 30_000);

  it("4: a worker SIGKILLed holding reservations and waiters: they pass with their window, keys have a TTL and vanish", async () => {
    const redis = await server();
    const prefix = `k-${randomUUID()}`;
    const windowMs = 1000;
    // 6 × 400 tokens against 1000 per window: 2 granted now, 2 queued one window out, 2 two windows out
    const worker = spawnWorker("test/workers/hold-worker.ts", [redis.url, prefix, "hold", "1000", "1", "6", "400"]);
    const held = JSON.parse(await firstLine(worker, 20_000)) as { pid: number; granted: string[]; waiting: string[] };
    const parent = make({
      redis: redis.url,
      model: "hold",
      keyPrefix: prefix,
      tpm: 1000,
      windowSeconds: 1,
      onRedisError: "deny",
    });
    const before = await parent.status();
    expect([held.granted.length, held.waiting.length]).toEqual([2, 4]);
    expect([before.requestsUsed, before.queueDepth, before.tokensUsed, before.queuedTokens]).toEqual([2, 4, 800, 1600]);
    const reader = client(redis.url);
    expect(await keysMatching(reader, prefix)).toEqual([parent.key]);
    expect(await reader.pttl(parent.key)).toBeGreaterThan(0);

    const exited = new Promise((resolve) => worker.once("exit", resolve));
    worker.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    const dead = await ringRecords(reader, parent.key);
    expect(dead).toHaveLength(6);
    const lastHold = Math.max(...dead.map((r) => r.hold));

    // Load from a live process: a whole-window request first, three small ones queued behind it.
    const calls = new Calls();
    const bound = lastHold + 3 * windowMs - Date.now() + 2000;
    const bigWaits = new Promise((resolve) => parent.once("wait", resolve));
    const big = calls.run("acquire", bound, () => parent.acquire({ tokens: 1000 }));
    await bigWaits;
    const smalls = Array.from({ length: 3 }, () =>
      calls.run("acquire", bound, async () => {
        const r = await parent.acquire({ tokens: 100 });
        await parent.release(r.recordId);
        return r;
      }),
    );
    // Keys keep a TTL the whole time, until they are gone.
    const noTtl: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const key of await keysMatching(reader, prefix)) {
          const pttl = await reader.pttl(key);
          if (pttl === -1) noTtl.push(key);
        }
        await sleep(100);
      }
    })().catch((error: unknown) => {
      noTtl.push(`sampler failed: ${String(error)}`);
    });
    try {
      const bigR = await big;
      expect(bigR.status).toBe("ok");
      if (bigR.status !== "ok") return;
      const freedAfterMs = Date.now() - killedAt;
      // The dead process's reservations free themselves exactly when the window of the last one passes.
      expect(bigR.value.slotTime).toBe(lastHold + windowMs);
      await calls.run("release", 5000, () => parent.release(bigR.value.recordId));
      const smallR = await Promise.all(smalls);
      for (const r of smallR) {
        expect(r.status).toBe("ok");
        // FIFO behind the big one (its release lets them start right after it)
        if (r.status === "ok") expect(r.value.slotTime).toBeGreaterThanOrEqual(bigR.value.slotTime);
      }
      const idle = await parent.status();
      const lastSlot = Math.max(...smallR.map((r) => (r.status === "ok" ? r.value.slotTime : 0)));
      const vanishBy = lastSlot + 2 * windowMs + 1000 + 3000;
      while ((await keysMatching(reader, prefix)).length > 0 && Date.now() < vanishBy) await sleep(50);
      const vanishedAfterMs = Date.now() - killedAt;
      sampling = false;
      await sampler;
      summary.push(
        `fault 4 SIGKILLed worker (2 granted + 4 waiting): freed ${freedAfterMs} ms after the kill (expected last hold + W = ` +
          `${lastHold + windowMs - killedAt} ms); key gone ${vanishedAfterMs} ms after the kill; keys without TTL: ${noTtl.length}`,
      );
      expect(await keysMatching(reader, prefix)).toEqual([]);
      expect(noTtl).toEqual([]);
      expect([idle.requestsUsed, idle.queueDepth]).toEqual([0, 0]);
      expect(calls.hung).toEqual([]);
      await calls.drain(1000);
      expect(calls.pending.size).toBe(0);
      await expectNoUnhandled();
    } finally {
      sampling = false;
      await sampler;
    }
  }, 30_000);

  it("5: failover to a promoted replica: the limiter keeps working and never admits more than the limit", async () => {
    // no 5 s wait for a diskless full sync
    const primary = await server(["--repl-diskless-sync-delay", "0"]);
    const replica = await server(["--replicaof", "127.0.0.1", String(primary.port)]);
    const adminP = client(primary.url);
    const adminR = client(replica.url);
    const linkedBy = Date.now() + 10_000;
    while (!(await adminR.info("replication")).includes("master_link_status:up") && Date.now() < linkedBy)
      await sleep(50);
    expect(await adminR.info("replication")).toContain("master_link_status:up");

    const limits = [3000, 0, 0, 30] as const;
    const retry = { maxRetries: 1, baseDelayMs: 50, maxDelayMs: 100, jitter: 0.1 };
    const commandTimeoutMs = 500;
    const budget = retryBudgetMs(retry, commandTimeoutMs);
    const common = {
      model: "failover",
      keyPrefix: `f-${randomUUID()}`,
      tpm: limits[0],
      rpm: limits[3],
      windowSeconds: 1,
      // deny: a call the store did not record is never admitted, so every grant is in the ring
      onRedisError: "deny" as const,
      retry,
      commandTimeoutMs,
    };
    const grants: Array<Grant & { phase: string }> = [];
    let phase = "primary";
    const collect = (l: RateLimiter) => {
      l.on("acquire", (e) => {
        if (e.result.degraded) return;
        const r = e.result;
        grants.push({
          seq: seqOf(r.recordId),
          slot: r.slotTime,
          cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
          phase,
        });
      });
      return l;
    };
    const old = [collect(make({ ...common, redis: primary.url })), collect(make({ ...common, redis: primary.url }))];
    await Promise.all(old.map((l) => l.status()));
    let current = old;
    const calls = new Calls();
    let running = true;
    const maxWaitMs = 3000;
    const loops = Array.from({ length: 8 }, (_, i) =>
      loop({
        calls,
        limiter: () => current[i % 2]!,
        running: () => running,
        acquireBoundMs: budget + maxWaitMs + 1000,
        settleBoundMs: budget + 1000,
        maxWaitMs,
        settle: false,
        tokens: () => rand(50, 250),
      }),
    );
    await sleep(1500);

    // Failover the way Redis' own FAILOVER does it: hold writes on the primary, let the replica catch up, promote.
    calls.phase = "failover";
    await adminP.call("CLIENT", "PAUSE", "10000", "WRITE");
    const offset = (info: string) => Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? -1);
    const caughtUpBy = Date.now() + 5000;
    while (
      offset(await adminP.info("replication")) !== offset(await adminR.info("replication")) &&
      Date.now() < caughtUpBy
    ) {
      await sleep(10);
    }
    const onPrimary = await adminP.getBuffer(old[0]!.key);
    const onReplica = await adminR.getBuffer(old[0]!.key);
    expect(onPrimary).not.toBeNull();
    expect(onReplica?.equals(onPrimary!)).toBe(true);
    await adminR.call("REPLICAOF", "NO", "ONE");
    await primary.kill();
    phase = "promoted";
    current = [collect(make({ ...common, redis: replica.url })), collect(make({ ...common, redis: replica.url }))];
    calls.phase = "promoted";
    // Reservations made on the old primary still count on the new one.
    const inherited = await current[0]!.status();
    expect(inherited.degraded).toBe(false);
    expect(inherited.requestsUsed + inherited.queueDepth).toBeGreaterThan(0);
    await sleep(2000);
    running = false;
    await Promise.all(loops);
    await calls.drain(budget + maxWaitMs + 2000);

    const violations = windowViolations(grants, 1000, limits);
    const errors = calls.log.filter((c) => c.status === "error");
    const byPhase = (p: string) => grants.filter((g) => g.phase === p).length;
    summary.push(
      `fault 5 failover: ${byPhase("primary")} grants on the primary, ${byPhase("promoted")} on the promoted replica, ` +
        `${inherited.requestsUsed + inherited.queueDepth} reservations inherited, ${violations.length} window violations, ` +
        `${fifoInversions(grants)} FIFO inversions, ${errors.filter((c) => isStoreUnavailable(c.error)).length} StoreUnavailableError during the switch`,
    );
    expect(calls.hung).toEqual([]);
    expect(calls.pending.size).toBe(0);
    expect(byPhase("primary")).toBeGreaterThan(0);
    expect(byPhase("promoted")).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    expect(fifoInversions(grants)).toBe(0);
    expect(calls.log.filter((c) => c.degraded)).toEqual([]);
    expect(
      errors.filter((c) => !isStoreUnavailable(c.error) && !isWaitTimeout(c.error)).map((c) => String(c.error)),
    ).toEqual([]);
    // calls made through the new clients after the switch never failed
    expect(calls.of("acquire", "promoted").filter((c) => c.status === "error" && !isWaitTimeout(c.error))).toEqual([]);
    await expectNoUnhandled();
  }, 30_000);

  it("6: policy local: while Redis is down each process enforces limit × localShare (degraded), then goes back to Redis", async () => {
    const redis = await server();
    const retry = { maxRetries: 1, baseDelayMs: 20, maxDelayMs: 50, jitter: 0 };
    const commandTimeoutMs = 300;
    const breakerCooldownMs = 300;
    const budget = retryBudgetMs(retry, commandTimeoutMs);
    const windowMs = 1000;
    const common = {
      redis: redis.url,
      model: "local",
      keyPrefix: `l-${randomUUID()}`,
      tpm: 1000,
      rpm: 10,
      windowSeconds: windowMs / 1000,
      onRedisError: "local" as const,
      localShare: 0.5,
      retry,
      commandTimeoutMs,
      breakerCooldownMs,
    };
    const p1 = make(common);
    const p2 = make(common);
    const events: string[] = [];
    for (const p of [p1, p2]) p.on("degraded", (e) => events.push(e.policy));
    for (const p of [p1, p2]) {
      const warm = await p.acquire({ tokens: 1 });
      expect(warm.degraded).toBe(false);
      await p.release(warm.recordId);
    }
    await redis.kill();

    const calls = new Calls();
    calls.phase = "down";
    const bound = budget + 3 * windowMs + 2000;
    // p1: 12 tiny requests (the local rpm binds: 10 × 0.5 = 5 per window); p2: 6 × 200 tokens (local tpm 500: 2 per window)
    const [r1, r2] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, () => calls.run("acquire", bound, () => p1.acquire({ tokens: 10 })))),
      Promise.all(Array.from({ length: 6 }, () => calls.run("acquire", bound, () => p2.acquire({ tokens: 200 })))),
    ]);
    const granted = (rs: CallResult<AcquireResult>[]) => rs.flatMap((r) => (r.status === "ok" ? [r.value] : []));
    const g1 = granted(r1);
    const g2 = granted(r2);
    expect(calls.log.filter((c) => c.status !== "ok").map((c) => `${c.status} ${String(c.error)}`)).toEqual([]);
    for (const r of [...g1, ...g2]) {
      expect(r.degraded).toBe(true);
      expect(r.recordId.startsWith("local:")).toBe(true);
    }
    const asGrants = (rs: AcquireResult[]): Grant[] =>
      rs.map((r) => ({
        seq: seqOf(r.recordId.slice("local:".length)),
        slot: r.slotTime,
        cost: [r.combinedTokens, r.inputTokens, r.outputTokens, 1],
      }));
    const localLimits = [500, 0, 0, 5];
    expect(windowViolations(asGrants(g1), windowMs, localLimits)).toEqual([]);
    expect(windowViolations(asGrants(g2), windowMs, localLimits)).toEqual([]);
    // the share is what binds (not the full limit, not less): the busiest window holds exactly limit × share
    const busiest = (rs: AcquireResult[], pick: (r: AcquireResult) => number) => {
      const sorted = [...rs].sort((a, b) => a.slotTime - b.slotTime);
      let best = 0;
      for (const end of sorted) {
        const sum = sorted
          .filter((r) => r.slotTime > end.slotTime - windowMs && r.slotTime <= end.slotTime)
          .reduce((s, r) => s + pick(r), 0);
        best = Math.max(best, sum);
      }
      return best;
    };
    const busiest1 = busiest(g1, () => 1);
    const busiest2 = busiest(g2, (r) => r.combinedTokens);
    expect(busiest1).toBe(5);
    expect(busiest2).toBe(400);
    const down = await p1.status();
    expect(down.degraded).toBe(true);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((p) => p === "local")).toBe(true);
    // adjust / release of local reservations go to the local limiter
    const latest = (rs: AcquireResult[]) => [...rs].sort((a, b) => b.slotTime - a.slotTime);
    expect((await p2.adjust(latest(g2)[0]!.recordId, { actualInput: 50 })).status).toBe("adjusted");
    expect((await p1.release(latest(g1)[0]!.recordId)).status).toBe("released");

    await redis.restart();
    const restartedAt = performance.now();
    calls.phase = "back";
    let back: AcquireResult | undefined;
    const until = Date.now() + 5000;
    while (!back && Date.now() < until) {
      const r = await calls.run("acquire", budget + 2000, () => p1.acquire({ tokens: 1, maxWaitMs: 0 }));
      if (r.status === "ok" && !r.value.degraded) back = r.value;
      else await sleep(20);
    }
    const recoveryMs = performance.now() - restartedAt;
    expect(back).toBeDefined();
    expect(back?.recordId.startsWith("local:")).toBe(false);
    const s = await p1.status();
    expect(s.degraded).toBe(false);
    expect(s.requestsUsed).toBeGreaterThanOrEqual(1);
    // a local reservation made during the outage still settles locally afterwards (Redis would say "unknown")
    expect(["released", "expired"]).toContain((await p1.release(latest(g1)[1]!.recordId)).status);
    summary.push(
      `fault 6 local policy (share 0.5 of tpm 1000 / rpm 10): busiest local window p1 ${busiest1} requests, ` +
        `p2 ${busiest2} tokens, ${g1.length + g2.length} local grants all degraded; back on Redis ${recoveryMs.toFixed(0)} ms after restart()`,
    );
    expect(recoveryMs).toBeLessThanOrEqual(breakerCooldownMs + 1000);
    expect(calls.hung).toEqual([]);
    await calls.drain(1000);
    expect(calls.pending.size).toBe(0);
    await expectNoUnhandled();
  }, 30_000);
});
