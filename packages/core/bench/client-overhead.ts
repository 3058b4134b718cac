/**
 * What the limiter costs on the Node side, apart from the store: the CPU a process spends per acquire, and how far
 * an uncontended acquire is from a bare PING. Run from the repo root:
 *
 *   node --conditions=llmratelimiter-source --import tsx packages/core/bench/client-overhead.ts [section…] [--redis URL]
 *
 * Sections (all by default):
 * - `fake`: a store that answers at once, so only the limiter is measured (sequential and 256 in flight);
 * - `memory`: the embedded store, 256 in flight;
 * - `ioredis`: PING against EVALSHA of a trivial script with acquire's 13 arguments, through the adapter, so the
 *   adapter's own cost shows next to ioredis';
 * - `redis`: the whole limiter on Redis, one call at a time next to PING and its parts (a limiter whose store only
 *   PINGs, a no-op EVALSHA, RedisStore.acquire; interleaved), and 256 in flight.
 * Every figure is the median of several rounds; the machine is shared, so compare runs made back to back.
 */
import { Redis } from "ioredis";
import {
  type LimiterSpec,
  limiterKeys,
  MAX_TOKENS,
  RateLimiter,
  RedisConnectionManager,
  RedisStore,
  type Store,
  type StoreAcquireArgs,
  type StoreAcquireReply,
  type StoreStatus,
} from "../src/index.js";
import { fmtNum, summarize, throughput } from "./stats.js";

const INFLIGHT = 256;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const args = process.argv.slice(2);
const urlAt = args.indexOf("--redis");
const redisUrl = urlAt >= 0 ? args[urlAt + 1]! : (process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const sections = args.filter((a, i) => !a.startsWith("--") && (urlAt < 0 || i !== urlAt + 1));
const wanted = (name: string) => sections.length === 0 || sections.includes(name);

/** Answers every call at once with a plausible reply: what is left is the limiter's own work. */
class FakeStore implements Store {
  readonly kind = "fake";
  #seq = 0;
  acquire(_spec: LimiterSpec, _args: StoreAcquireArgs): Promise<StoreAcquireReply> {
    const now = Date.now();
    return Promise.resolve({ kind: "reserved", seq: this.#seq++, slot: now, now, queuePosition: 0, waiting: 0 });
  }
  adjust() {
    return Promise.resolve({ status: "adjusted" as const, moved: 0 });
  }
  release() {
    return Promise.resolve({ status: "released" as const, moved: 0 });
  }
  pause(_spec: LimiterSpec, durationMs: number) {
    const now = Date.now();
    return Promise.resolve({ pausedUntil: now + durationMs, now, moved: 0 });
  }
  status(): Promise<StoreStatus> {
    const zero = [0, 0, 0, 0] as const;
    return Promise.resolve({ now: Date.now(), pausedUntil: 0, waiting: 0, used: zero, queued: zero, liveRecords: 0 });
  }
  peek() {
    return Promise.resolve({ status: "unknown" as const, start: 0, now: Date.now() });
  }
  subscriptionEpoch() {
    return 0;
  }
  async subscribe() {
    return async () => {};
  }
  async close() {}
}

/** Answers after one PING: a real round trip without the script, so the limiter's share of the latency shows. */
class PingStore extends FakeStore {
  readonly #redis: Redis;
  constructor(redis: Redis) {
    super();
    this.#redis = redis;
  }
  override async acquire(spec: LimiterSpec, args: StoreAcquireArgs): Promise<StoreAcquireReply> {
    await this.#redis.ping();
    return super.acquire(spec, args);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Node CPU µs per call of `fn`, one call at a time (CPU, not wall time: other processes matter less); median. */
async function sequentialCpuUs(count: number, fn: () => Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.cpuUsage();
    for (let i = 0; i < count; i++) await fn();
    const used = process.cpuUsage(started);
    rounds.push((used.user + used.system) / count);
  }
  return median(rounds);
}

/** Calls per second and Node CPU µs per call with `INFLIGHT` running; median over rounds. */
async function concurrent(durationMs: number, fn: () => Promise<unknown>) {
  const perSecond: number[] = [];
  const cpuUs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = await throughput(durationMs, INFLIGHT, fn);
    perSecond.push(t.perSecond);
    cpuUs.push((t.nodeCpu * t.seconds * 1e6) / t.completed);
  }
  return { perSecond: median(perSecond), cpuUs: median(cpuUs) };
}

/** p50 of each of `fns`, interleaved call by call so all see the same noise. */
async function interleavedP50(samples: number, fns: Record<string, () => Promise<unknown>>) {
  const names = Object.keys(fns);
  const times = new Map(names.map((n) => [n, [] as number[]]));
  for (let i = 0; i < samples + 500; i++) {
    for (const name of names) {
      const started = process.hrtime.bigint();
      await fns[name]!();
      if (i >= 500) times.get(name)!.push(Number(process.hrtime.bigint() - started) / 1000);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(times.get(n)!).p50Us]));
}

const line = (label: string, value: string) => console.log(`${label.padEnd(52)} ${value}`);

async function fakeSection() {
  console.log("# limiter over a store that answers at once");
  const limiter = new RateLimiter({ store: new FakeStore(), model: "fake", tpm: MAX_TOKENS });
  const acquire = () => limiter.acquire({ inputTokens: 10 });
  await sequentialCpuUs(50_000, acquire);
  line("acquire, one at a time", `${fmtNum(await sequentialCpuUs(200_000, acquire), 2)} µs CPU/call`);
  const settle = async () => {
    const r = await limiter.acquire({ inputTokens: 10, outputTokens: 5 });
    await limiter.adjust(r.recordId, { actualInput: 8, actualOutput: 3 });
    await limiter.release(r.recordId);
  };
  line("acquire + adjust + release, one at a time", `${fmtNum(await sequentialCpuUs(100_000, settle), 2)} µs CPU/trio`);
  const c = await concurrent(1000, acquire);
  line(`acquire, ${INFLIGHT} in flight`, `${fmtNum(c.perSecond)} /s, ${fmtNum(c.cpuUs, 2)} µs CPU/call`);
  await limiter.close();
}

async function memorySection() {
  console.log("# limiter over the embedded store");
  const limiter = new RateLimiter({ model: "mem", tpm: MAX_TOKENS, windowSeconds: 60 });
  const acquire = () => limiter.acquire({ inputTokens: 10 });
  await concurrent(500, acquire);
  const c = await concurrent(1000, acquire);
  line(`acquire, ${INFLIGHT} in flight`, `${fmtNum(c.perSecond)} /s, ${fmtNum(c.cpuUs, 2)} µs CPU/call`);
  await limiter.close();
}

const TRIVIAL = "return {1,2,3,4,5,6}";
/** What one acquire sends: the limits, window and scan depth, then token, input, output, combined, bounds, retry. */
const THIRTEEN = [MAX_TOKENS, 0, 0, 0, 60000, 20000, 281474976710655, 10, 0, 10, -1, -1, 0];

async function ioredisSection() {
  console.log("# ioredis: PING against a trivial EVALSHA with 13 arguments");
  const manager = new RedisConnectionManager(redisUrl);
  const client = manager.client;
  try {
    const sha = (await client.script("LOAD", TRIVIAL)) as string;
    const key = ["{bench}:state"];
    const fns = {
      ping: () => client.ping(),
      "client.evalsha": () => client.evalsha(sha, 1, key[0]!, ...THIRTEEN),
      "adapter.evalsha": () => manager.adapter.evalsha(sha, key, THIRTEEN),
    };
    const p50 = await interleavedP50(5000, fns);
    for (const [name, us] of Object.entries(p50)) line(`${name} p50, one at a time`, `${fmtNum(us, 1)} µs`);
    for (const [name, fn] of Object.entries(fns)) {
      await concurrent(300, fn);
      const c = await concurrent(1000, fn);
      line(`${name}, ${INFLIGHT} in flight`, `${fmtNum(c.perSecond)} /s, ${fmtNum(c.cpuUs, 2)} µs CPU/call`);
    }
  } finally {
    await manager.close();
  }
}

async function redisSection() {
  console.log("# limiter over Redis");
  const manager = new RedisConnectionManager(redisUrl);
  const observer = new Redis(redisUrl);
  const prefix = `bench-${process.pid}`;
  try {
    const limiter = new RateLimiter({ redis: manager, model: "m", keyPrefix: prefix, tpm: MAX_TOKENS });
    await limiter.acquire({ inputTokens: 10 });
    // The same script call without the limiter around it, on a key of its own.
    const keys = limiterKeys(prefix, "store", 60_000);
    const spec: LimiterSpec = {
      key: keys.state,
      channel: keys.channel,
      windowMs: 60_000,
      limits: [MAX_TOKENS, 0, 0, 0],
      burndownRate: 1,
    };
    const store = new RedisStore(manager.adapter);
    let token = 1;
    const storeArgs = () => ({
      token: token++,
      input: 10,
      output: 0,
      combined: 10,
      maxWaitMs: -1,
      maxQueue: -1,
      retry: false,
    });
    const sha = (await manager.client.script("LOAD", TRIVIAL)) as string;
    const overPing = new RateLimiter({ store: new PingStore(manager.client), model: "ping", tpm: MAX_TOKENS });
    const p50 = await interleavedP50(5000, {
      PING: () => manager.client.ping(),
      "RateLimiter.acquire over a PING-only store": () => overPing.acquire({ inputTokens: 10 }),
      "no-op EVALSHA, acquire's arguments": () => manager.adapter.evalsha(sha, [spec.key], THIRTEEN),
      "RedisStore.acquire": () => store.acquire(spec, storeArgs()),
      "RateLimiter.acquire": () => limiter.acquire({ inputTokens: 10 }),
    });
    for (const [name, us] of Object.entries(p50)) {
      line(`${name} p50`, `${fmtNum(us, 1)} µs (×${fmtNum(us / p50.PING!, 2)} PING)`);
    }
    await observer.del(limiter.key, spec.key);
    const hot = new RateLimiter({ redis: manager, model: "hot", keyPrefix: prefix, tpm: MAX_TOKENS });
    const acquire = () => hot.acquire({ inputTokens: 10 });
    await concurrent(500, acquire);
    const c = await concurrent(2000, acquire);
    line(`acquire, ${INFLIGHT} in flight`, `${fmtNum(c.perSecond)} /s, ${fmtNum(c.cpuUs, 2)} µs CPU/call`);
    await observer.del(hot.key);
    await limiter.close();
    await hot.close();
    await overPing.close();
  } finally {
    observer.disconnect();
    await manager.close();
  }
}

if (wanted("fake")) await fakeSection();
if (wanted("memory")) await memorySection();
if (wanted("ioredis")) await ioredisSection();
if (wanted("redis")) await redisSection();
