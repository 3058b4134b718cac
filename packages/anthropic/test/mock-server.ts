import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Usage the mock reports; the defaults are what most tests settle to. */
export interface MockUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export const DEFAULT_USAGE: MockUsage = {
  input_tokens: 10,
  output_tokens: 2,
  cache_creation_input_tokens: 5,
  cache_read_input_tokens: 7,
};

/** What the defaults settle to: cache writes count toward input, cache reads do not. */
export const SETTLED = { input: 15, output: 2 };

export type Reply =
  | { kind: "json"; status?: number; headers?: Record<string, string>; body: unknown }
  /** SSE frames; `hold` keeps the connection open after them until the client goes away. */
  | { kind: "sse"; frames: Array<[event: string, data: unknown]>; hold?: boolean }
  /** Closes the socket without answering: the SDK sees a connection error. */
  | { kind: "drop" };

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown> | undefined;
  at: number;
}

export function message(usage: Partial<MockUsage> = {}, content: unknown[] = [{ type: "text", text: "hi" }]) {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-x",
    content,
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { ...DEFAULT_USAGE, ...usage },
  };
}

/** The event sequence the API streams for one text reply, usage split as the real API splits it. */
export function messageFrames(
  usage: Partial<MockUsage> = {},
  texts: string[] = ["Hi", " there"],
): Array<[string, unknown]> {
  const u = { ...DEFAULT_USAGE, ...usage };
  return [
    [
      "message_start",
      {
        type: "message_start",
        message: {
          ...message({ ...u, output_tokens: 1 }, []),
          stop_reason: null,
        },
      },
    ],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["ping", { type: "ping" }],
    ...texts.map((text): [string, unknown] => [
      "content_block_delta",
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
    ]),
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    [
      "message_delta",
      {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: u.output_tokens },
      },
    ],
    ["message_stop", { type: "message_stop" }],
  ];
}

export function errorBody(type: string, text = type) {
  return { type: "error", error: { type, message: text } };
}

/**
 * A local Anthropic API: `/v1/messages` (JSON or SSE by `stream`), `/v1/complete`, `/v1/messages/count_tokens`,
 * `/v1/messages/batches`, `/v1/models`. Scripted replies are taken in order; otherwise the defaults above answer.
 */
export class MockAnthropic {
  readonly requests: SeenRequest[] = [];
  /** Requests whose connection the client closed before the reply ended. */
  closedEarly = 0;
  #server: Server;
  #script: Reply[] = [];
  #port = 0;

  constructor() {
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Queues replies for the next requests to billable or free routes alike. */
  reply(...replies: Reply[]): this {
    this.#script.push(...replies);
    return this;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    const path = (req.url ?? "").split("?")[0] ?? "";
    this.requests.push({ method: req.method ?? "", path, headers: req.headers, body, at: Date.now() });
    const reply = this.#script.shift() ?? this.#default(req.method ?? "", path, body);
    if (reply.kind === "drop") {
      req.socket.destroy();
      return;
    }
    if (reply.kind === "json") {
      res.writeHead(reply.status ?? 200, {
        "content-type": "application/json",
        "request-id": "req_mock",
        ...reply.headers,
      });
      res.end(JSON.stringify(reply.body));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": "req_mock" });
    res.flushHeaders();
    for (const [event, data] of reply.frames) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (!reply.hold) {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => res.once("close", resolve));
    this.closedEarly++;
  }

  #default(method: string, path: string, body: Record<string, unknown> | undefined): Reply {
    if (method === "GET" && path === "/v1/models") {
      return {
        kind: "json",
        body: {
          data: [{ type: "model", id: "claude-x", display_name: "X", created_at: "2025-01-01T00:00:00Z" }],
          has_more: false,
          first_id: "claude-x",
          last_id: "claude-x",
        },
      };
    }
    if (path === "/v1/messages/count_tokens") return { kind: "json", body: { input_tokens: 10 } };
    if (path === "/v1/messages/batches") {
      return {
        kind: "json",
        body: {
          id: "msgbatch_1",
          type: "message_batch",
          processing_status: "in_progress",
          request_counts: { processing: 1, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
          ended_at: null,
          created_at: "2025-01-01T00:00:00Z",
          expires_at: "2025-01-02T00:00:00Z",
          archived_at: null,
          cancel_initiated_at: null,
          results_url: null,
        },
      };
    }
    if (path === "/v1/complete") {
      const completion = {
        type: "completion",
        id: "compl_1",
        completion: " Hello there, friend",
        stop_reason: "stop_sequence",
        model: "claude-2.1",
      };
      if (body?.stream) {
        return {
          kind: "sse",
          frames: [
            ["completion", { ...completion, completion: " Hello", stop_reason: null }],
            ["ping", { type: "ping" }],
            ["completion", { ...completion, completion: " there, friend", stop_reason: "stop_sequence" }],
          ],
        };
      }
      return { kind: "json", body: completion };
    }
    if (body?.stream) return { kind: "sse", frames: messageFrames() };
    return { kind: "json", body: message() };
  }
}
