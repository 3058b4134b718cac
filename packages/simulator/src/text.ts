/**
 * The simulator's tokenizer and text generator. Providers count with real tokenizers; the simulator counts about
 * four characters per token (the OpenAI cookbook rule) so the numbers are stable and easy to reason about.
 */

export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Tokens of any JSON-ish fragment: strings by length, everything else by its JSON text. */
export function jsonTokens(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === "string") return textTokens(value);
  return textTokens(JSON.stringify(value));
}

const WORDS = ["the", "rate", "limit", "token", "window", "quota", "model", "queue", "fair", "share", "slot", "wait"];

/** Text of roughly `tokens` tokens (4 characters each). */
export function generateText(tokens: number, rand: () => number): string {
  const target = Math.max(1, tokens) * 4;
  let out = "";
  while (out.length < target) out += `${WORDS[Math.floor(rand() * WORDS.length)]} `;
  return out.slice(0, target);
}

/** Splits text into `parts` chunks (stream deltas). */
export function chunkText(text: string, parts: number): string[] {
  const n = Math.max(1, Math.min(parts, text.length));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** mulberry32: small, seeded, good enough for load shapes. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function draw(spec: number | [number, number], rand: () => number): number {
  return typeof spec === "number" ? spec : spec[0] + (spec[1] - spec[0]) * rand();
}
