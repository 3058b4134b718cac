import { Engine } from "./engine.js";
import { listenDual, sendJson } from "./http.js";
import { handleAnthropic } from "./providers/anthropic.js";
import { handleBedrock } from "./providers/bedrock.js";
import { handleOpenAI } from "./providers/openai.js";
import { handleVertex } from "./providers/vertex.js";
import { type Limits, type Quota, SlidingWindowQuota, TokenBucketQuota } from "./quota.js";
import type { Simulator, SimulatorOptions } from "./types.js";

function quotaFor(options: SimulatorOptions, windowMs: number): Quota {
  const { rpm, tpm, inputTpm, outputTpm } = options.limits;
  const limits: Limits = { requests: rpm ?? 0, tokens: tpm ?? 0, input: inputTpm ?? 0, output: outputTpm ?? 0 };
  // OpenAI and Anthropic describe continuous replenishment; Bedrock and Vertex per-minute quotas.
  return options.provider === "openai" || options.provider === "anthropic"
    ? new TokenBucketQuota(limits, windowMs)
    : new SlidingWindowQuota(limits, windowMs);
}

/**
 * Starts a local HTTP server (HTTP/1.1 and h2c on one port) that answers like `options.provider` and enforces its
 * rate-limit rules on `options.limits`, per window of `windowMs / timeScale` real milliseconds.
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${timeScale}`);
  const windowMs = (options.windowMs ?? 60_000) / timeScale;
  const engine = new Engine(options, quotaFor(options, windowMs));
  const cache = new Set<string>();
  const server = await listenDual((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = decodeURIComponent(url.pathname);
    const handle = async (): Promise<boolean> => {
      switch (options.provider) {
        case "openai":
          return handleOpenAI(req, res, path, engine);
        case "anthropic":
          return handleAnthropic(req, res, path, engine, cache);
        case "bedrock":
          return handleBedrock(req, res, path, engine);
        case "vertex":
          return handleVertex(req, res, path, engine, cache);
      }
    };
    handle().then(
      (handled) => {
        if (!handled) sendJson(res, 404, { error: { message: `no route ${req.method} ${path}` } });
      },
      (error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(error) } });
        else res.destroy();
      },
    );
  }, options.port ?? 0);
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    options,
    stats: () => engine.stats(),
    reset: () => {
      engine.reset();
      cache.clear();
    },
    close: () => server.close(),
  };
}
