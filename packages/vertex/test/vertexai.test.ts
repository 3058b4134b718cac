import { VertexAI, type VertexInit } from "@google-cloud/vertexai";
import { withRateLimit } from "@llmratelimiter/vertex";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { limiterFactory } from "../../../test/harness/limiters.js";
import { clearGoogleEnv, collect, expectUsage, grants, plain } from "./helpers.js";
import { type MockServer, RESOURCE_EXHAUSTED, STREAM_CHUNKS, startMock } from "./mock-server.js";

let mock: MockServer;
const realFetch = globalThis.fetch;

beforeAll(async () => {
  clearGoogleEnv();
  mock = await startMock();
  // The legacy SDK hard-codes https://; send its requests to the plain-HTTP mock instead.
  globalThis.fetch = (input, init) =>
    realFetch(typeof input === "string" ? input.replace("https://127.0.0.1:", "http://127.0.0.1:") : input, init);
  // It warns about its deprecation on every construction.
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterAll(async () => {
  globalThis.fetch = realFetch;
  vi.restoreAllMocks();
  await mock.close();
});

type AuthClient = NonNullable<NonNullable<VertexInit["googleAuthOptions"]>["authClient"]>;

/** An OAuth2 client holding a valid-looking token, so no credential lookup happens. */
function fakeAuth(token = "test-token"): AuthClient {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  // Our google-auth-library copy and the SDK's are the same major but distinct declarations.
  return authClient as unknown as AuthClient;
}

function makeClient(): VertexAI {
  const authClient = fakeAuth();
  return new VertexAI({
    project: "p",
    location: "us-central1",
    apiEndpoint: `127.0.0.1:${mock.port}`,
    googleAuthOptions: { authClient },
  });
}

describe("@google-cloud/vertexai", () => {
  let f: ReturnType<typeof limiterFactory>;
  beforeEach(() => {
    mock.reset();
    f = limiterFactory("redis");
  });
  afterEach(() => f.close());

  it("generateContent: admitted, settled to usageMetadata, result unchanged", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const vertex = withRateLimit(makeClient(), limiter);
    const model = vertex.getGenerativeModel({
      model: "gemini-2.5-pro",
      generationConfig: { maxOutputTokens: 300, candidateCount: 1 },
      systemInstruction: "Be brief",
    });
    const wrapped = await model.generateContent("Say hello");
    expect(seen).toHaveLength(1);
    expect(seen[0]?.outputTokens).toBe(300);
    expect(mock.requests[0]?.path).toBe(
      "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent",
    );
    expect(mock.requests[0]?.headers.authorization).toBe("Bearer test-token");
    await expectUsage(limiter, { input: 11, output: 10, requests: 1 });

    const raw = await makeClient()
      .getGenerativeModel({
        model: "gemini-2.5-pro",
        generationConfig: { maxOutputTokens: 300 },
        systemInstruction: "Be brief",
      })
      .generateContent("Say hello");
    expect(plain(wrapped)).toEqual(plain(raw));
  });

  it("generateContent with a request object reads its generationConfig (thinking budget included)", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({ model: "gemini-2.5-flash" });
    await model.generateContent({
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      generationConfig: { maxOutputTokens: 100, candidateCount: 3, thinkingConfig: { thinkingBudget: 50 } } as never,
    });
    expect(seen[0]?.outputTokens).toBe(100 * 3 + 50);
    await expectUsage(limiter, { input: 11, output: 10, requests: 1 });
  });

  it("generateContentStream read to the end: settled to the last usage, chunks and response unchanged", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({ model: "gemini-2.5-flash" });
    const result = await model.generateContentStream("Stream please");
    const chunks = await collect(result.stream);
    const response = await result.response;
    expect(seen).toHaveLength(1);
    expect(seen[0]?.outputTokens).toBe(1024);
    expect(mock.requests[0]?.path).toContain(":streamGenerateContent?alt=sse");
    await expectUsage(limiter, { input: 11, output: 8, requests: 1 });

    const raw = await makeClient()
      .getGenerativeModel({ model: "gemini-2.5-flash" })
      .generateContentStream("Stream please");
    expect(plain(chunks)).toEqual(plain(await collect(raw.stream)));
    expect(plain(response)).toEqual(plain(await raw.response));
  });

  it("generateContentStream broken off: the SDK still reads the body, so the final usage is charged", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({ model: "gemini-2.5-flash" });
    const result = await model.generateContentStream("Stream please");
    for await (const _chunk of result.stream) break;
    await expectUsage(limiter, { input: 11, output: 8, requests: 1 });
  });

  it("generateContentStream failing mid-stream: the error reaches the caller, the estimate is kept", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({
      model: "gemini-2.5-flash",
      generationConfig: { maxOutputTokens: 40 },
    });
    mock.queue({ sse: STREAM_CHUNKS, dropAfter: 1 });
    const result = await model.generateContentStream("Stream please");
    await expect(result.response).rejects.toThrow();
    await expect(collect(result.stream)).rejects.toThrow();
    const estimate = seen[0];
    await expectUsage(limiter, { input: estimate?.inputTokens ?? -1, output: 40, requests: 1 });
  });

  it("startChat: sendMessage and sendMessageStream are admitted, history is estimated", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({ model: "gemini-2.5-pro" });
    const chat = model.startChat({ generationConfig: { maxOutputTokens: 20 } });
    const first = await chat.sendMessage("Hi");
    expect(first.response.candidates?.[0]?.content.parts[0]?.text).toBe("Hello!");
    await expectUsage(limiter, { input: 11, output: 10, requests: 1 });
    const second = await chat.sendMessageStream(["Again", { text: "please" }]);
    const chunks = await collect(second.stream);
    expect(chunks).toHaveLength(3);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.outputTokens).toBe(20);
    expect(seen[1]?.inputTokens).toBeGreaterThan(seen[0]?.inputTokens ?? 0);
    await expectUsage(limiter, { input: 22, output: 18, requests: 2 });
    expect(mock.requests[1]?.body.contents).toHaveLength(3);
  });

  it("preview.getGenerativeModel is wrapped too (v1beta1 paths unchanged)", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const vertex = withRateLimit(makeClient(), limiter);
    const model = vertex.preview.getGenerativeModel({ model: "gemini-2.5-pro" });
    const result = await model.generateContent("hi");
    expect(result.response.usageMetadata?.promptTokenCount).toBe(11);
    await collect((await model.generateContentStream("stream")).stream);
    expect(seen).toHaveLength(2);
    await expectUsage(limiter, { input: 22, output: 18, requests: 2 });
  });

  it("RESOURCE_EXHAUSTED pauses a second limiter on the same Redis, then the call succeeds", async () => {
    const first = f.make({ tpm: 100_000, rpm: 100 });
    const second = f.make({ tpm: 100_000, rpm: 100 });
    const model = withRateLimit(makeClient(), first).getGenerativeModel({ model: "gemini-2.5-pro" });
    mock.queue(RESOURCE_EXHAUSTED);
    await expect(model.generateContent("hi")).rejects.toThrow(/RESOURCE_EXHAUSTED|429/);
    const paused = await second.status();
    expect(paused.pausedUntil).toBeGreaterThan(Date.now());
    expect(paused.requestsUsed).toBe(1);
    expect(paused.inputTokensUsed).toBe(0);

    const seen = grants(second);
    const other = withRateLimit(makeClient(), second).getGenerativeModel({ model: "gemini-2.5-pro" });
    const ok = await other.generateContent("hi");
    expect(ok.response.usageMetadata?.candidatesTokenCount).toBe(7);
    expect(seen[0]?.slotTime).toBeGreaterThanOrEqual(paused.pausedUntil ?? 0);
    await expectUsage(second, { input: 11, output: 10, requests: 2 });
  });

  it("a 5xx is charged as a request with its tokens refunded; a network failure is released", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const model = withRateLimit(makeClient(), limiter).getGenerativeModel({ model: "gemini-2.5-pro" });
    mock.queue({ status: 500, json: { error: { code: 500, message: "internal", status: "INTERNAL" } } });
    await expect(model.generateContent("hi")).rejects.toThrow(/500/);
    await expectUsage(limiter, { input: 0, output: 0, requests: 1 });
    expect((await limiter.status()).pausedUntil).toBeNull();

    const authClient = fakeAuth("t");
    const unreachable = withRateLimit(
      new VertexAI({ project: "p", location: "l", apiEndpoint: "127.0.0.1:1", googleAuthOptions: { authClient } }),
      limiter,
    ).getGenerativeModel({ model: "gemini-2.5-pro" });
    await expect(unreachable.generateContent("hi")).rejects.toThrow();
    await expectUsage(limiter, { input: 0, output: 0, requests: 1 });
  });

  it("split mode: the output budget is enforced apart from input", async () => {
    const limiter = f.make({ inputTpm: 10_000, outputTpm: 40, rpm: 100 });
    const vertex = withRateLimit(makeClient(), { limiter, maxWaitMs: 0, defaultOutputTokens: 25 });
    const model = vertex.getGenerativeModel({ model: "gemini-2.5-pro" });
    await model.generateContent("a"); // reserves 25, settles to 10
    await model.generateContent("b"); // 10 + 25 fits 40, settles to 20
    // 20 + 25 > 40 although input is nearly unused
    await expect(model.generateContent("c")).rejects.toMatchObject({ code: "WAIT_TIMEOUT" });
    expect(mock.requests).toHaveLength(2);
    await expectUsage(limiter, { input: 22, output: 20, requests: 2 });
  });

  it("wrapping twice is harmless and custom estimates are used", async () => {
    const limiter = f.make({ tpm: 100_000, rpm: 100 });
    const seen = grants(limiter);
    const client = makeClient();
    const estimate = vi.fn(() => ({ inputTokens: 42, outputTokens: 7 }));
    withRateLimit(client, { limiter, estimate });
    expect(withRateLimit(client, limiter)).toBe(client);
    await client
      .getGenerativeModel({ model: "projects/p/locations/l/publishers/google/models/gemini-2.5-pro" })
      .generateContent("hi");
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ inputTokens: 42, outputTokens: 7 });
    expect(estimate).toHaveBeenCalledWith(expect.objectContaining({ contents: expect.any(Array) }), {
      model: "gemini-2.5-pro",
      kind: "generate",
    });
  });
});
