import { createHash, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Engine } from "../engine.js";
import { asArray, asNumber, asObject, type Json, type Res, sendJson, sleep, writeFrames } from "../http.js";
import { chunkText, generateText, jsonTokens, textTokens } from "../text.js";

/** A Messages API request as the simulator prices it. */
export interface MessagesRequest {
  model: string;
  maxTokens: number | undefined;
  stream: boolean;
  /** All prompt tokens: uncached + cache writes + cache reads. */
  total: number;
  cacheRead: number;
  cacheWrite: number;
}

function blockTokens(block: unknown): number {
  if (typeof block === "string") return textTokens(block);
  const b = asObject(block);
  if (typeof b.text === "string") return textTokens(b.text);
  if (b.type === "image" || b.type === "document") return 1000;
  return jsonTokens(b);
}

/**
 * Prices a Messages request. Prompt caching: the prompt up to the last `cache_control` breakpoint is the cacheable
 * prefix; the first time the simulator sees that prefix it is a cache write, afterwards a cache read (reads are
 * excluded from ITPM, writes are not).
 */
export function parseMessagesRequest(body: Json, cache: Set<string>, model?: string): MessagesRequest {
  const parts: unknown[] = [];
  for (const t of asArray(body.tools)) parts.push({ tool: t, cache_control: asObject(t).cache_control });
  if (typeof body.system === "string") parts.push(body.system);
  else for (const b of asArray(body.system)) parts.push(b);
  let messages = 0;
  for (const m of asArray(body.messages)) {
    messages++;
    const content = asObject(m).content;
    if (typeof content === "string") parts.push(content);
    else for (const b of asArray(content)) parts.push(b);
  }
  // Per-message framing is added after the blocks, so it never falls inside a cached prefix.
  let total = 0;
  let prefixTokens = 0;
  let prefixEnd = -1;
  parts.forEach((p, i) => {
    total += blockTokens(asObject(p).tool ?? p);
    if (asObject(p).cache_control !== undefined) {
      prefixTokens = total;
      prefixEnd = i;
    }
  });
  total += messages * 4;
  let cacheRead = 0;
  let cacheWrite = 0;
  if (prefixEnd >= 0) {
    const key = createHash("sha256")
      .update(JSON.stringify(parts.slice(0, prefixEnd + 1)))
      .digest("hex");
    if (cache.has(key)) cacheRead = prefixTokens;
    else {
      cache.add(key);
      cacheWrite = prefixTokens;
    }
  }
  return {
    model: model ?? (typeof body.model === "string" ? body.model : "claude-sim"),
    maxTokens: asNumber(body.max_tokens),
    stream: body.stream === true,
    total,
    cacheRead,
    cacheWrite,
  };
}

export function invalidRequest(res: Res, message: string): void {
  sendJson(res, 400, { type: "error", error: { type: "invalid_request_error", message } });
}

/**
 * Answers an admitted Messages request (JSON or SSE), then reports the output actually produced (all of it, or what
 * was streamed before the client went away).
 */
export async function answerMessages(
  res: Res,
  engine: Engine,
  request: MessagesRequest,
  headers: Record<string, string>,
): Promise<number> {
  const output = engine.outputTokens(request.maxTokens);
  const text = generateText(output, engine.rand);
  const stopReason = request.maxTokens !== undefined && output >= request.maxTokens ? "max_tokens" : "end_turn";
  const input = request.total - request.cacheRead - request.cacheWrite;
  const usage = {
    input_tokens: input,
    cache_creation_input_tokens: request.cacheWrite,
    cache_read_input_tokens: request.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: request.cacheWrite, ephemeral_1h_input_tokens: 0 },
    output_tokens: output,
    service_tier: "standard",
  };
  const id = `msg_${randomUUID().replaceAll("-", "").slice(0, 24)}`;
  const latency = engine.latency();
  if (!request.stream) {
    await sleep(latency);
    sendJson(
      res,
      200,
      {
        id,
        type: "message",
        role: "assistant",
        model: request.model,
        content: [{ type: "text", text }],
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      },
      headers,
    );
    return output;
  }
  const event = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const pieces = chunkText(text, 8);
  const frames = [
    event("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model: request.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    event("ping", {}),
    ...pieces.map((piece) => event("content_block_delta", { index: 0, delta: { type: "text_delta", text: piece } })),
    event("content_block_stop", { index: 0 }),
    event("message_delta", {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: output },
    }),
    event("message_stop", {}),
  ];
  (res as ServerResponse).writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    ...headers,
  });
  await sleep(latency * 0.3);
  const written = await writeFrames(res, frames, latency * 0.7);
  if (!res.destroyed) res.end();
  if (written === frames.length) return output;
  // Broken off: the deltas that went out (frames 0-2 are the preamble).
  const sent = pieces.slice(0, Math.max(0, written - 3)).join("");
  return Math.min(output, textTokens(sent));
}
