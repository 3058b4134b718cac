import { EventEmitter } from "node:events";
import {
  InvalidArgumentError,
  LimiterClosedError,
  LlmRateLimiterError,
  QueueFullError,
  RequestTooLargeError,
  StoreError,
  StoreUnavailableError,
  WaitTimeoutError,
} from "./errors.js";
import { limiterKeys } from "./keys.js";
import {
  type AcquireRequest,
  type AcquireResult,
  type AdjustResult,
  type AdjustUsage,
  DEFAULT_RETRY,
  type PauseResult,
  type RateLimiterOptions,
  type RateLimitStatus,
  type RedisErrorPolicy,
  type ReleaseResult,
  type RetryOptions,
} from "./options.js";
import { isIoRedisClient, isRedisAdapter, toAdapter } from "./redis/client.js";
import { RedisConnectionManager } from "./redis/connection-manager.js";
import { backoffDelay, isInfrastructureError, isRetryable, sleep, withTimeout } from "./retry.js";
import { MemoryStore } from "./store/memory-store.js";
import { RedisStore } from "./store/redis-store.js";
import { formatRecordId, type LimiterSpec, newToken, parseRecordId, type Quad, type Store } from "./store/store.js";
import {
  type ValidatedOptions,
  validateAcquire,
  validateAdjust,
  validateOptions,
  validatePause,
  validateRecordId,
  validateRedisUrl,
} from "./validate.js";
import { Waiters } from "./waiters.js";

/** Events, for metrics and logs. Each listener gets one object. */
export interface RateLimiterEvents {
  /** A slot was granted (after any wait). */
  acquire: [event: { model: string; result: AcquireResult }];
  /** A request was queued and will sleep until its slot. */
  wait: [event: { model: string; recordId: string; waitMs: number; queuePosition: number }];
  /** A waiting request's slot moved (earlier after a refund, later after a pause). */
  move: [event: { model: string; recordId: string; slotTime: number }];
  adjust: [event: { model: string; result: AdjustResult; usage: AdjustUsage }];
  release: [event: { model: string; result: ReleaseResult }];
  pause: [event: { model: string; durationMs: number; result: PauseResult }];
  /** The store failed after the retries; the `onRedisError` policy was applied. Never silent. */
  degraded: [event: { model: string; operation: string; error: unknown; policy: RedisErrorPolicy }];
  /** A store call failed with a retryable error and is retried after `delayMs`. */
  retry: [event: { model: string; operation: string; attempt: number; delayMs: number; error: unknown }];
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; attempts: number };

const DIMENSIONS = ["tpm", "inputTpm", "outputTpm", "rpm"] as const;

/**
 * One shared, fair, exact budget per model. `acquire` reserves a request's tokens at the earliest FIFO slot that
 * keeps every sliding window within its limits and sleeps until then; `adjust` settles the reservation to the real
 * usage (a refund moves waiting requests up); `release` gives it back; `pause` holds every process after a 429.
 *
 * @example
 * const limiter = new RateLimiter("redis://localhost:6379", "gpt-4o", { tpm: 100_000, rpm: 100 });
 * const r = await limiter.acquire({ inputTokens: 3000, outputTokens: 2000 });
 * // … call the model …
 * await limiter.adjust(r.recordId, { actualInput: 2950, actualOutput: 1500 });
 */
export class RateLimiter extends EventEmitter<RateLimiterEvents> {
  readonly model: string;
  readonly windowSeconds: number;
  readonly #options: ValidatedOptions;
  readonly #retry: Required<RetryOptions>;
  readonly #spec: LimiterSpec;
  readonly #store: Store;
  readonly #ownsStore: boolean;
  readonly #waiters: Waiters;
  readonly #aborts = new Map<string, () => void>();
  #subscription: Promise<(() => Promise<void>) | undefined> | undefined;
  /** The subscription is open: acquires go straight to the store instead of awaiting it again. */
  #subscribed = false;
  #breakerUntil = 0;
  /** The embedded fallback of policy "local", made on first use. */
  #local: RateLimiter | undefined;
  #subscribeRetryAt = 0;
  #closed = false;

  constructor(options: RateLimiterOptions);
  constructor(redis: string, model: string, options: Omit<RateLimiterOptions, "redis" | "model">);
  constructor(
    redisOrOptions: string | RateLimiterOptions,
    model?: string,
    rest?: Omit<RateLimiterOptions, "redis" | "model">,
  ) {
    super();
    const options: RateLimiterOptions =
      typeof redisOrOptions === "string"
        ? { ...(rest ?? {}), redis: redisOrOptions, model: model as string }
        : redisOrOptions;
    const v = validateOptions(options);
    this.#options = v;
    this.model = v.model;
    this.windowSeconds = v.windowMs / 1000;

    const limits = DIMENSIONS.map((name) => {
      const limit = v.limits[name];
      if (limit === undefined) return 0;
      const scaled = Math.floor(limit * v.burstMultiplier);
      if (scaled < 1) {
        throw new InvalidArgumentError(
          "burstMultiplier",
          `a multiplier that leaves \`${name}\` at least 1`,
          v.burstMultiplier,
        );
      }
      return scaled;
    }) as unknown as Quad;
    const keys = limiterKeys(v.keyPrefix, v.model, v.windowMs);
    // The store counts every reservation for the window plus the margin: a slightly longer window, so stricter.
    this.#spec = {
      key: keys.state,
      channel: keys.channel,
      windowMs: v.windowMs + v.windowMarginMs,
      limits,
      burndownRate: v.burndownRate,
    };

    const { store, owned, retry } = openStore(options);
    this.#store = store;
    this.#ownsStore = owned;
    this.#retry = v.retry ?? (retry ? { ...DEFAULT_RETRY, ...retry } : DEFAULT_RETRY);
    this.#waiters = new Waiters((recordId, slot) => this.emit("move", { model: this.model, recordId, slotTime: slot }));
  }

  /** The limits in force per window, burst multiplier applied (null = not enforced). */
  get limits(): { tpm: number | null; inputTpm: number | null; outputTpm: number | null; rpm: number | null } {
    const [tpm, inputTpm, outputTpm, rpm] = this.#spec.limits.map((l) => (l > 0 ? l : null));
    return { tpm: tpm ?? null, inputTpm: inputTpm ?? null, outputTpm: outputTpm ?? null, rpm: rpm ?? null };
  }

  /** The Redis key holding this limiter's state (all of it: one key). */
  get key(): string {
    return this.#spec.key;
  }

  /** Weighted combined cost of a request: `ceil(input + burndownRate × output)`. */
  combinedCost(inputTokens: number, outputTokens: number): number {
    return Math.ceil(inputTokens + this.#spec.burndownRate * outputTokens);
  }

  /**
   * Reserves the request's tokens and resolves at its slot. Throws `RequestTooLargeError` when it can never fit,
   * `WaitTimeoutError` when the slot is further than `maxWaitMs`, `QueueFullError` past `maxQueueDepth`; rejects
   * with `signal.reason` (and releases the reservation) when aborted while waiting.
   */
  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    this.#assertOpen();
    const { input, output } = validateAcquire(request);
    const combined = this.combinedCost(input, output);
    this.#assertFits([combined, input, output, 1]);
    const signal = request.signal;
    signal?.throwIfAborted();
    const maxWaitMs = request.maxWaitMs ?? this.#options.maxWaitMs;

    // Be listening before the store can move this request, so no notice is missed (the store stays correct even
    // if one is: a waiter that starts at its old slot is still counted).
    const subscribing = this.#subscribe();
    if (subscribing) await subscribing;
    const token = newToken();
    const outcome = await this.#call("acquire", (attempt) =>
      this.#store.acquire(this.#spec, {
        token,
        input,
        output,
        combined,
        maxWaitMs: maxWaitMs === undefined ? -1 : Math.floor(maxWaitMs),
        maxQueue: this.#options.maxQueueDepth ?? -1,
        retry: attempt > 0,
      }),
    );
    if (!outcome.ok) {
      this.#degrade("acquire", outcome);
      if (this.#options.onRedisError === "local") return this.#acquireLocally(input, output, request);
      const result: AcquireResult = {
        recordId: `degraded:${token}`,
        slotTime: Date.now(),
        waitMs: 0,
        queuePosition: 0,
        degraded: true,
        inputTokens: input,
        outputTokens: output,
        combinedTokens: combined,
      };
      this.emit("acquire", { model: this.model, result });
      return result;
    }
    const reply = outcome.value;
    if (reply.kind === "timeout") throw new WaitTimeoutError(reply.slot - reply.now, maxWaitMs ?? -1, reply.waiting);
    if (reply.kind === "queue-full") {
      throw new QueueFullError(reply.waiting, this.#options.maxQueueDepth ?? -1, reply.slot - reply.now);
    }

    const recordId = formatRecordId(reply.seq, token);
    let slot = reply.slot;
    let waitMs = 0;
    if (reply.slot > reply.now) {
      this.emit("wait", {
        model: this.model,
        recordId,
        waitMs: reply.slot - reply.now,
        queuePosition: reply.queuePosition,
      });
      const started = performance.now();
      slot = await this.#sleepUntilSlot(recordId, reply.slot, reply.slot - reply.now, signal);
      waitMs = Math.round(performance.now() - started);
    } else if (signal?.aborted) {
      await this.release(recordId).catch(() => {});
      throw signal.reason;
    }
    const result: AcquireResult = {
      recordId,
      slotTime: slot,
      waitMs,
      queuePosition: reply.queuePosition,
      degraded: false,
      inputTokens: input,
      outputTokens: output,
      combinedTokens: combined,
    };
    this.emit("acquire", { model: this.model, result });
    return result;
  }

  /**
   * Like `acquire`, but never waits: resolves to the reservation when it can start now, or to `null` (reserving
   * nothing) when it would have to wait.
   */
  async tryAcquire(request: Omit<AcquireRequest, "maxWaitMs" | "signal">): Promise<AcquireResult | null> {
    try {
      return await this.acquire({ ...request, maxWaitMs: 0 });
    } catch (error) {
      if (error instanceof WaitTimeoutError || error instanceof QueueFullError) return null;
      throw error;
    }
  }

  /** Sets the reservation's true usage (absolute values). Idempotent; refunds reach waiting requests at once. */
  async adjust(recordId: string, usage: AdjustUsage): Promise<AdjustResult> {
    this.#assertOpen();
    validateAdjust(recordId, usage);
    const result = await this.#settle(
      "adjust",
      recordId,
      (seq, token) => this.#store.adjust(this.#spec, seq, token, usage.actualInput ?? -1, usage.actualOutput ?? -1),
      (local, id) => local.adjust(id, usage),
    );
    this.emit("adjust", { model: this.model, result, usage });
    return result;
  }

  /** Frees the whole reservation (the call never reached the provider). Idempotent. */
  async release(recordId: string): Promise<ReleaseResult> {
    validateRecordId("release.recordId", recordId);
    if (this.#closed) throw new LimiterClosedError();
    const result: ReleaseResult = await this.#settle(
      "release",
      recordId,
      (seq, token) => this.#store.release(this.#spec, seq, token),
      (local, id) => local.release(id),
    );
    this.emit("release", { model: this.model, result });
    return result;
  }

  /** The provider said 429: no slot starts before now + `durationMs` in any process sharing this limiter. */
  async pause(durationMs: number): Promise<PauseResult> {
    this.#assertOpen();
    const ms = validatePause(durationMs);
    const outcome = await this.#call("pause", () => this.#store.pause(this.#spec, ms));
    let result: PauseResult;
    if (outcome.ok) {
      result = { pausedUntil: outcome.value.pausedUntil, degraded: false };
    } else {
      this.#degrade("pause", outcome);
      const local = this.#options.onRedisError === "local" ? await this.#localLimiter().pause(ms) : undefined;
      result = { pausedUntil: local?.pausedUntil ?? Date.now() + ms, degraded: true };
    }
    this.emit("pause", { model: this.model, durationMs: ms, result });
    return result;
  }

  /** Usage in the window that ends now, the queue, and the pause, as the store sees them. */
  async status(): Promise<RateLimitStatus> {
    this.#assertOpen();
    const outcome = await this.#call("status", () => this.#store.status(this.#spec));
    const [tpm, inputTpm, outputTpm, rpm] = this.#spec.limits.map((l) => (l > 0 ? l : null));
    const base = {
      model: this.model,
      windowSeconds: this.windowSeconds,
      tokensLimit: tpm ?? null,
      inputTokensLimit: inputTpm ?? null,
      outputTokensLimit: outputTpm ?? null,
      requestsLimit: rpm ?? null,
    };
    if (!outcome.ok) {
      this.#degrade("status", outcome);
      if (this.#options.onRedisError === "local") return { ...(await this.#localLimiter().status()), degraded: true };
      return {
        ...base,
        tokensUsed: 0,
        inputTokensUsed: 0,
        outputTokensUsed: 0,
        requestsUsed: 0,
        queueDepth: 0,
        queuedTokens: 0,
        pausedUntil: null,
        degraded: true,
      };
    }
    const s = outcome.value;
    return {
      ...base,
      tokensUsed: s.used[0],
      inputTokensUsed: s.used[1],
      outputTokensUsed: s.used[2],
      requestsUsed: s.used[3],
      queueDepth: s.waiting,
      queuedTokens: s.queued[0],
      pausedUntil: s.pausedUntil > 0 ? s.pausedUntil : null,
      degraded: false,
    };
  }

  /**
   * Rejects pending waits with `LimiterClosedError` (releasing their reservations), unsubscribes, and closes what
   * the limiter created — never a client, manager or store it was given.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    const pending = this.#waiters.ids();
    for (const id of pending) {
      this.#waiters.cancel(id);
      this.#aborts.get(id)?.();
    }
    // Their calls will never run: give the capacity back to other processes before letting go of the store.
    await Promise.allSettled(pending.map((id) => this.release(id)));
    this.#closed = true;
    const unsubscribe = await this.#subscription?.catch(() => undefined);
    await unsubscribe?.().catch(() => {});
    if (this.#ownsStore) await this.#store.close();
    await this.#local?.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new LimiterClosedError();
  }

  #assertFits(cost: Quad): void {
    const limits = this.#spec.limits;
    for (let d = 0; d < 4; d++) {
      const limit = limits[d]!;
      if (limit > 0 && cost[d]! > limit) throw new RequestTooLargeError(DIMENSIONS[d]!, limit, cost[d]!);
    }
  }

  async #sleepUntilSlot(recordId: string, slot: number, delayMs: number, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) {
      await this.release(recordId).catch(() => {});
      throw signal.reason;
    }
    const epoch = this.#store.subscriptionEpoch();
    const waiting = this.#waiters
      .wait(recordId, slot, delayMs)
      .then((finalSlot) => this.#confirm(recordId, finalSlot, epoch));
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.cancel(recordId);
        this.#aborts.delete(recordId);
        // Free the reservation before rejecting, so the caller's next status() already sees it gone.
        void this.release(recordId)
          .catch(() => {})
          .finally(() => reject(signal?.reason ?? new LimiterClosedError()));
      };
      const cleanup = () => {
        signal?.removeEventListener("abort", onAbort);
        this.#aborts.delete(recordId);
      };
      this.#aborts.set(recordId, () => {
        cleanup();
        reject(new LimiterClosedError());
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      waiting.then((finalSlot) => {
        cleanup();
        resolve(finalSlot);
      });
    });
  }

  /**
   * A waiter whose subscriber reconnected while it slept may have missed a move: before starting, it asks the
   * store for its current start and, if that is later (a pause), sleeps on. One extra call, only after a reconnect.
   */
  async #confirm(recordId: string, slot: number, epoch: number): Promise<number> {
    if (this.#store.subscriptionEpoch() === epoch) return slot;
    const parsed = parseRecordId(recordId);
    if (!parsed) return slot;
    // One attempt, no retries: if the store is down the waiter starts at its slot (never early) without delay.
    const peeked = await withTimeout(
      this.#store.peek(this.#spec, parsed.seq, parsed.token),
      this.#options.commandTimeoutMs,
    ).catch(() => undefined);
    if (peeked?.status !== "found" || peeked.start <= peeked.now) return slot;
    const { start, now } = peeked;
    return this.#waiters
      .wait(recordId, start, start - now)
      .then((finalSlot) => this.#confirm(recordId, finalSlot, this.#store.subscriptionEpoch()));
  }

  /**
   * One subscription per limiter, opened by the first acquire. Bounded by the command timeout: a subscriber that
   * cannot connect must not hold up admissions (the next acquire tries again).
   */
  #subscribe(): Promise<unknown> | undefined {
    if (this.#subscribed || (!this.#subscription && Date.now() < this.#subscribeRetryAt)) return undefined;
    this.#subscription ??= withTimeout(
      this.#store.subscribe(this.#spec, (notice) => this.#waiters.apply(notice)),
      this.#options.commandTimeoutMs,
    ).then(
      (unsubscribe) => {
        this.#subscribed = true;
        return unsubscribe;
      },
      (error: unknown) => {
        // Without notices waiters still start at their original slots: later than possible, never too early.
        this.#subscription = undefined;
        this.#subscribeRetryAt = Date.now() + Math.max(this.#options.breakerCooldownMs, 1000);
        this.emit("degraded", { model: this.model, operation: "subscribe", error, policy: this.#options.onRedisError });
        return undefined;
      },
    );
    return this.#subscription;
  }

  async #settle<S extends string>(
    operation: "adjust" | "release",
    recordId: string,
    run: (seq: number, token: number) => Promise<{ status: S; moved: number }>,
    runLocal: (local: RateLimiter, id: string) => Promise<{ status: S | "degraded" | "unknown"; movedWaiters: number }>,
  ): Promise<{ recordId: string; status: S | "degraded" | "unknown"; movedWaiters: number }> {
    if (recordId.startsWith("degraded:")) return { recordId, status: "degraded", movedWaiters: 0 };
    if (recordId.startsWith("local:")) {
      const r = await runLocal(this.#localLimiter(), recordId.slice("local:".length));
      return { ...r, recordId };
    }
    const parsed = parseRecordId(recordId);
    if (!parsed) return { recordId, status: "unknown", movedWaiters: 0 };
    const outcome = await this.#call(operation, () => run(parsed.seq, parsed.token));
    if (!outcome.ok) {
      this.#degrade(operation, outcome);
      return { recordId, status: "degraded", movedWaiters: 0 };
    }
    return { recordId, status: outcome.value.status, movedWaiters: outcome.value.moved };
  }

  /**
   * Runs one store operation with the timeout and retry budget. Only connection errors and timeouts are retried;
   * `attempt` lets acquire mark resends so the store deduplicates them. Returns the last error once the budget
   * is spent on an infrastructure failure; anything else (a script error, a foreign key) is thrown as StoreError.
   */
  async #call<T>(operation: string, run: (attempt: number) => Promise<T>): Promise<Outcome<T>> {
    const retries = this.#breakerUntil > 0 && Date.now() < this.#breakerUntil ? 0 : this.#retry.maxRetries;
    let lastError: unknown;
    let attempts = 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      attempts++;
      try {
        const value = await withTimeout(run(attempt), this.#options.commandTimeoutMs);
        this.#breakerUntil = 0;
        return { ok: true, value };
      } catch (error) {
        if (LlmRateLimiterError.isInstance(error)) throw error;
        lastError = error;
        if (!isRetryable(error) || attempt === retries) break;
        const delayMs = backoffDelay(attempt, this.#retry);
        this.emit("retry", { model: this.model, operation, attempt: attempt + 1, delayMs, error });
        await sleep(delayMs);
      }
    }
    if (!isInfrastructureError(lastError)) {
      throw new StoreError(operation, lastError instanceof Error ? lastError.message : String(lastError), lastError);
    }
    this.#breakerUntil = Date.now() + this.#options.breakerCooldownMs;
    return { ok: false, error: lastError, attempts };
  }

  /**
   * Policy "local": the request goes through an embedded limiter holding `localShare` of each limit. A request
   * larger than that share is scaled down to take the whole local window rather than being refused.
   */
  async #acquireLocally(input: number, output: number, request: AcquireRequest): Promise<AcquireResult> {
    const local = this.#localLimiter();
    const caps = local.limits;
    const combined = local.combinedCost(input, output);
    const over = Math.max(
      1,
      caps.tpm ? combined / caps.tpm : 0,
      caps.inputTpm ? input / caps.inputTpm : 0,
      caps.outputTpm ? output / caps.outputTpm : 0,
    );
    const r = await local.acquire({
      inputTokens: Math.floor(input / over),
      outputTokens: Math.floor(output / over),
      signal: request.signal,
      maxWaitMs: request.maxWaitMs ?? this.#options.maxWaitMs,
    });
    const result: AcquireResult = {
      ...r,
      recordId: `local:${r.recordId}`,
      degraded: true,
      inputTokens: input,
      outputTokens: output,
      combinedTokens: this.combinedCost(input, output),
    };
    this.emit("acquire", { model: this.model, result });
    return result;
  }

  #localLimiter(): RateLimiter {
    if (!this.#local) {
      const share = this.#options.localShare;
      const scaled = this.#spec.limits.map((l) => (l > 0 ? Math.max(1, Math.floor(l * share)) : undefined));
      const [tpm, inputTpm, outputTpm, rpm] = scaled;
      this.#local = new RateLimiter({
        model: this.model,
        windowSeconds: this.windowSeconds,
        windowMarginMs: this.#options.windowMarginMs,
        burndownRate: this.#spec.burndownRate,
        ...(tpm === undefined ? {} : { tpm }),
        ...(inputTpm === undefined ? {} : { inputTpm }),
        ...(outputTpm === undefined ? {} : { outputTpm }),
        ...(rpm === undefined ? {} : { rpm }),
      });
    }
    return this.#local;
  }

  #degrade(operation: string, outcome: { error: unknown; attempts: number }): void {
    const policy = this.#options.onRedisError;
    this.emit("degraded", { model: this.model, operation, error: outcome.error, policy });
    if (policy === "deny") throw new StoreUnavailableError(operation, outcome.attempts, outcome.error);
  }
}

function openStore(options: RateLimiterOptions): { store: Store; owned: boolean; retry?: RetryOptions | undefined } {
  if (options.store !== undefined) return { store: options.store, owned: false };
  const redis = options.redis;
  if (redis === undefined || redis === "memory://") return { store: new MemoryStore(), owned: true };
  if (typeof redis === "string") {
    validateRedisUrl("redis", redis);
    const manager = new RedisConnectionManager(redis);
    return { store: new RedisStore(manager.adapter, () => manager.close()), owned: true };
  }
  if (redis instanceof RedisConnectionManager) {
    return { store: new RedisStore(redis.adapter), owned: false, retry: redis.retry };
  }
  if (isRedisAdapter(redis)) return { store: new RedisStore(redis), owned: false };
  if (isIoRedisClient(redis)) {
    // The adapter only opens a subscriber connection of its own; the given client is never closed.
    const adapter = toAdapter(redis);
    return { store: new RedisStore(adapter, () => adapter.close()), owned: true };
  }
  validateRedisUrl("redis", redis);
  throw new StoreError("constructor", "unreachable");
}
