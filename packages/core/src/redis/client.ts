import type { Cluster, Redis } from "ioredis";

/** The clients accepted as `redis`: an ioredis `Redis` or `Cluster`, or any adapter implementing {@link RedisAdapter}. */
export type RedisClientLike = Redis | Cluster | RedisAdapter;

/**
 * The whole surface of Redis this library uses. Two methods and a subscription, so another client (node-redis,
 * a proxy) needs only a few lines of adapter.
 */
export interface RedisAdapter {
  readonly isRedisAdapter: true;
  evalsha(sha: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** EVAL; also caches the script so the next EVALSHA finds it. */
  eval(script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** Subscribes on a separate connection; resolves to an unsubscribe function. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** Closes connections the adapter opened itself (the subscriber), never the client it wraps. */
  close(): Promise<void>;
  /**
   * A number that changes each time the subscriber connection is lost (messages published meanwhile are gone).
   * Optional: adapters without it are trusted not to lose notices.
   */
  subscriptionEpoch?(): number;
}

export function isRedisAdapter(value: unknown): value is RedisAdapter {
  return typeof value === "object" && value !== null && (value as RedisAdapter).isRedisAdapter === true;
}

export function isIoRedisClient(value: unknown): value is Redis | Cluster {
  const v = value as Partial<Redis>;
  return (
    typeof value === "object" &&
    value !== null &&
    typeof v.evalsha === "function" &&
    typeof v.duplicate === "function" &&
    typeof v.subscribe === "function"
  );
}

/** Adapts an ioredis `Redis` or `Cluster`. One subscriber connection (a duplicate) is shared by all channels. */
export function ioredisAdapter(client: Redis | Cluster): RedisAdapter {
  let subscriber: Redis | Cluster | undefined;
  let epoch = 0;
  const handlers = new Map<string, Set<(message: string) => void>>();

  const getSubscriber = () => {
    if (!subscriber) {
      subscriber = client.duplicate();
      // Errors here surface through commands; keep the emitter from throwing on 'error' with no listener.
      subscriber.on("error", () => {});
      // ioredis resubscribes after a reconnect, but what was published in between is lost.
      subscriber.on("close", () => {
        epoch++;
      });
      subscriber.on("message", (channel: string, message: string) => {
        for (const handler of handlers.get(channel) ?? []) handler(message);
      });
    }
    return subscriber;
  };

  return {
    isRedisAdapter: true,
    subscriptionEpoch: () => epoch,
    evalsha: (sha, keys, args) => client.evalsha(sha, keys.length, ...keys, ...args),
    eval: (script, keys, args) => client.eval(script, keys.length, ...keys, ...args),
    async subscribe(channel, onMessage) {
      const sub = getSubscriber();
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await sub.subscribe(channel);
      }
      set.add(onMessage);
      return async () => {
        const current = handlers.get(channel);
        if (!current) return;
        current.delete(onMessage);
        if (current.size === 0) {
          handlers.delete(channel);
          await sub.unsubscribe(channel).catch(() => {});
        }
      };
    },
    async close() {
      handlers.clear();
      const sub = subscriber;
      subscriber = undefined;
      if (sub) sub.disconnect();
    },
  };
}

export function toAdapter(client: RedisClientLike): RedisAdapter {
  if (isRedisAdapter(client)) return client;
  if (isIoRedisClient(client)) return ioredisAdapter(client);
  throw new TypeError("Expected an ioredis Redis/Cluster client or a RedisAdapter");
}
