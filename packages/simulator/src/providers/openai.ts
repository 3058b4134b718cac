import { randomUUID } from "node:crypto";
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
import type { DimState } from "../quota.js";
import { chunkText, generateText, jsonTokens, textTokens } from "../text.js";

/** Go-style duration as OpenAI writes its reset headers: "1s", "6m0s", "12ms". */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Number((s - m * 60).toFixed(3))}s`;
}

function contentTokens(content: unknown): number {
  if (typeof content === "string") return textTokens(content);
  let total = 0;
  for (const part of asArray(content)) {
    const p = asObject(part);
    if (typeof p.text === "string") total += textTokens(p.text);
    else if (p.type === "image_url") total += 85;
    else total += jsonTokens(p);
  }
  return total;
}

/** Prompt tokens the way the OpenAI cookbook counts them: 4 per message + content, 2 to prime the reply. */
export function openaiPromptTokens(body: Json): number {
  let total = 2;
  for (const m of asArray(body.messages)) {
    const msg = asObject(m);
    total += 4 + contentTokens(msg.content);
    if (msg.tool_calls !== undefined) total += jsonTokens(msg.tool_calls);
  }
  if (body.tools !== undefined) total += jsonTokens(body.tools);
  return total;
}

function rateHeaders(engine: Engine): Record<string, string> {
  const state = engine.state();
  const headers: Record<string, string> = {};
  const put = (kind: string, s: DimState | undefined) => {
    if (!s) return;
    headers[`x-ratelimit-limit-${kind}`] = String(s.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(s.remaining);
    headers[`x-ratelimit-reset-${kind}`] = goDuration(s.resetMs);
  };
  put("requests", state.requests);
  put("tokens", state.tokens);
  return headers;
}

/**
 * OpenAI rules (providers.md 3.6): RPM and TPM per model, continuously replenished; at request time TPM is charged
 * "the maximum of max_tokens and the estimated number of tokens based on the character count" — never adjusted
 * afterwards, so a short prompt with a large max_tokens costs max_tokens even when the reply is short.
 */
export async function handleOpenAI(req: Req, res: Res, path: string, engine: Engine): Promise<boolean> {
  if (req.method !== "POST" || !/^(\/v1)?\/chat\/completions$/.test(path)) return false;
  const body = asObject(await readBody(req));
  const model = typeof body.model === "string" ? body.model : "gpt-sim";
  const n = Math.max(1, asNumber(body.n) ?? 1);
  const maxTokens = asNumber(body.max_completion_tokens) ?? asNumber(body.max_tokens);
  const cap = maxTokens === undefined ? 0 : maxTokens * n;
  const prompt = openaiPromptTokens(body);
  const charge = Math.max(cap, prompt);
  const admission = engine.admit(amounts({ requests: 1, tokens: charge, input: prompt, output: cap }), prompt, charge);
  const requestId = `req_${randomUUID().replaceAll("-", "")}`;
  if (!admission.ok) {
    const state = engine.state();
    const dim = admission.dim === "requests" ? "requests" : "tokens";
    const s = state[dim];
    const seconds = admission.retryAfterMs / 1000;
    const unit = dim === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)";
    const used = s ? s.limit - s.remaining : 0;
    const requested = dim === "requests" ? 1 : charge;
    sendJson(
      res,
      429,
      {
        error: {
          message: `Rate limit reached for ${model} in organization org-sim on ${unit}: Limit ${s?.limit}, Used ${used}, Requested ${requested}. Please try again in ${Number(seconds.toFixed(3))}s.`,
          type: dim,
          param: null,
          code: "rate_limit_exceeded",
        },
      },
      {
        ...rateHeaders(engine),
        "retry-after": String(Math.max(1, Math.ceil(seconds))),
        ...(engine.scaled ? { "retry-after-ms": String(Math.ceil(admission.retryAfterMs)) } : {}),
        "x-request-id": requestId,
      },
    );
    return true;
  }
  const { call } = admission;
  const outputs = Array.from({ length: n }, () => engine.outputTokens(maxTokens));
  const completion = outputs.reduce((a, b) => a + b, 0);
  const texts = outputs.map((o) => generateText(o, engine.rand));
  const finish = (i: number) => (maxTokens !== undefined && outputs[i]! >= maxTokens ? "length" : "stop");
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
  };
  const id = `chatcmpl-${randomUUID().replaceAll("-", "").slice(0, 24)}`;
  const created = Math.floor(Date.now() / 1000);
  const latency = engine.latency();
  const headers = {
    ...rateHeaders(engine),
    "x-request-id": requestId,
    "openai-processing-ms": String(Math.round(latency)),
  };

  if (body.stream !== true) {
    await sleep(latency);
    call.finish({ output: completion }, { output: completion, charged: charge });
    sendJson(
      res,
      200,
      {
        id,
        object: "chat.completion",
        created,
        model,
        choices: texts.map((text, index) => ({
          index,
          message: { role: "assistant", content: text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: finish(index),
        })),
        usage,
        service_tier: "default",
        system_fingerprint: "fp_sim",
      },
      headers,
    );
    return true;
  }

  const includeUsage = asObject(body.stream_options).include_usage === true;
  const chunk = (choices: unknown[], extra: Json = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_sim", choices, ...extra })}\n\n`;
  const frames: string[] = [];
  const frameTokens: number[] = [];
  texts.forEach((text, index) => {
    frames.push(chunk([{ index, delta: { role: "assistant", content: "", refusal: null }, finish_reason: null }]));
    frameTokens.push(0);
    for (const piece of chunkText(text, 8)) {
      frames.push(chunk([{ index, delta: { content: piece }, finish_reason: null }]));
      frameTokens.push(textTokens(piece));
    }
    frames.push(chunk([{ index, delta: {}, finish_reason: finish(index) }]));
    frameTokens.push(0);
  });
  if (includeUsage) {
    frames.push(chunk([], { usage }));
    frameTokens.push(0);
  }
  frames.push("data: [DONE]\n\n");
  frameTokens.push(0);
  (res as import("node:http").ServerResponse).writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    ...headers,
  });
  await sleep(latency * 0.3);
  const written = await writeFrames(res, frames, latency * 0.7);
  const streamed = Math.min(
    completion,
    frameTokens.slice(0, written).reduce((a, b) => a + b, 0),
  );
  const output = written === frames.length ? completion : streamed;
  call.finish({ output }, { output, charged: charge });
  if (!res.destroyed) res.end();
  return true;
}
