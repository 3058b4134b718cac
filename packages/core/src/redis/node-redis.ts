import type { RedisAdapter } from "./client.js";

/**
 * The part of a node-redis (`redis` v4.6+/v5) `RedisClientType` or `RedisClusterType` this library uses. Typed
 * structurally, so `@llmratelimiter/core` needs `redis` neither at runtime nor in its type declarations.
 */
export interface NodeRedisClientLike {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  duplicate(overrides?: object): NodeRedisSubscriberLike;
}

/** What the adapter does with the duplicate it opens for pub/sub. */
export interface NodeRedisSubscriberLike {
  on(event: "error", listener: (error: unknown) => void): unknown;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener?: (message: string, channel: string) => void): Promise<unknown>;
  /** v5; v4 has only `disconnect()`. */
  destroy?(): void;
  disconnect?(): Promise<void>;
}

export interface NodeRedisAdapterOptions {
  /**
   * A connected client reserved for pub/sub (e.g. one `client.duplicate()` shared by many adapters). The adapter
   * then opens no connection of its own and `close()` only drops its channels from it.
   * @default a `client.duplicate()` opened on first use and closed by `close()`
   */
  subscriber?: NodeRedisSubscriberLike;
}

/**
 * node-redis' connection failures are plain `Error`s named by message only; give them a socket error code so the
 * limiter retries them and applies its `onRedisError` policy, instead of treating them as a bad command.
 */
const CONNECTION_FAILURE =
  /^(The client is offline|The client is closed|Connection timeout|Socket timeout|Socket closed unexpectedly|Disconnects client|All the root nodes are unavailable)/;

class NodeRedisConnectionError extends Error {
  readonly code = "ENOTCONN";
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = "NodeRedisConnectionError";
  }
}

function normalize(error: unknown): unknown {
  if (error instanceof Error && !("code" in error) && CONNECTION_FAILURE.test(error.message)) {
    return new NodeRedisConnectionError(error);
  }
  return error;
}

/**
 * Adapts a connected node-redis client or cluster (`createClient()` / `createCluster()` from `redis`):
 *
 * ```ts
 * const client = await createClient({ url, disableOfflineQueue: true }).connect();
 * const limiter = new RateLimiter({ redis: nodeRedisAdapter(client), model: "gpt-4o", tpm: 100_000 });
 * ```
 *
 * Each operation is one EVALSHA (EVAL after NOSCRIPT) routed by the limiter's single key, so it works on a cluster.
 * Waiters are notified over one subscriber connection, a `duplicate()` opened on first use; `close()` closes only
 * that, never the client you passed. `disableOfflineQueue: true` is recommended: without it node-redis holds
 * commands while disconnected, and one that the limiter already gave up on may still run later.
 */
export function nodeRedisAdapter(client: NodeRedisClientLike, options: NodeRedisAdapterOptions = {}): RedisAdapter {
  const isCluster = "masters" in client || "getMasters" in client;
  const handlers = new Map<string, Set<(message: string) => void>>();
  let subscriber: Promise<NodeRedisSubscriberLike> | undefined;
  let opened: NodeRedisSubscriberLike | undefined;

  const dispatch = (message: string, channel: string) => {
    for (const handler of handlers.get(channel) ?? []) handler(message);
  };

  const getSubscriber = () => {
    subscriber ??= (async () => {
      if (options.subscriber) return options.subscriber;
      // A cluster duplicate only needs the topology; the pub/sub node connection is opened by subscribe().
      const sub = client.duplicate(isCluster ? { minimizeConnections: true } : undefined);
      opened = sub;
      // Failures surface through subscribe(); an 'error' event with no listener would crash the process.
      sub.on("error", () => {});
      await sub.connect();
      return sub;
    })().catch((error: unknown) => {
      subscriber = undefined;
      throw normalize(error);
    });
    return subscriber;
  };

  const call = async (run: () => Promise<unknown>) => {
    try {
      return await run();
    } catch (error) {
      throw normalize(error);
    }
  };

  return {
    isRedisAdapter: true,
    evalsha: (sha, keys, args) => call(() => client.evalSha(sha, { keys: [...keys], arguments: args.map(String) })),
    eval: (script, keys, args) => call(() => client.eval(script, { keys: [...keys], arguments: args.map(String) })),
    async subscribe(channel, onMessage) {
      const sub = await getSubscriber();
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        try {
          await sub.subscribe(channel, dispatch);
        } catch (error) {
          handlers.delete(channel);
          throw normalize(error);
        }
      }
      set.add(onMessage);
      return async () => {
        const current = handlers.get(channel);
        if (!current) return;
        current.delete(onMessage);
        if (current.size === 0) {
          handlers.delete(channel);
          await sub.unsubscribe(channel, dispatch).catch(() => {});
        }
      };
    },
    async close() {
      const channels = [...handlers.keys()];
      handlers.clear();
      const pending = subscriber;
      subscriber = undefined;
      const sub = opened;
      opened = undefined;
      if (sub) {
        await pending?.catch(() => undefined);
        if (typeof sub.destroy === "function") sub.destroy();
        else await sub.disconnect?.().catch(() => {});
      } else if (pending) {
        // Subscribed on the caller's own connection: leave it open, drop only our channels.
        const own = await pending.catch(() => undefined);
        await Promise.all(channels.map((c) => own?.unsubscribe(c, dispatch).catch(() => {})));
      }
    },
  };
}
