import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  ThrottlingException,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../src/index.js";

let sim: Simulator | undefined;
beforeAll(() => {
  delete process.env.AWS_BEARER_TOKEN_BEDROCK;
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const MODEL = "anthropic.claude-3-7-sonnet-20250219-v1:0";
const client = (s: Simulator, http1 = false) =>
  new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: s.url,
    credentials: { accessKeyId: "AKID", secretAccessKey: "SECRET" },
    maxAttempts: 1,
    ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}),
  });
const converse = (chars: number, maxTokens: number) =>
  new ConverseCommand({
    modelId: MODEL,
    messages: [{ role: "user", content: [{ text: "x".repeat(chars) }] }],
    inferenceConfig: { maxTokens },
  });

describe.each([
  ["HTTP/2 (SDK default)", false],
  ["HTTP/1.1 handler", true],
])("Bedrock simulator over %s", (_name, http1) => {
  it("reserves input + maxTokens up front, charges input + 5 × output at settlement, throttles in between", async () => {
    sim = await startSimulator({ provider: "bedrock", limits: { tpm: 10_000 } });
    const c = client(sim, http1);
    const first = await c.send(converse(40, 1000)); // input 14
    const out = first.usage!.outputTokens!;
    expect(first.usage).toMatchObject({ inputTokens: 14, totalTokens: 14 + out });
    expect(out).toBeLessThan(1000);
    expect(first.stopReason).toBe("end_turn");
    expect(sim.stats().timeline[0]).toMatchObject({ input: 14, output: out, charged: 14 + 5 * out });
    // Left: 10000 - 14 - 5·out. A reservation of exactly that fits; one token more does not.
    const left = 10_000 - 14 - 5 * out;
    const error = await c.send(converse(4, left - 4 + 1)).catch((e: unknown) => e); // input 5
    expect(error).toBeInstanceOf(ThrottlingException);
    expect((error as ThrottlingException).$metadata.httpStatusCode).toBe(429);
    expect((error as ThrottlingException).message).toBe("Too many tokens, please wait before trying again.");
    await expect(c.send(converse(4, left - 5))).resolves.toMatchObject({ stopReason: "end_turn" });
    expect(sim.stats()).toMatchObject({ ok: 2, rateLimited: 1 });
  });

  it("streams ConverseStream as a binary event stream with usage in metadata", async () => {
    sim = await startSimulator({ provider: "bedrock", limits: { tpm: 100_000, rpm: 10 } });
    const c = client(sim, http1);
    const res = await c.send(
      new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: "user", content: [{ text: "hello there" }] }],
        system: [{ text: "be brief" }],
        inferenceConfig: { maxTokens: 400 },
      }),
    );
    let text = "";
    let usage: { inputTokens?: number | undefined; outputTokens?: number | undefined } | undefined;
    const kinds: string[] = [];
    for await (const event of res.stream!) {
      kinds.push(Object.keys(event)[0]!);
      text += event.contentBlockDelta?.delta?.text ?? "";
      if (event.metadata) usage = event.metadata.usage;
    }
    expect(kinds[0]).toBe("messageStart");
    expect(kinds.slice(-2)).toEqual(["messageStop", "metadata"]);
    expect(usage).toMatchObject({ inputTokens: 4 + 3 + 2, outputTokens: Math.ceil(text.length / 4) });
    expect(sim.stats().timeline[0]).toMatchObject({ charged: 9 + 5 * usage!.outputTokens! });
  });
});

describe("Bedrock simulator RPM", () => {
  it("throttles the request over RPM with 'Too many requests'", async () => {
    sim = await startSimulator({ provider: "bedrock", limits: { rpm: 1 } });
    const c = client(sim);
    await c.send(converse(4, 10));
    const e = (await c.send(converse(4, 10)).catch((x: unknown) => x)) as ThrottlingException;
    expect(e.name).toBe("ThrottlingException");
    expect(e.message).toBe("Too many requests, please wait before trying again.");
  });
});
