import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { amounts, type Engine } from "../engine.js";
import {
  asArray,
  asNumber,
  asObject,
  type Json,
  type Req,
  type Res,
  readBody,
  sendJson,
  sleep,
  writeFrames,
} from "../http.js";
import { chunkText, generateText, jsonTokens, textTokens } from "../text.js";

/** What Bedrock reserves for output when a request sets no maxTokens (real Claude models reserve their maximum). */
export const BEDROCK_DEFAULT_MAX_TOKENS = 4096;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

export function encodeEvent(eventType: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ":message-type": { type: "string", value: "event" },
      ":event-type": { type: "string", value: eventType },
      ":content-type": { type: "string", value: "application/json" },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

function converseInputTokens(body: Json): number {
  let total = 0;
  for (const m of asArray(body.messages)) {
    total += 4;
    for (const block of asArray(asObject(m).content)) {
      const b = asObject(block);
      if (typeof b.text === "string") total += textTokens(b.text);
      else if (b.image !== undefined || b.document !== undefined) total += 1000;
      else total += jsonTokens(b);
    }
  }
  for (const s of asArray(body.system)) {
    const b = asObject(s);
    total += typeof b.text === "string" ? textTokens(b.text) : jsonTokens(b);
  }
  if (body.toolConfig !== undefined) total += jsonTokens(body.toolConfig);
  return total;
}

/**
 * Bedrock rules (providers.md 6.3): per-minute RPM and TPM. A request reserves input + maxTokens when it starts; at
 * the end it is charged input + output × burndown (5 for Claude 3.7+), which can exceed the reservation. The quota
 * is a sliding minute. With inputTpm/outputTpm set (bedrock-mantle) input and output are enforced separately.
 */
export async function handleBedrock(req: Req, res: Res, path: string, engine: Engine): Promise<boolean> {
  const match = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
  if (req.method !== "POST" || !match) return false;
  const stream = match[2] === "converse-stream";
  const body = asObject(await readBody(req));
  const burndown = engine.options.burndown ?? 5;
  const input = converseInputTokens(body);
  const maxTokens = asNumber(asObject(body.inferenceConfig).maxTokens);
  const reserve = maxTokens ?? BEDROCK_DEFAULT_MAX_TOKENS;
  const admission = engine.admit(
    amounts({ requests: 1, tokens: input + reserve, input, output: reserve }),
    input,
    input + reserve,
  );
  const requestId = randomUUID();
  if (!admission.ok) {
    const what = admission.dim === "requests" ? "requests" : "tokens";
    sendJson(
      res,
      429,
      { message: `Too many ${what}, please wait before trying again.` },
      {
        "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": requestId,
      },
    );
    return true;
  }
  const output = engine.outputTokens(reserve);
  const text = generateText(output, engine.rand);
  const stopReason = maxTokens !== undefined && output >= maxTokens ? "max_tokens" : "end_turn";
  const latency = engine.latency();
  const settle = (out: number) =>
    admission.call.finish(
      { output: out, tokens: input + out * burndown },
      { output: out, charged: input + out * burndown },
    );
  const usage = { inputTokens: input, outputTokens: output, totalTokens: input + output };
  if (!stream) {
    await sleep(latency);
    settle(output);
    sendJson(
      res,
      200,
      {
        output: { message: { role: "assistant", content: [{ text }] } },
        stopReason,
        usage,
        metrics: { latencyMs: Math.round(latency) },
      },
      { "x-amzn-requestid": requestId },
    );
    return true;
  }
  const pieces = chunkText(text, 8);
  const frames = [
    encodeEvent("messageStart", { role: "assistant" }),
    ...pieces.map((piece) => encodeEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { text: piece } })),
    encodeEvent("contentBlockStop", { contentBlockIndex: 0 }),
    encodeEvent("messageStop", { stopReason }),
    encodeEvent("metadata", { usage, metrics: { latencyMs: Math.round(latency) } }),
  ];
  (res as ServerResponse).writeHead(200, {
    "content-type": "application/vnd.amazon.eventstream",
    "x-amzn-requestid": requestId,
  });
  await sleep(latency * 0.3);
  const written = await writeFrames(res, frames, latency * 0.7);
  if (!res.destroyed) res.end();
  settle(
    written === frames.length
      ? output
      : Math.min(output, textTokens(pieces.slice(0, Math.max(0, written - 1)).join(""))),
  );
  return true;
}
