import Anthropic from "@anthropic-ai/sdk";
import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { GoogleGenAI } from "@google/genai";
import { withRateLimit as wrapAnthropic } from "@llmratelimiter/anthropic";
import { withRateLimit as wrapBedrock } from "@llmratelimiter/bedrock";
import type { RateLimiter } from "@llmratelimiter/core";
import { withRateLimit as wrapOpenAI } from "@llmratelimiter/openai";
import { withRateLimit as wrapVertex } from "@llmratelimiter/vertex";
import OpenAI from "openai";
import type { Provider } from "../types.js";
import type { LoadRequest } from "./mix.js";

export const MODELS: Record<Provider, string> = {
  openai: "gpt-4o-mini",
  anthropic: "claude-sonnet-5-5",
  bedrock: "anthropic.claude-3-7-sonnet-20250219-v1:0",
  vertex: "gemini-2.0-flash",
};

/** What a successful call reported. */
export interface CallUsage {
  input: number;
  output: number;
}

export interface LoadClient {
  send(request: LoadRequest, signal: AbortSignal): Promise<CallUsage>;
}

/**
 * The provider's real SDK pointed at a simulator, SDK retries off (the load loop retries itself so every attempt
 * is counted), optionally wrapped with this library's `withRateLimit`.
 */
export function makeClient(provider: Provider, url: string, limiter?: RateLimiter): LoadClient {
  switch (provider) {
    case "openai": {
      const client = new OpenAI({ apiKey: "sim", baseURL: `${url}/v1`, maxRetries: 0 });
      if (limiter) wrapOpenAI(client, limiter);
      return {
        async send(r, signal) {
          const body = {
            model: MODELS.openai,
            max_tokens: r.maxTokens,
            messages: [
              { role: "system" as const, content: r.system },
              { role: "user" as const, content: r.user },
            ],
          };
          if (!r.stream) {
            const res = await client.chat.completions.create(body, { signal });
            return { input: res.usage?.prompt_tokens ?? 0, output: res.usage?.completion_tokens ?? 0 };
          }
          const stream = await client.chat.completions.create(
            { ...body, stream: true, stream_options: { include_usage: true } },
            { signal },
          );
          let usage: CallUsage = { input: 0, output: 0 };
          for await (const chunk of stream) {
            if (chunk.usage) usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
          }
          return usage;
        },
      };
    }
    case "anthropic": {
      const client = new Anthropic({ apiKey: "sim", baseURL: url, maxRetries: 0 });
      if (limiter) wrapAnthropic(client, limiter);
      return {
        async send(r, signal) {
          const body = {
            model: MODELS.anthropic,
            max_tokens: r.maxTokens,
            system: r.system,
            messages: [{ role: "user" as const, content: r.user }],
          };
          if (!r.stream) {
            const res = await client.messages.create(body, { signal });
            return { input: res.usage.input_tokens, output: res.usage.output_tokens };
          }
          const final = await client.messages.stream(body, { signal }).finalMessage();
          return { input: final.usage.input_tokens, output: final.usage.output_tokens };
        },
      };
    }
    case "bedrock": {
      const client = new BedrockRuntimeClient({
        region: "us-east-1",
        endpoint: url,
        credentials: { accessKeyId: "sim", secretAccessKey: "sim" },
        maxAttempts: 1,
      });
      if (limiter) wrapBedrock(client, limiter);
      return {
        async send(r, signal) {
          const input: ConverseCommandInput = {
            modelId: MODELS.bedrock,
            system: [{ text: r.system }],
            messages: [{ role: "user", content: [{ text: r.user }] }],
            inferenceConfig: { maxTokens: r.maxTokens },
          };
          if (!r.stream) {
            const res = await client.send(new ConverseCommand(input), { abortSignal: signal });
            return { input: res.usage?.inputTokens ?? 0, output: res.usage?.outputTokens ?? 0 };
          }
          const res = await client.send(new ConverseStreamCommand(input), { abortSignal: signal });
          let usage: CallUsage = { input: 0, output: 0 };
          for await (const event of res.stream ?? []) {
            if (event.metadata?.usage) {
              usage = { input: event.metadata.usage.inputTokens ?? 0, output: event.metadata.usage.outputTokens ?? 0 };
            }
          }
          return usage;
        },
      };
    }
    case "vertex": {
      const client = new GoogleGenAI({ vertexai: true, apiKey: "sim", httpOptions: { baseUrl: url } });
      if (limiter) wrapVertex(client, limiter);
      return {
        async send(r, signal) {
          const params = {
            model: MODELS.vertex,
            contents: r.user,
            config: { maxOutputTokens: r.maxTokens, systemInstruction: r.system, abortSignal: signal },
          };
          if (!r.stream) {
            const res = await client.models.generateContent(params);
            const u = res.usageMetadata;
            return { input: u?.promptTokenCount ?? 0, output: u?.candidatesTokenCount ?? 0 };
          }
          let usage: CallUsage = { input: 0, output: 0 };
          for await (const chunk of await client.models.generateContentStream(params)) {
            const u = chunk.usageMetadata;
            if (u?.candidatesTokenCount !== undefined) {
              usage = { input: u.promptTokenCount ?? 0, output: u.candidatesTokenCount };
            }
          }
          return usage;
        },
      };
    }
  }
}

/** A provider answer to back off from: 429 / ThrottlingException / RESOURCE_EXHAUSTED, with any retry hint. */
export function rateLimitInfo(error: unknown): { retryAfterMs: number | undefined } | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as {
    status?: unknown;
    name?: unknown;
    headers?: { get?(name: string): string | null };
    $metadata?: { httpStatusCode?: number };
  };
  const limited = e.status === 429 || e.name === "ThrottlingException" || e.$metadata?.httpStatusCode === 429;
  if (!limited) return undefined;
  const get = (name: string) => (typeof e.headers?.get === "function" ? e.headers.get(name) : null);
  const ms = get("retry-after-ms");
  const s = get("retry-after");
  const retryAfterMs = ms !== null ? Number(ms) : s !== null ? Number(s) * 1000 : undefined;
  return { retryAfterMs: Number.isFinite(retryAfterMs) ? retryAfterMs : undefined };
}
