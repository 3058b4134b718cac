import { type Reservation, selectLimiter } from "@llmratelimiter/core";
import { type Admission, open, runUnary } from "./call.js";
import { estimateGeminiRequest, type GeminiRequest, type GenerationSettings } from "./estimate.js";
import { bareModel } from "./model-name.js";
import type { ResolvedOptions } from "./options.js";
import { statusOf, usageOfResponse } from "./usage.js";

interface StreamResult {
  stream: AsyncIterable<unknown>;
  response: Promise<unknown>;
}

/** What the legacy GenerativeModel / GenerativeModelPreview and ChatSession(Preview) share. */
interface Defaults {
  generationConfig?: GenerationSettings | undefined;
  systemInstruction?: unknown;
  tools?: unknown;
  toolConfig?: unknown;
}

interface LegacyModel extends Defaults {
  model: string;
  generateContent(request: unknown): Promise<{ response: unknown }>;
  generateContentStream(request: unknown): Promise<StreamResult>;
  startChat(request?: unknown): LegacyChat;
}

interface LegacyChat extends Defaults {
  historyInternal?: unknown[];
  sendMessage(request: unknown): Promise<{ response: unknown }>;
  sendMessageStream(request: unknown): Promise<StreamResult>;
}

type ModelFactory = (...args: unknown[]) => LegacyModel;

interface LegacyPreview {
  getGenerativeModel: ModelFactory;
  getGenerativeModelFromCachedContent?: ModelFactory;
}

/** `VertexAI` from @google-cloud/vertexai: models come from factories, each call makes a new one. */
export interface VertexAIClientLike {
  getGenerativeModel: ModelFactory;
  preview?: LegacyPreview;
}

export function isVertexAIClient(client: unknown): client is VertexAIClientLike {
  return typeof (client as VertexAIClientLike | null)?.getGenerativeModel === "function";
}

const PATCHED = Symbol.for("llmratelimiter.vertex.patched");

function markOnce(target: object): boolean {
  if ((target as Record<symbol, unknown>)[PATCHED]) return false;
  Object.defineProperty(target, PATCHED, { value: true });
  return true;
}

export function wrapVertexAI(client: VertexAIClientLike, options: ResolvedOptions): void {
  patchFactory(client, "getGenerativeModel", options);
  const preview = client.preview;
  if (preview && markOnce(preview)) {
    patchFactory(preview, "getGenerativeModel", options);
    patchFactory(preview, "getGenerativeModelFromCachedContent", options);
  }
}

function patchFactory<K extends string>(
  owner: Partial<Record<K, ModelFactory>>,
  name: K,
  options: ResolvedOptions,
): void {
  const original = owner[name];
  if (typeof original !== "function") return;
  owner[name] = ((...args: unknown[]) => {
    const model = original.apply(owner, args);
    patchModel(model, options);
    return model;
  }) as Partial<Record<K, ModelFactory>>[K];
}

/** The request as the SDK will send it: per-call fields win over the model's (or chat's) defaults. */
function effectiveRequest(request: unknown, defaults: Defaults): GeminiRequest {
  const r: GeminiRequest =
    typeof request === "string"
      ? { contents: [{ role: "user", parts: [{ text: request }] }] }
      : ((request ?? {}) as GeminiRequest);
  return {
    contents: r.contents,
    systemInstruction: r.systemInstruction ?? defaults.systemInstruction,
    tools: r.tools ?? defaults.tools,
    toolConfig: r.toolConfig ?? defaults.toolConfig,
    generationConfig: r.generationConfig ?? defaults.generationConfig,
  };
}

/** A chat message is a string or an array of strings and Parts; history is sent with it. */
function chatRequest(chat: LegacyChat, message: unknown): GeminiRequest {
  const items = Array.isArray(message) ? message : [message];
  const parts = items.map((item) => (typeof item === "string" ? { text: item } : item));
  return effectiveRequest({ contents: [...(chat.historyInternal ?? []), { role: "user", parts }] }, chat);
}

function patchModel(model: LegacyModel, options: ResolvedOptions): void {
  if (!markOnce(model)) return;
  const name = bareModel(model.model);
  const admission = (request: GeminiRequest): Admission | undefined => {
    const limiter = selectLimiter(options.selector, name);
    if (!limiter) return undefined;
    const estimate = options.estimate
      ? options.estimate(request, { model: name, kind: "generate" })
      : estimateGeminiRequest(request, options.defaultOutputTokens);
    return { limiter, estimate, maxWaitMs: options.maxWaitMs };
  };

  const generateContent = model.generateContent;
  const generateContentStream = model.generateContentStream;
  const startChat = model.startChat;

  model.generateContent = (request) =>
    unary(admission(effectiveRequest(request, model)), () => generateContent.call(model, request));
  model.generateContentStream = (request) =>
    streamed(admission(effectiveRequest(request, model)), () => generateContentStream.call(model, request));
  model.startChat = (request) => {
    const chat = startChat.call(model, request);
    if (!markOnce(chat)) return chat;
    const sendMessage = chat.sendMessage;
    const sendMessageStream = chat.sendMessageStream;
    chat.sendMessage = (message) => unary(admission(chatRequest(chat, message)), () => sendMessage.call(chat, message));
    chat.sendMessageStream = (message) =>
      streamed(admission(chatRequest(chat, message)), () => sendMessageStream.call(chat, message));
    return chat;
  };
}

function unary(
  plan: Admission | undefined,
  send: () => Promise<{ response: unknown }>,
): Promise<{ response: unknown }> {
  if (!plan) return send();
  return runUnary(plan, send, (result) => usageOfResponse(result.response));
}

/**
 * The legacy SDK tees the body: `response` reads it to the end whatever the consumer does with `stream`, and
 * carries the last chunk's usageMetadata. So the reservation settles when `response` does, including after the
 * consumer broke off; if the body fails, the estimate stays (a 429 in it pauses).
 */
async function streamed(plan: Admission | undefined, send: () => Promise<StreamResult>): Promise<StreamResult> {
  if (!plan) return send();
  const reservation: Reservation = await open(plan);
  let result: StreamResult;
  try {
    result = await send();
  } catch (error) {
    await reservation.failed(statusOf(error));
    throw error;
  }
  result.response.then(
    (response) => reservation.settle(usageOfResponse(response) ?? {}),
    (error) => (statusOf(error) === 429 ? reservation.failed(429) : reservation.settle({})),
  );
  return result;
}
