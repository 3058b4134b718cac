/**
 * Offline token estimates for when no tokenizer fits the model. The rule is the OpenAI cookbook's: about four
 * characters per token of the text a request sends, plus a small overhead per message. It over-counts JSON keys a
 * little, which errs on the safe side; `adjust` corrects the reservation to the real usage afterwards.
 */

/** Tokens charged for an inline image or other binary part whose size says nothing about its token cost. */
export const BINARY_PART_TOKENS = 1000;
/** Per-message framing (role, separators), from the OpenAI cookbook. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

const BASE64_RUN = /^(data:[^;,]+;base64,)?[A-Za-z0-9+/=\r\n]{512,}$/;

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * Estimates the tokens of any request fragment: strings by length, binary-looking strings (base64, data: URLs) at
 * {@link BINARY_PART_TOKENS}, numbers and booleans at one, arrays and objects as the sum of their parts plus one
 * per key. Cycles are ignored.
 */
export function estimateTokens(value: unknown, seen: WeakSet<object> = new WeakSet()): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === "string") return BASE64_RUN.test(value) ? BINARY_PART_TOKENS : estimateTextTokens(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return 1;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return BINARY_PART_TOKENS;
  if (typeof value !== "object") return 0;
  if (seen.has(value)) return 0;
  seen.add(value);
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += estimateTokens(item, seen);
    return total;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    total += 1 + estimateTokens(item, seen);
    if (key.length > 12) total += estimateTextTokens(key) - 1;
  }
  return total;
}
