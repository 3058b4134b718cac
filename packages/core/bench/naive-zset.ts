/**
 * The NAIVE REFERENCE: the original Python library's algorithm (docs original.md §2), made as fair as it can be
 * without changing its shape, so the benchmark measures the O(n) design and not its incidental defects.
 *
 * Kept from the original: one sorted set per model, one member per reservation scored by its slot; one Lua script per
 * acquire that removes expired members, reads the WHOLE window with ZRANGE … WITHSCORES and sums it, places the
 * request after the latest reservation (FIFO) or, when over a limit, after enough of the oldest ones have left the
 * window; the caller sleeps until the slot (one call, no re-check).
 * Modernised (all in its favour): Redis TIME instead of the client clock, EVALSHA (EVAL only after NOSCRIPT),
 * integer ms instead of float seconds, compact "token:input:output:combined" members parsed with string.match instead
 * of ~215-byte JSON through cjson, no redundant sort, no 1 ms spacing, TTL that outlives the queue.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

export const NAIVE_ACQUIRE_LUA = `
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = { tonumber(ARGV[4]), tonumber(ARGV[2]), tonumber(ARGV[3]), 1 }
local limits = { tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]) }
local W = tonumber(ARGV[9])

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - W)
local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local sums = { 0, 0, 0, 0 }
local recs = {}
local last = now
for i = 1, #all, 2 do
  local _, inp, out, comb = string.match(all[i], '^(%d+):(%d+):(%d+):(%d+)$')
  local c = { tonumber(comb), tonumber(inp), tonumber(out), 1 }
  local s = tonumber(all[i + 1])
  recs[#recs + 1] = { s, c }
  for d = 1, 4 do sums[d] = sums[d] + c[d] end
  if s > last then last = s end
end

local function over()
  for d = 1, 4 do
    if limits[d] > 0 and sums[d] + cost[d] > limits[d] then return true end
  end
  return false
end

-- FIFO: never before the latest reservation; when over a limit, late enough that the oldest reservations have left.
local slot = last
local k = 1
while over() do
  local r = recs[k]
  if r == nil then return redis.error_reply('NAIVE_TOO_LARGE request exceeds a limit on its own') end
  for d = 1, 4 do sums[d] = sums[d] - r[2][d] end
  if r[1] + W > slot then slot = r[1] + W end
  k = k + 1
end

redis.call('ZADD', key, slot, ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('PEXPIRE', key, slot - now + W + 1000)
return { slot, now }
`;

const SHA = createHash("sha1").update(NAIVE_ACQUIRE_LUA).digest("hex");

export interface NaiveLimits {
  tpm?: number;
  inputTpm?: number;
  outputTpm?: number;
  rpm?: number;
  windowMs: number;
}

export interface NaiveAcquireResult {
  slot: number;
  waitMs: number;
}

export class NaiveZsetLimiter {
  readonly key: string;
  readonly #redis: Redis;
  readonly #limits: readonly [number, number, number, number];
  readonly #windowMs: number;

  constructor(redis: Redis, key: string, limits: NaiveLimits) {
    this.#redis = redis;
    this.key = key;
    this.#limits = [limits.tpm ?? 0, limits.inputTpm ?? 0, limits.outputTpm ?? 0, limits.rpm ?? 0];
    this.#windowMs = limits.windowMs;
  }

  /** Reserves and sleeps until the slot: exactly one Redis call, waiting or not. */
  async acquire(request: { inputTokens: number; outputTokens?: number }): Promise<NaiveAcquireResult> {
    const input = request.inputTokens;
    const output = request.outputTokens ?? 0;
    const token = randomBytes(6).readUIntBE(0, 6);
    const args = [token, input, output, input + output, ...this.#limits, this.#windowMs];
    let reply: unknown;
    try {
      reply = await this.#redis.evalsha(SHA, 1, this.key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      reply = await this.#redis.eval(NAIVE_ACQUIRE_LUA, 1, this.key, ...args);
    }
    const [slot, now] = (reply as [number, number]).map(Number) as [number, number];
    const waitMs = Math.max(0, slot - now);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    return { slot, waitMs };
  }

  /**
   * Writes `count` reservations straight into the set (ZADD in batches), spread over the last `spreadMs`, so that a
   * benchmark can start from n reservations in the window without paying the O(n²) of n acquires.
   */
  async prefill(count: number, cost: number, spreadMs: number): Promise<void> {
    const time = await this.#redis.time();
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const batch = 1000;
    for (let start = 0; start < count; start += batch) {
      const args: (string | number)[] = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const token = randomBytes(6).readUIntBE(0, 6);
        args.push(now - spreadMs + Math.floor((i * spreadMs) / count), `${token}:${cost}:0:${cost}`);
      }
      await this.#redis.zadd(this.key, ...args);
    }
    await this.#redis.pexpire(this.key, this.#windowMs + 1000);
  }
}
