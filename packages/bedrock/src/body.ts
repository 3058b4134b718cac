const decoder = new TextDecoder();

/**
 * Reads a native (InvokeModel) body as JSON. The SDK accepts a string or any byte view; streams and Blobs cannot be
 * read without consuming them, so they count as unknown. Returns the text too, for bodies that are not JSON.
 */
export function readBody(body: unknown): { text: string | undefined; json: unknown } {
  let text: string | undefined;
  if (typeof body === "string") text = body;
  else if (body instanceof Uint8Array) text = decoder.decode(body);
  else if (body instanceof ArrayBuffer) text = decoder.decode(new Uint8Array(body));
  else if (ArrayBuffer.isView(body))
    text = decoder.decode(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  if (text === undefined) return { text, json: undefined };
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    return { text, json: undefined };
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A token count as providers send it: a non-negative finite number (numeric strings accepted, for headers). */
export function count(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : undefined;
}
