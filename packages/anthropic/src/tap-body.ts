/**
 * Taps a response body: the SDK gets a replacement `Response` whose body passes every chunk through untouched,
 * while `onText` sees the decoded text as it is read and `onEnd` runs once when the body ends, fails, or is
 * cancelled (a consumer breaking out of a stream cancels the body) or the request's `signal` aborts. Reading happens only as the SDK reads, so a
 * break settles to what was streamed so far. A `response.clone()` would not do: cancelling one branch of a tee
 * waits for the other branch, so the SDK's own `break` would hang until the copy finished.
 */
export function tapResponse(
  response: Response,
  onText: (text: string) => void,
  onEnd: (outcome: { completed: boolean }) => void,
  signal?: AbortSignal | null | undefined,
): Response {
  const source = response.body;
  if (!source) {
    onEnd({ completed: true });
    return response;
  }
  const reader = source.getReader();
  const decoder = new TextDecoder();
  let ended = false;
  const see = (text: string) => {
    try {
      if (text) onText(text);
    } catch {
      // A bug in usage tracking must never break the caller's response.
    }
  };
  const end = (completed: boolean) => {
    if (ended) return;
    ended = true;
    signal?.removeEventListener("abort", onAbort);
    onEnd({ completed });
  };
  // An aborted request whose body nobody reads (a stream dropped unread, the SDK's abandonment backstop) ends here.
  const onAbort = () => end(false);
  signal?.addEventListener("abort", onAbort, { once: true });
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          end(false);
          controller.error(error);
          return;
        }
        if (step.done) {
          see(decoder.decode());
          end(true);
          controller.close();
          return;
        }
        see(decoder.decode(step.value, { stream: true }));
        controller.enqueue(step.value);
      },
      cancel(reason) {
        end(false);
        return reader.cancel(reason);
      },
    },
    // No read-ahead: the tap sees exactly what the SDK has consumed.
    { highWaterMark: 0 },
  );
  const tapped = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  // `asResponse()` hands this object to the caller: keep what a constructed Response cannot carry.
  Object.defineProperties(tapped, {
    url: { value: response.url },
    redirected: { value: response.redirected },
  });
  return tapped;
}

/** Splits server-sent events out of text chunks (`event:` name and joined `data:` lines), per the SSE format. */
export class ServerSentEvents {
  #pending = "";
  #event: string | undefined;
  #data: string[] = [];
  readonly #onEvent: (event: string | undefined, data: string) => void;

  constructor(onEvent: (event: string | undefined, data: string) => void) {
    this.#onEvent = onEvent;
  }

  push(text: string): void {
    this.#pending += text;
    const lines = this.#pending.split("\n");
    this.#pending = lines.pop() ?? "";
    for (const line of lines) this.#line(line.endsWith("\r") ? line.slice(0, -1) : line);
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#data.length > 0) this.#onEvent(this.#event, this.#data.join("\n"));
      this.#event = undefined;
      this.#data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
  }
}
