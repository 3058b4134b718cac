import { Redis, type RedisOptions } from "ioredis";
import type { RetryOptions } from "../options.js";
import { isAuthError } from "../retry.js";
import { validateRedisUrl, validateRetry } from "../validate.js";
import { ioredisAdapter, type RedisAdapter } from "./client.js";

export interface RedisConnectionManagerOptions {
  /** Backoff used by every limiter built on this manager. */
  retry?: RetryOptions;
  /** Extra ioredis options (TLS, username/password, db, …); they override the URL's. */
  redisOptions?: RedisOptions;
}

/**
 * Owns one ioredis connection (plus a subscriber opened on demand) built from a URL, with options tuned for a rate
 * limiter: fail fast while disconnected (the limiter retries with backoff and applies its policy) and reconnect
 * quickly once Redis is back. Share one manager between many limiters; `close()` it when done.
 */
export class RedisConnectionManager {
  readonly client: Redis;
  readonly adapter: RedisAdapter;
  readonly retry: RetryOptions | undefined;
  #closed = false;

  constructor(url: string, options: RedisConnectionManagerOptions = {}) {
    validateRedisUrl("redis", url);
    if (options.retry !== undefined) validateRetry(options.retry);
    this.retry = options.retry;
    // ioredis reports why a connection failed only as an 'error' event; the command itself fails with a generic
    // "max retries per request". Keep the last cause so callers see "certificate…" or "WRONGPASS…", and back off
    // reconnects after errors that reconnecting cannot fix.
    let lastError: Error | undefined;
    this.client = new Redis(url, {
      // The limiter has its own retry budget and failure policy: a command must not wait in ioredis' offline queue
      // for minutes, and a dead server must not be retried 20 times per command.
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: 2000,
      // Reconnect fast: normal operation resumes within ~0.5 s of Redis coming back.
      // After a wrong password or an untrusted certificate, keep trying (the operator may fix it) but every 5 s.
      retryStrategy: (times) => (lastError && isAuthError(lastError) && times > 1 ? 5000 : Math.min(50 * times, 500)),
      // A wrong password will not become right by retrying.
      reconnectOnError: () => false,
      lazyConnect: false,
      ...options.redisOptions,
    });
    // Connection errors surface through the calls that hit them (and the limiter's `degraded` event).
    this.client.on("error", (error: Error) => {
      lastError = error;
    });
    this.client.on("ready", () => {
      lastError = undefined;
    });
    const adapter = ioredisAdapter(this.client);
    const withCause = (error: unknown): unknown => {
      if (!(error instanceof Error) || error.name !== "MaxRetriesPerRequestError" || !lastError) return error;
      const wrapped = new Error(`${lastError.message} (${error.message})`, { cause: lastError });
      Object.assign(wrapped, { code: (lastError as NodeJS.ErrnoException).code });
      return wrapped;
    };
    // While the last failure is one reconnecting cannot fix, fail at once instead of queueing for the next attempt.
    const guard = <T>(run: () => Promise<T>): Promise<T> =>
      lastError && isAuthError(lastError) && this.client.status !== "ready"
        ? Promise.reject(withCause(Object.assign(new Error("not connected"), { name: "MaxRetriesPerRequestError" })))
        : run().catch((e) => Promise.reject(withCause(e)));
    this.adapter = {
      ...adapter,
      evalsha: (sha, keys, args) => guard(() => adapter.evalsha(sha, keys, args)),
      eval: (script, keys, args) => guard(() => adapter.eval(script, keys, args)),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.adapter.close();
    this.client.disconnect();
  }
}
