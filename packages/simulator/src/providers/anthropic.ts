import { randomUUID } from "node:crypto";
import { amounts, type Engine } from "../engine.js";
import { asObject, type Req, type Res, readBody, sendJson } from "../http.js";
import type { Dim, DimState } from "../quota.js";
import { answerMessages, invalidRequest, parseMessagesRequest } from "./anthropic-format.js";

const KINDS: Array<[string, Dim]> = [
  ["requests", "requests"],
  ["input-tokens", "input"],
  ["output-tokens", "output"],
  ["tokens", "tokens"],
];

function rateHeaders(engine: Engine): Record<string, string> {
  const state = engine.state();
  const headers: Record<string, string> = {};
  const wall = Date.now();
  const put = (kind: string, s: DimState) => {
    headers[`anthropic-ratelimit-${kind}-limit`] = String(s.limit);
    headers[`anthropic-ratelimit-${kind}-remaining`] = String(s.remaining);
    headers[`anthropic-ratelimit-${kind}-reset`] = new Date(wall + s.resetMs).toISOString();
  };
  for (const [kind, dim] of KINDS) {
    const s = state[dim];
    if (s) put(kind, s);
  }
  // "tokens-*" is the most restrictive token limit in effect when there is no combined one.
  if (!state.tokens) {
    const candidates = [state.input, state.output].filter((s): s is DimState => s !== undefined);
    const tightest = candidates.sort((a, b) => a.remaining / a.limit - b.remaining / b.limit)[0];
    if (tightest) put("tokens", tightest);
  }
  return headers;
}

const LIMIT_NAMES: Record<Dim, string> = {
  requests: "requests per minute",
  tokens: "tokens per minute",
  input: "input tokens per minute",
  output: "output tokens per minute",
};

/**
 * Anthropic rules (providers.md 4.3): RPM, ITPM and OTPM per model class as continuously refilled buckets. ITPM
 * counts uncached input + cache writes (cache reads excluded); OTPM is estimated from max_tokens when the request
 * starts and adjusted to the real output when it ends.
 */
export async function handleAnthropic(req: Req, res: Res, path: string, engine: Engine, cache: Set<string>) {
  if (req.method !== "POST") return false;
  if (path === "/v1/messages/count_tokens") {
    const r = parseMessagesRequest(asObject(await readBody(req)), new Set());
    sendJson(res, 200, { input_tokens: r.total });
    return true;
  }
  if (path !== "/v1/messages") return false;
  const body = asObject(await readBody(req));
  const request = parseMessagesRequest(body, cache);
  if (request.maxTokens === undefined) {
    engine.invalid();
    invalidRequest(res, "max_tokens: Field required");
    return true;
  }
  const itpm = request.total - request.cacheRead;
  const need = amounts({ requests: 1, input: itpm, output: request.maxTokens, tokens: itpm + request.maxTokens });
  const admission = engine.admit(need, itpm, itpm + request.maxTokens);
  const requestId = `req_${randomUUID().replaceAll("-", "").slice(0, 24)}`;
  if (!admission.ok) {
    const limit = engine.state()[admission.dim]?.limit ?? 0;
    sendJson(
      res,
      429,
      {
        type: "error",
        error: {
          type: "rate_limit_error",
          message: `This request would exceed the rate limit for your organization (sim) of ${limit.toLocaleString("en-US")} ${LIMIT_NAMES[admission.dim]}. Please reduce the prompt length or the maximum tokens requested, or try again later.`,
        },
        request_id: requestId,
      },
      {
        ...rateHeaders(engine),
        "retry-after": String(Math.max(1, Math.ceil(admission.retryAfterMs / 1000))),
        ...(engine.scaled ? { "retry-after-ms": String(Math.ceil(admission.retryAfterMs)) } : {}),
        "request-id": requestId,
      },
    );
    return true;
  }
  const output = await answerMessages(res, engine, request, { ...rateHeaders(engine), "request-id": requestId });
  admission.call.finish({ output, tokens: itpm + output }, { output, charged: itpm + output });
  return true;
}
