/**
 * Key isolation, as properties over arbitrary prefixes and model names (braces, colons, globs, spaces, unicode,
 * lone surrogates, very long strings): names never collide, every key has exactly one Cluster hash tag shared by
 * the state key and the channel, and on a real Redis a limiter touches nothing outside its tag while the Lua
 * source stays constant (data only travels in KEYS/ARGV).
 */
import { escapeKeyPart, limiterKeys, RateLimiter, SCRIPTS } from "@llmratelimiter/core";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "./harness/cluster.js";
import { type RedisServer, startRedisServer } from "./harness/redis-server.js";

const unit = fc.oneof(
  fc.constantFrom("{", "}", "{}", ":", "*", "?", "[", "]", "^", " ", "%", "%00", "\\", "\n", "\0", "-", "_", ".", "a"),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const name = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit, minLength: 1, maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit, minLength: 500, maxLength: 3000 }) },
);
const windowMs = fc.oneof(fc.constantFrom(1, 500, 60_000), fc.integer({ min: 1, max: 86_400_000 }));
const triple = fc.tuple(name, name, windowMs);

/** Inverse of escapeKeyPart: proves it loses nothing (so distinct parts stay distinct). */
function unescapeKeyPart(escaped: string): string {
  return escaped.replace(/%([0-9a-f]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** Redis Cluster's rule: the tag is between the first `{` and the first `}` after it, if non-empty. */
function hashTagOf(key: string): string | undefined {
  const open = key.indexOf("{");
  if (open < 0) return undefined;
  const close = key.indexOf("}", open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

const count = (s: string, ch: string) => s.split(ch).length - 1;

/** MONITOR prints arguments C-escaped byte by byte (sdscatrepr); ioredis hands them over as printed. */
function unquoteMonitorArg(arg: string): string {
  const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", a: "\x07", b: "\b" };
  const bytes = arg.replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) =>
    e.length === 3 ? String.fromCharCode(Number.parseInt(e.slice(1), 16)) : (simple[e] ?? e),
  );
  return Buffer.from(bytes, "latin1").toString("utf8");
}

describe("limiterKeys (pure)", () => {
  it("escapeKeyPart is reversible and emits only [A-Za-z0-9_.%-]", () => {
    fc.assert(
      fc.property(name, (s) => {
        const e = escapeKeyPart(s);
        expect(e).toMatch(/^[A-Za-z0-9_.%-]*$/);
        expect(unescapeKeyPart(e)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it("every key carries exactly one hash tag, shared by state and channel, without braces inside", () => {
    fc.assert(
      fc.property(triple, ([prefix, model, w]) => {
        const k = limiterKeys(prefix, model, w);
        for (const key of [k.state, k.channel]) {
          expect(count(key, "{")).toBe(1);
          expect(count(key, "}")).toBe(1);
          expect(key.startsWith(`{${k.tag}}`)).toBe(true);
          expect(hashTagOf(key)).toBe(k.tag);
        }
        expect(k.tag).not.toMatch(/[{}]/);
        expect(k.tag.length).toBeGreaterThan(0);
        expect(k.state).not.toBe(k.channel);
      }),
      { numRuns: 500 },
    );
  });

  it("distinct (prefix, model, window) never share a key, a channel or a tag", () => {
    const distinct = fc.tuple(triple, triple).filter(([a, b]) => a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2]);
    // Near misses too: the same characters split differently between prefix and model ("a:b"+"c" vs "a"+"b:c").
    const resplit = fc
      .tuple(fc.string({ unit, minLength: 2, maxLength: 12 }), fc.nat(), fc.nat(), windowMs)
      .map(([s, i, j, w]) => {
        const a = 1 + (i % (s.length - 1));
        const b = 1 + (j % (s.length - 1));
        return [
          [s.slice(0, a), s.slice(a), w],
          [s.slice(0, b), s.slice(b), w],
        ] as const;
      })
      .filter(([a, b]) => a[0] !== b[0]);
    fc.assert(
      fc.property(fc.oneof(distinct, resplit), ([a, b]) => {
        const ka = limiterKeys(a[0], a[1], a[2]);
        const kb = limiterKeys(b[0], b[1], b[2]);
        expect(ka.tag).not.toBe(kb.tag);
        expect(ka.state).not.toBe(kb.state);
        expect(ka.channel).not.toBe(kb.channel);
        // and one limiter's channel is never another's key
        expect(ka.channel).not.toBe(kb.state);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("on a real Redis", () => {
  // A server of our own: KEYS/MONITOR must not see other test files' traffic.
  let server: RedisServer;
  let client: Redis;
  let admin: Redis;
  let monitor: Awaited<ReturnType<Redis["monitor"]>>;
  const commands: { args: string[]; source: string }[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.url);
    admin = new Redis(server.url);
    monitor = await new Redis(server.url).monitor();
    monitor.on("monitor", (_time: string, args: string[], source: string) => commands.push({ args, source }));
  });
  afterAll(async () => {
    monitor?.disconnect();
    client?.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  async function allKeys(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await admin.scan(cursor, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    return keys.sort();
  }

  it("limiters with random weird names touch only their own key and channel, with constant scripts", async () => {
    const shas = Object.values(SCRIPTS).map((s) => s.sha);
    const sources = new Set(Object.values(SCRIPTS).map((s) => s.source));
    const expectedKeys = new Set<string>();
    const expectedChannels = new Set<string>();
    const marker = `marker-${Date.now()}`;

    await fc.assert(
      fc.asyncProperty(name, name, async (prefix, model) => {
        const limiter = new RateLimiter({ redis: client, keyPrefix: prefix, model, tpm: 100, windowSeconds: 2 });
        const keys = limiterKeys(prefix, model, 2000);
        expectedKeys.add(keys.state);
        expectedChannels.add(keys.channel);
        try {
          const a = await limiter.acquire({ inputTokens: 30, outputTokens: 70 });
          // a waiter, moved by the refund below: exercises SUBSCRIBE and the script's PUBLISH
          const waiting = limiter.acquire({ tokens: 50 });
          await until(async () => (await limiter.status()).queueDepth === 1);
          await limiter.adjust(a.recordId, { actualOutput: 0 });
          const b = await waiting;
          await limiter.release(b.recordId);
          await limiter.pause(1);
          await limiter.status();
          expect(limiter.key).toBe(keys.state);
        } finally {
          await limiter.close();
        }
        // Nothing but the limiters' state keys exists (plus the marker set before the run).
        const present = await allKeys();
        expect(present.filter((k) => k !== marker && !expectedKeys.has(k))).toEqual([]);
        expect(present).toContain(keys.state);
      }),
      { numRuns: 40 },
    );
    await admin.set(marker, "1");

    // What the server ran: every script call is one of ours by sha or by source, with exactly one key; every
    // command the scripts ran names that key (or the limiter's channel).
    await until(async () => commands.some((c) => c.args[0]?.toLowerCase() === "set" && c.args[1] === marker));
    const scriptCalls = commands.filter((c) => /^(evalsha|eval)$/i.test(c.args[0] ?? ""));
    expect(scriptCalls.length).toBeGreaterThan(40 * 6);
    for (const c of scriptCalls) {
      const [command, body, numkeys, key] = c.args;
      if (/^evalsha$/i.test(command!)) expect(shas).toContain(body);
      else expect(sources.has(unquoteMonitorArg(body!))).toBe(true);
      expect(numkeys).toBe("1");
      expect(expectedKeys.has(key!)).toBe(true);
    }
    const fromLua = commands.filter((c) => c.source.includes("lua"));
    expect(fromLua.length).toBeGreaterThan(0);
    for (const c of fromLua) {
      const command = c.args[0]!.toLowerCase();
      if (command === "time") continue;
      if (command === "publish") expect(expectedChannels.has(c.args[1]!)).toBe(true);
      else expect(expectedKeys.has(c.args[1]!), `${command} ${c.args[1]}`).toBe(true);
    }
    expect(fromLua.some((c) => c.args[0]!.toLowerCase() === "publish")).toBe(true);
    const subscribed = commands.filter((c) => /^subscribe$/i.test(c.args[0] ?? "")).flatMap((c) => c.args.slice(1));
    for (const channel of subscribed) expect(expectedChannels.has(channel)).toBe(true);
    // No input ever made a new script: the server caches only ours (peek runs only after a subscriber reconnect).
    const info = await admin.info("memory");
    expect(Number(/number_of_cached_scripts:(\d+)/.exec(info)?.[1])).toBeLessThanOrEqual(shas.length);
    const used = Object.values(SCRIPTS)
      .filter((s) => s.name !== "peek")
      .map((s) => s.sha);
    expect(await admin.script("EXISTS", ...used)).toEqual(used.map(() => 1));
  });
});
