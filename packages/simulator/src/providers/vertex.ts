import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
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
import { answerMessages, invalidRequest, parseMessagesRequest } from "./anthropic-format.js";

function partsTokens(content: unknown): number {
  let total = 0;
  for (const part of asArray(asObject(content).parts)) {
    const p = asObject(part);
    if (typeof p.text === "string") total += textTokens(p.text);
    else if (p.inlineData !== undefined || p.fileData !== undefined) total += 258;
    else total += jsonTokens(p);
  }
  return total;
}

export function geminiInputTokens(body: Json): number {
  let total = 0;
  const contents = body.contents;
  if (typeof contents === "string") total += textTokens(contents);
  else for (const c of asArray(contents)) total += partsTokens(c);
  if (body.systemInstruction !== undefined) total += partsTokens(body.systemInstruction);
  if (body.tools !== undefined) total += jsonTokens(body.tools);
  return total;
}

function exhausted(res: Res, metric: string, model: string): void {
  sendJson(res, 429, {
    error: {
      code: 429,
      message: `Quota exceeded for aiplatform.googleapis.com/${metric} with base model: ${model}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.`,
      status: "RESOURCE_EXHAUSTED",
    },
  });
}

const METRICS = {
  requests: "online_prediction_requests_per_base_model",
  tokens: "online_prediction_tokens_per_minute_per_base_model",
  input: "online_prediction_input_tokens_per_minute_per_base_model",
  output: "online_prediction_output_tokens_per_minute_per_base_model",
} as const;

/**
 * Vertex rules (providers.md 5.4): per-minute quotas per base model with separate input and output token quotas
 * (Claude partner models; older Gemini has input-only). Input is charged when the request starts, output is
 * reserved from max tokens and settled to the real output. 429 RESOURCE_EXHAUSTED, no rate-limit headers.
 * Routes: Gemini `…/models/{m}:generateContent|streamGenerateContent` (Vertex and Gemini API paths) and Claude
 * `…/publishers/anthropic/models/{m}:rawPredict|streamRawPredict`.
 */
export async function handleVertex(req: Req, res: Res, path: string, engine: Engine, cache: Set<string>) {
  const match = /\/models\/([^/:]+):(generateContent|streamGenerateContent|rawPredict|streamRawPredict)$/.exec(path);
  if (req.method !== "POST" || !match) return false;
  const model = decodeURIComponent(match[1]!);
  const method = match[2]!;
  const body = asObject(await readBody(req));

  if (method === "rawPredict" || method === "streamRawPredict") {
    const request = parseMessagesRequest(body, cache, model);
    request.stream = method === "streamRawPredict" || request.stream;
    if (request.maxTokens === undefined) {
      engine.invalid();
      invalidRequest(res, "max_tokens: Field required");
      return true;
    }
    const input = request.total - request.cacheRead;
    const admission = engine.admit(
      amounts({ requests: 1, input, output: request.maxTokens, tokens: input + request.maxTokens }),
      input,
      input + request.maxTokens,
    );
    if (!admission.ok) {
      exhausted(res, METRICS[admission.dim], `anthropic-${model}`);
      return true;
    }
    const output = await answerMessages(res, engine, request, {});
    admission.call.finish({ output, tokens: input + output }, { output, charged: input + output });
    return true;
  }

  const config = asObject(body.generationConfig);
  const maxTokens = asNumber(config.maxOutputTokens);
  const candidates = Math.max(1, asNumber(config.candidateCount) ?? 1);
  const cap = maxTokens === undefined ? 0 : maxTokens * candidates;
  const input = geminiInputTokens(body);
  const admission = engine.admit(amounts({ requests: 1, input, output: cap, tokens: input + cap }), input, input + cap);
  if (!admission.ok) {
    exhausted(res, METRICS[admission.dim], model);
    return true;
  }
  const output = engine.outputTokens(maxTokens);
  const text = generateText(output, engine.rand);
  const finishReason = maxTokens !== undefined && output >= maxTokens ? "MAX_TOKENS" : "STOP";
  const usageMetadata = {
    promptTokenCount: input,
    candidatesTokenCount: output,
    totalTokenCount: input + output,
    trafficType: "ON_DEMAND",
    promptTokensDetails: [{ modality: "TEXT", tokenCount: input }],
    candidatesTokensDetails: [{ modality: "TEXT", tokenCount: output }],
  };
  const responseId = randomUUID().replaceAll("-", "").slice(0, 20);
  const createTime = new Date().toISOString();
  const settle = (out: number) =>
    admission.call.finish({ output: out, tokens: input + out }, { output: out, charged: input + out });
  const latency = engine.latency();
  if (method === "generateContent") {
    await sleep(latency);
    settle(output);
    sendJson(res, 200, {
      candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason, index: 0 }],
      usageMetadata,
      modelVersion: model,
      createTime,
      responseId,
    });
    return true;
  }
  const pieces = chunkText(text, 8);
  const frames = pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    const chunk: Json = {
      candidates: [
        { content: { role: "model", parts: [{ text: piece }] }, ...(last ? { finishReason } : {}), index: 0 },
      ],
      modelVersion: model,
      createTime,
      responseId,
      ...(last ? { usageMetadata } : { usageMetadata: { promptTokenCount: input, trafficType: "ON_DEMAND" } }),
    };
    return `data: ${JSON.stringify(chunk)}\n\n`;
  });
  (res as ServerResponse).writeHead(200, { "content-type": "text/event-stream" });
  await sleep(latency * 0.3);
  const written = await writeFrames(res, frames, latency * 0.7);
  if (!res.destroyed) res.end();
  settle(written === frames.length ? output : Math.min(output, textTokens(pieces.slice(0, written).join(""))));
  return true;
}
