import { ApiError, GoogleGenAI } from "@google/genai";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../src/index.js";

let sim: Simulator | undefined;
beforeAll(() => {
  for (const k of ["GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"])
    delete process.env[k];
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const genai = (s: Simulator) => new GoogleGenAI({ vertexai: true, apiKey: "test", httpOptions: { baseUrl: s.url } });

describe("Vertex simulator", () => {
  it("enforces separate input and output quotas: input at the start, output reserved from maxOutputTokens", async () => {
    sim = await startSimulator({ provider: "vertex", limits: { inputTpm: 1000, outputTpm: 1000, rpm: 60 } });
    const ai = genai(sim);
    const first = await ai.models.generateContent({
      model: "gemini-2.0-flash",
      contents: "x".repeat(2400),
      config: { maxOutputTokens: 500, systemInstruction: "be brief" },
    });
    expect(first.usageMetadata).toMatchObject({ promptTokenCount: 602 });
    const out = first.usageMetadata!.candidatesTokenCount!;
    expect(out).toBeLessThan(500);
    // Input: 602 used, a 400-token prompt is 4 too many even though output has room.
    const inputError = await ai.models
      .generateContent({ model: "gemini-2.0-flash", contents: "x".repeat(1600), config: { maxOutputTokens: 10 } })
      .catch((e: unknown) => e);
    expect(inputError).toBeInstanceOf(ApiError);
    expect((inputError as ApiError).status).toBe(429);
    expect((inputError as ApiError).message).toContain("RESOURCE_EXHAUSTED");
    expect((inputError as ApiError).message).toContain("input_tokens_per_minute");
    // Output: settled to the real output, so 1000 - out is free; a reservation one above it is refused.
    const outputError = await ai.models
      .generateContent({ model: "gemini-2.0-flash", contents: "x", config: { maxOutputTokens: 1000 - out + 1 } })
      .catch((e: unknown) => e);
    expect((outputError as ApiError).message).toContain("output_tokens_per_minute");
    await expect(
      ai.models.generateContent({ model: "gemini-2.0-flash", contents: "x", config: { maxOutputTokens: 1000 - out } }),
    ).resolves.toBeDefined();
    expect(sim.stats()).toMatchObject({ ok: 2, rateLimited: 2 });
  });

  it("streams Gemini SSE with usage on the last chunk", async () => {
    sim = await startSimulator({ provider: "vertex", limits: { inputTpm: 10_000 } });
    const ai = genai(sim);
    let text = "";
    let candidates = 0;
    for await (const chunk of await ai.models.generateContentStream({
      model: "gemini-2.0-flash",
      contents: "tell me",
      config: { maxOutputTokens: 200 },
    })) {
      text += chunk.text ?? "";
      candidates = chunk.usageMetadata?.candidatesTokenCount ?? candidates;
    }
    expect(candidates).toBe(Math.ceil(text.length / 4));
    expect(sim.stats().timeline[0]).toMatchObject({ status: 200, input: 2, output: candidates });
  });

  it("serves Claude partner models (rawPredict / streamRawPredict) under the same split quotas", async () => {
    sim = await startSimulator({ provider: "vertex", limits: { inputTpm: 10_000, outputTpm: 500 } });
    const url = (method: string) =>
      `${sim!.url}/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:${method}`;
    const body = (max: number) =>
      JSON.stringify({
        anthropic_version: "vertex-2023-10-16",
        max_tokens: max,
        messages: [{ role: "user", content: "hi" }],
      });
    const ok = await fetch(url("rawPredict"), { method: "POST", body: body(400) });
    const message = (await ok.json()) as { usage: { output_tokens: number }; model: string };
    expect(message.model).toBe("claude-sonnet-4@20250514");
    const refused = await fetch(url("streamRawPredict"), {
      method: "POST",
      body: body(500 - message.usage.output_tokens + 1),
    });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: 429, status: "RESOURCE_EXHAUSTED" } });
    const stream = await fetch(url("streamRawPredict"), {
      method: "POST",
      body: body(500 - message.usage.output_tokens),
    });
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    expect(await stream.text()).toContain("event: message_stop");
  });
});
