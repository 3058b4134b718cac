/**
 * Reads how long a provider asked us to back off. Order: `retry-after-ms`, `retry-after` (seconds or an HTTP date),
 * then the providers' reset headers for whichever limit is exhausted: OpenAI `x-ratelimit-reset-{requests,tokens}`
 * (Go durations like "6m0s", "1s", "12ms") and Anthropic `anthropic-ratelimit-*-reset` (RFC 3339 times).
 */
export type HeaderSource =
  | Headers
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>
  | undefined
  | null;

export function headerGetter(headers: HeaderSource): (name: string) => string | undefined {
  if (!headers) return () => undefined;
  if (typeof (headers as Headers).get === "function") {
    return (name) => (headers as Headers).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const lower = new Map(Object.entries(record).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] : v]));
  return (name) => lower.get(name.toLowerCase()) ?? undefined;
}

/** Parses Go-style durations as OpenAI sends them: "1s", "6m0s", "12ms", "1h2m3.5s". */
export function parseGoDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = 0;
  for (const match of text.matchAll(re)) {
    const n = Number(match[1]);
    const unit = match[2];
    total += unit === "h" ? n * 3_600_000 : unit === "m" ? n * 60_000 : unit === "s" ? n * 1000 : n;
    matched += match[0].length;
  }
  return matched > 0 && matched === text.trim().length ? total : undefined;
}

export function retryAfterMs(headers: HeaderSource, nowMs: number = Date.now()): number | undefined {
  const get = headerGetter(headers);
  const ms = Number(get("retry-after-ms"));
  if (get("retry-after-ms") !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = get("retry-after");
  if (ra !== undefined) {
    const seconds = Number(ra);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(ra);
    if (Number.isFinite(date)) return Math.max(0, date - nowMs);
  }
  let best: number | undefined;
  const consider = (value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value) && value >= 0) best = Math.max(best ?? 0, value);
  };
  for (const kind of ["requests", "tokens"]) {
    const reset = get(`x-ratelimit-reset-${kind}`);
    if (reset !== undefined && get(`x-ratelimit-remaining-${kind}`) === "0") consider(parseGoDuration(reset));
  }
  for (const kind of ["requests", "tokens", "input-tokens", "output-tokens"]) {
    const reset = get(`anthropic-ratelimit-${kind}-reset`);
    if (reset !== undefined && get(`anthropic-ratelimit-${kind}-remaining`) === "0") {
      const at = Date.parse(reset);
      if (Number.isFinite(at)) consider(at - nowMs);
    }
  }
  return best;
}
