import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Usage the mock reports, per endpoint: tests check the limiter settled to exactly these. */
export const CHAT_USAGE = { prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 };
export const COMPLETIONS_USAGE = { prompt_tokens: 13, completion_tokens: 4, total_tokens: 17 };
export const EMBEDDINGS_USAGE = { prompt_tokens: 8, total_tokens: 8 };
export const RESPONSES_USAGE = {
  input_tokens: 23,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 9,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 32,
};

/** What the next request gets (FIFO); without one queued, the normal answer. */
export type Scenario =
  | { kind: "rate-limit"; headers?: Record<string, string> }
  | { kind: "status"; status: number }
  | { kind: "stream-error" };

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

export interface MockOpenAI {
  /** `baseURL` for the SDK. */
  url: string;
  requests: RecordedRequest[];
  /** Called as each request arrives (before the answer). */
  onRequest?: ((request: RecordedRequest) => void) | undefined;
  enqueue(...scenarios: Scenario[]): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

export async function startMockOpenAI(): Promise<MockOpenAI> {
  const queue: Scenario[] = [];
  const mock: MockOpenAI = {
    url: "",
    requests: [],
    enqueue: (...scenarios) => queue.push(...scenarios),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = (text ? JSON.parse(text) : {}) as Json;
      const path = (req.url ?? "").replace(/^\/v1/, "").split("?")[0] ?? "";
      const recorded: RecordedRequest = { method: req.method ?? "", path, body, headers: req.headers };
      mock.requests.push(recorded);
      mock.onRequest?.(recorded);
      route(recorded, queue.shift(), res);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return mock;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "x-request-id": "req_mock", ...headers });
  res.end(JSON.stringify(body));
}

function sse(res: ServerResponse, events: unknown[], tail: string[] = []): void {
  res.writeHead(200, { "content-type": "text/event-stream", "x-request-id": "req_mock" });
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
  for (const line of tail) res.write(line);
  res.end();
}

const STREAM_ERROR = `data: ${JSON.stringify({ error: { message: "boom", type: "server_error" } })}\n\n`;

function route(req: RecordedRequest, scenario: Scenario | undefined, res: ServerResponse): void {
  if (scenario?.kind === "rate-limit") {
    json(
      res,
      429,
      { error: { message: "rate", type: "rate_limit_error", code: "rate_limit_exceeded" } },
      {
        ...scenario.headers,
      },
    );
    return;
  }
  if (scenario?.kind === "status") {
    json(res, scenario.status, { error: { message: "failed", type: "server_error" } }, { "x-should-retry": "false" });
    return;
  }
  const broken = scenario?.kind === "stream-error";
  const body = req.body;
  switch (`${req.method} ${req.path}`) {
    case "POST /chat/completions":
      if (body.stream) chatStream(body, broken, res);
      else json(res, 200, chatCompletion(body));
      return;
    case "POST /completions":
      if (body.stream) completionStream(body, broken, res);
      else json(res, 200, completion(body));
      return;
    case "POST /responses":
      if (body.stream) responseStream(body, broken, res);
      else json(res, 200, response(body));
      return;
    case "POST /responses/compact":
      json(res, 200, {
        id: "cmp_1",
        object: "response.compaction",
        created_at: 0,
        output: [message("Compacted")],
        usage: RESPONSES_USAGE,
      });
      return;
    case "POST /responses/input_tokens":
      json(res, 200, { object: "response.input_tokens", input_tokens: 12 });
      return;
    case "POST /embeddings":
      json(res, 200, embeddings(body));
      return;
    case "GET /models":
      json(res, 200, { object: "list", data: [{ id: "gpt-4o", object: "model", created: 0, owned_by: "me" }] });
      return;
    default:
      json(res, 404, { error: { message: `no route ${req.method} ${req.path}`, type: "invalid_request_error" } });
  }
}

function chatCompletion(body: Json): Json {
  const messages = (body.messages ?? []) as Json[];
  const tools = body.tools as Json[] | undefined;
  const answered = messages.some((m) => m.role === "tool");
  const format = body.response_format as Json | undefined;
  const choice =
    tools?.length && !answered
      ? {
          index: 0,
          message: {
            role: "assistant",
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: "call_1",
                type: "function",
                function: { name: (tools[0]?.function as Json | undefined)?.name, arguments: '{"city":"Paris"}' },
              },
            ],
          },
          logprobs: null,
          finish_reason: "tool_calls",
        }
      : {
          index: 0,
          message: {
            role: "assistant",
            content: format?.type === "json_schema" ? '{"answer":42}' : answered ? "It is sunny." : "Hello there",
            refusal: null,
          },
          logprobs: null,
          finish_reason: "stop",
        };
  return {
    id: "chatcmpl_1",
    object: "chat.completion",
    created: 0,
    model: body.model,
    choices: [choice],
    usage: CHAT_USAGE,
  };
}

function chatStream(body: Json, broken: boolean, res: ServerResponse): void {
  const withUsage = (body.stream_options as Json | undefined)?.include_usage === true;
  const base = { id: "chatcmpl_1", object: "chat.completion.chunk", created: 0, model: body.model };
  const chunk = (delta: Json, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
  });
  if (broken) {
    sse(res, [chunk({ role: "assistant", content: "Hel" }, null)], [STREAM_ERROR]);
    return;
  }
  const events: unknown[] = [
    chunk({ role: "assistant", content: "Hel", refusal: null }, null),
    chunk({ content: "lo" }, null),
    chunk({}, "stop"),
  ];
  if (withUsage) events.push({ ...base, choices: [], usage: CHAT_USAGE });
  sse(res, events, ["data: [DONE]\n\n"]);
}

function completion(body: Json): Json {
  return {
    id: "cmpl_1",
    object: "text_completion",
    created: 0,
    model: body.model,
    choices: [{ index: 0, text: "Hello", logprobs: null, finish_reason: "stop" }],
    usage: COMPLETIONS_USAGE,
  };
}

function completionStream(body: Json, broken: boolean, res: ServerResponse): void {
  const withUsage = (body.stream_options as Json | undefined)?.include_usage === true;
  const base = { id: "cmpl_1", object: "text_completion", created: 0, model: body.model };
  const chunk = (text: string, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
  });
  if (broken) {
    sse(res, [chunk("Hel", null)], [STREAM_ERROR]);
    return;
  }
  const events: unknown[] = [chunk("Hel", null), chunk("lo", "stop")];
  if (withUsage) events.push({ ...base, choices: [], usage: COMPLETIONS_USAGE });
  sse(res, events, ["data: [DONE]\n\n"]);
}

function message(text: string): Json {
  return {
    type: "message",
    id: "msg_1",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}

function response(body: Json, status = "completed", withOutput = true): Json {
  return {
    id: "resp_1",
    object: "response",
    created_at: 0,
    status,
    model: body.model,
    output: withOutput ? [message("Hello")] : [],
    parallel_tool_calls: true,
    tool_choice: "auto",
    tools: [],
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    metadata: {},
    temperature: 1,
    top_p: 1,
    max_output_tokens: body.max_output_tokens ?? null,
    text: { format: { type: "text" } },
    usage: withOutput && status === "completed" ? RESPONSES_USAGE : null,
  };
}

function responseStream(body: Json, broken: boolean, res: ServerResponse): void {
  let seq = 0;
  const ev = (type: string, fields: Json) => ({ type, sequence_number: seq++, ...fields });
  const created = ev("response.created", { response: response(body, "in_progress", false) });
  if (broken) {
    sse(res, [created], [STREAM_ERROR]);
    return;
  }
  const part = { type: "output_text", text: "", annotations: [], logprobs: [] };
  const item = { type: "message", id: "msg_1", role: "assistant", status: "in_progress", content: [] };
  sse(res, [
    created,
    ev("response.in_progress", { response: response(body, "in_progress", false) }),
    ev("response.output_item.added", { output_index: 0, item }),
    ev("response.content_part.added", { item_id: "msg_1", output_index: 0, content_index: 0, part }),
    ev("response.output_text.delta", {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      delta: "Hel",
      logprobs: [],
    }),
    ev("response.output_text.delta", {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      delta: "lo",
      logprobs: [],
    }),
    ev("response.output_text.done", {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      text: "Hello",
      logprobs: [],
    }),
    ev("response.content_part.done", {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      part: { ...part, text: "Hello" },
    }),
    ev("response.output_item.done", { output_index: 0, item: message("Hello") }),
    ev("response.completed", { response: response(body) }),
  ]);
}

function embeddings(body: Json): Json {
  const inputs = Array.isArray(body.input) && typeof body.input[0] !== "number" ? body.input : [body.input];
  const vector = [0.25, -0.5, 0.75];
  return {
    object: "list",
    model: body.model,
    data: inputs.map((_, index) => ({
      object: "embedding",
      index,
      embedding:
        body.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector,
    })),
    usage: EMBEDDINGS_USAGE,
  };
}
