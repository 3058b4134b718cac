/**
 * Key names. Every key of one limiter shares one Redis Cluster hash tag (the `{…}` part), and the tag holds the
 * prefix, the model and the window, each escaped so that any string (braces, colons, spaces, globs, unicode, lone
 * surrogates) is safe and distinct inputs never produce the same key. Data never reaches Lua source: names travel
 * as KEYS/ARGV only.
 */

/** Injective escape: [A-Za-z0-9_.-] kept, every other UTF-16 unit becomes %xxxx (fixed width, so no ambiguity). */
export function escapeKeyPart(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    out += /[A-Za-z0-9_.-]/.test(ch) ? ch : `%${value.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

export interface LimiterKeys {
  /** The hash tag content, without braces. */
  readonly tag: string;
  /** The single key holding the limiter's state. */
  readonly state: string;
  /** Pub/sub channel for moved waiters. */
  readonly channel: string;
}

export function limiterKeys(prefix: string, model: string, windowMs: number): LimiterKeys {
  const tag = `${escapeKeyPart(prefix)}:${escapeKeyPart(model)}:w${windowMs}`;
  return { tag, state: `{${tag}}:state`, channel: `{${tag}}:moves` };
}
