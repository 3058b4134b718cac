import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the mock saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON request bodies are inspected freely in tests
  body: any;
  /** Order of arrival across the whole mock (0, 1, …). */
  seq: number;
}

export type Reply =
  | { status?: number; json: unknown }
  /** Each item goes out as `data: <one-line JSON>\n\n`; `dropAfter` closes the socket after that many. */
  | { sse: unknown[]; dropAfter?: number };

export type Handler = (request: SeenRequest) => Reply;

export const USAGE = { promptTokenCount: 11, candidatesTokenCount: 7, thoughtsTokenCount: 3, totalTokenCount: 21 };

export function textResponse(text: string, usageMetadata: object = USAGE): object {
  return {
    candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
    usageMetadata,
    modelVersion: "gemini-mock",
  };
}

/** Usage is cumulative in Google's streams; the last chunk carries the final numbers and the finishReason. */
export const STREAM_CHUNKS = [
  {
    candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 1, totalTokenCount: 12 },
    modelVersion: "gemini-mock",
  },
  {
    candidates: [{ content: { role: "model", parts: [{ text: "lo" }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 4, totalTokenCount: 15 },
    modelVersion: "gemini-mock",
  },
  {
    candidates: [{ content: { role: "model", parts: [{ text: "!" }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 6, thoughtsTokenCount: 2, totalTokenCount: 19 },
    modelVersion: "gemini-mock",
  },
];

export const RESOURCE_EXHAUSTED = {
  status: 429,
  json: { error: { code: 429, message: "Resource exhausted", status: "RESOURCE_EXHAUSTED" } },
} as const;

/** Mixed into the default handler: AFC turns answer a function call first, the text once it got the result. */
export const AFC_FIRST_USAGE = { promptTokenCount: 20, candidatesTokenCount: 5, totalTokenCount: 25 };
export const AFC_SECOND_USAGE = {
  promptTokenCount: 30,
  candidatesTokenCount: 6,
  thoughtsTokenCount: 4,
  totalTokenCount: 40,
};

// biome-ignore lint/suspicious/noExplicitAny: request bodies are untyped JSON
function isAfcTurn(body: any): { first: boolean } | undefined {
  const declared = JSON.stringify(body?.tools ?? []).includes("get_weather");
  if (!declared) return undefined;
  const answered = JSON.stringify(body?.contents ?? []).includes("functionResponse");
  return { first: !answered };
}

function afcResponse(first: boolean): object {
  return first
    ? {
        candidates: [
          {
            content: { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }] },
            finishReason: "STOP",
            index: 0,
          },
        ],
        usageMetadata: AFC_FIRST_USAGE,
        modelVersion: "gemini-mock",
      }
    : textResponse("Sunny in Paris", AFC_SECOND_USAGE);
}

export const defaultHandler: Handler = (request) => {
  const { path, body } = request;
  const afc = isAfcTurn(body);
  if (path.includes(":streamGenerateContent")) return { sse: afc ? [afcResponse(afc.first)] : STREAM_CHUNKS };
  if (path.includes(":generateContent")) return { json: afc ? afcResponse(afc.first) : textResponse("Hello!") };
  if (path.includes(":predict")) {
    return {
      json: {
        predictions: [{ embeddings: { values: [0.1, 0.2, 0.3], statistics: { token_count: 5, truncated: false } } }],
      },
    };
  }
  if (path.includes(":embedContent")) {
    return { json: { embedding: { values: [0.1, 0.2] }, usageMetadata: { promptTokenCount: 6, totalTokenCount: 6 } } };
  }
  if (path.includes(":batchEmbedContents")) return { json: { embeddings: [{ values: [0.1, 0.2] }] } };
  return { status: 404, json: { error: { code: 404, message: `no route ${path}`, status: "NOT_FOUND" } } };
};

export interface MockServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Replies served before the handler, first in first out. */
  queue(...replies: Reply[]): void;
  handler: Handler;
  reset(): void;
  close(): Promise<void>;
}

export async function startMock(): Promise<MockServer> {
  const queued: Reply[] = [];
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const seen: SeenRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
        seq: requests.length,
      };
      requests.push(seen);
      const reply = queued.shift() ?? mock.handler(seen);
      // A Date header would make two identical answers differ.
      res.sendDate = false;
      if ("json" in reply) {
        res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
        res.end(JSON.stringify(reply.json));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const limit = reply.dropAfter ?? reply.sse.length;
      for (const item of reply.sse.slice(0, limit)) res.write(`data: ${JSON.stringify(item)}\n\n`);
      if (reply.dropAfter === undefined) res.end();
      else setTimeout(() => res.destroy(), 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const mock: MockServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    queue: (...replies) => queued.push(...replies),
    handler: defaultHandler,
    reset() {
      queued.length = 0;
      requests.length = 0;
      mock.handler = defaultHandler;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return mock;
}
