import { createServer as createHttp1, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { createServer as createNet, type Socket } from "node:net";

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;
export type Handler = (req: Req, res: Res) => void;

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0");

/**
 * One cleartext port for HTTP/1.1 and HTTP/2 (h2c with prior knowledge): the Bedrock SDK speaks HTTP/2 by default,
 * fetch-based SDKs speak HTTP/1.1. The first bytes of each connection pick the server.
 */
export function listenDual(handler: Handler, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const h1 = createHttp1({ keepAliveTimeout: 5_000 }, handler);
  const h2 = createHttp2({}, handler);
  const sockets = new Set<Socket>();
  const net = createNet((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("readable", () => {
      const head: Buffer | null = socket.read(Math.min(H2_PREFACE.length, socket.readableLength));
      if (head === null) return void socket.destroy();
      socket.unshift(head);
      const isH2 = head.equals(H2_PREFACE.subarray(0, head.length)) && head.length > 0;
      (isH2 ? h2 : h1).emit("connection", socket);
    });
  });
  net.on("error", () => {});
  return new Promise((resolve, reject) => {
    net.once("error", reject);
    net.listen(port, "127.0.0.1", () => {
      const address = net.address();
      const bound = typeof address === "object" && address ? address.port : port;
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            h1.closeAllConnections();
            net.close(() => done());
          }),
      });
    });
  });
}

export async function readBody(req: Req): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.length === 0) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  (res as ServerResponse).writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether the client went away (stream aborted, consumer broke off). */
export function closed(res: Res): boolean {
  return res.destroyed || (res as ServerResponse).writableEnded;
}

/**
 * Writes stream frames spread over `durationMs`; stops early when the client disconnects. Returns how many frames
 * were written, so the route can charge only what was streamed.
 */
export async function writeFrames(res: Res, frames: Array<string | Uint8Array>, durationMs: number): Promise<number> {
  const gap = frames.length > 1 ? durationMs / frames.length : 0;
  let written = 0;
  for (const frame of frames) {
    if (res.destroyed) break;
    (res as ServerResponse).write(frame);
    written++;
    if (gap > 0) await sleep(gap);
  }
  return written;
}

/** Anything like a record, for reading request JSON defensively. */
export type Json = Record<string, unknown>;
export const asObject = (v: unknown): Json =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const asNumber = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;
