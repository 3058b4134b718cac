import { createServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";

/**
 * A local Bedrock runtime speaking the real wire format over cleartext HTTP/2 (the client's default handler):
 * restJson1 bodies, `x-amzn-errortype` errors, and `application/vnd.amazon.eventstream` frames made by smithy's own
 * encoder. Replies are queued per route; an empty queue serves the route's canned reply.
 */
export type Route = "converse" | "converse-stream" | "invoke" | "invoke-with-response-stream" | "count-tokens";

export type Frame = { event: string; payload: unknown } | { exception: string; payload: unknown };

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  frames?: Frame[];
  /** The response waits for this (to look at the limiter while the request is in flight). */
  gate?: Promise<void>;
}

export interface SeenRequest {
  route: Route;
  modelId: string;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

export function encodeFrame(frame: Frame): Uint8Array {
  const json = { type: "string" as const, value: "application/json" };
  const body = fromUtf8(JSON.stringify(frame.payload));
  if ("event" in frame) {
    return codec.encode({
      headers: {
        ":message-type": { type: "string", value: "event" },
        ":event-type": { type: "string", value: frame.event },
        ":content-type": json,
      },
      body,
    });
  }
  return codec.encode({
    headers: {
      ":message-type": { type: "string", value: "exception" },
      ":exception-type": { type: "string", value: frame.exception },
      ":content-type": json,
    },
    body,
  });
}

/** A native event as InvokeModelWithResponseStream carries it: `{ "bytes": base64(JSON) }` in a `chunk` event. */
export function chunk(nativeEvent: unknown): Frame {
  return { event: "chunk", payload: { bytes: Buffer.from(JSON.stringify(nativeEvent)).toString("base64") } };
}

export const CONVERSE_REPLY = {
  output: { message: { role: "assistant", content: [{ text: "Hi there" }] } },
  stopReason: "end_turn",
  usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 },
  metrics: { latencyMs: 5 },
};

export const CONVERSE_STREAM_FRAMES: Frame[] = [
  { event: "messageStart", payload: { role: "assistant" } },
  { event: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: "Hi" } } },
  { event: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: " there" } } },
  { event: "contentBlockStop", payload: { contentBlockIndex: 0 } },
  { event: "messageStop", payload: { stopReason: "end_turn" } },
  {
    event: "metadata",
    payload: {
      usage: { inputTokens: 21, outputTokens: 6, totalTokens: 47, cacheReadInputTokens: 15, cacheWriteInputTokens: 5 },
      metrics: { latencyMs: 5 },
    },
  },
];

export const INVOKE_BODY = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-sonnet",
  content: [{ type: "text", text: "Hi there" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 12, output_tokens: 3 },
};

export const INVOKE_HEADERS = {
  "x-amzn-bedrock-input-token-count": "12",
  "x-amzn-bedrock-output-token-count": "3",
  "x-amzn-bedrock-cache-write-input-token-count": "4",
  "x-amzn-bedrock-invocation-latency": "5",
};

export const NATIVE_STREAM_FRAMES: Frame[] = [
  chunk({
    type: "message_start",
    message: { id: "msg_1", role: "assistant", usage: { input_tokens: 30, output_tokens: 1 } },
  }),
  chunk({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
  chunk({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi there" } }),
  chunk({ type: "content_block_stop", index: 0 }),
  chunk({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 7 } }),
  chunk({
    type: "message_stop",
    "amazon-bedrock-invocationMetrics": {
      inputTokenCount: 30,
      outputTokenCount: 7,
      invocationLatency: 5,
      firstByteLatency: 2,
      cacheWriteInputTokenCount: 2,
    },
  }),
];

export const THROTTLED: Reply = {
  status: 429,
  headers: { "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/" },
  json: { message: "Too many tokens, please wait before trying again." },
};

const CANNED: Record<Route, Reply> = {
  converse: { json: CONVERSE_REPLY },
  "converse-stream": { frames: CONVERSE_STREAM_FRAMES },
  invoke: { json: INVOKE_BODY, headers: INVOKE_HEADERS },
  "invoke-with-response-stream": { frames: NATIVE_STREAM_FRAMES },
  "count-tokens": { json: { inputTokens: 11 } },
};

export interface MockBedrock {
  endpoint: string;
  requests: SeenRequest[];
  /** Things that happened, in order (the tests add limiter events to the same log). */
  log: string[];
  queue(route: Route, ...replies: Reply[]): void;
  close(): Promise<void>;
}

export async function startMockBedrock(): Promise<MockBedrock> {
  const queues = new Map<Route, Reply[]>();
  const requests: SeenRequest[] = [];
  const log: string[] = [];

  const server = createServer((req: Http2ServerRequest, res: Http2ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const match = /^\/model\/([^/]+)\/([a-z-]+)$/.exec(req.url.split("?")[0] ?? "");
        const route = match?.[2] as Route | undefined;
        if (!match || !route || !(route in CANNED)) {
          res.writeHead(404, { "content-type": "application/json", "x-amzn-errortype": "UnknownOperationException" });
          res.end("{}");
          return;
        }
        const raw = Buffer.concat(chunks).toString("utf8");
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {}
        const modelId = decodeURIComponent(match[1] ?? "");
        requests.push({ route, modelId, body, headers: { ...req.headers } });
        log.push(`server:${route}`);
        const reply = queues.get(route)?.shift() ?? CANNED[route];
        await reply.gate;
        if (reply.frames) {
          res.writeHead(reply.status ?? 200, {
            "content-type": "application/vnd.amazon.eventstream",
            ...reply.headers,
          });
          for (const frame of reply.frames) res.write(encodeFrame(frame));
          res.end();
          return;
        }
        res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
        res.end(JSON.stringify(reply.json ?? {}));
      })();
    });
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    log,
    queue(route, ...replies) {
      queues.set(route, [...(queues.get(route) ?? []), ...replies]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        // A handler still writing a stream the client broke off can keep close() from calling back; the sessions
        // are destroyed already, so do not let that hold up the next test.
        const timer = setTimeout(resolve, 2000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
