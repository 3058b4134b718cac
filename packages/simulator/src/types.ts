export type Provider = "openai" | "anthropic" | "bedrock" | "vertex";

/** Per-window limits the simulator enforces. Unset limits are not enforced. */
export interface SimLimits {
  /** Requests per window. */
  rpm?: number;
  /** Combined tokens per window (OpenAI TPM; Bedrock TPM with output burndown). */
  tpm?: number;
  /** Input tokens per window (Anthropic ITPM, Vertex input quota, Bedrock mantle). */
  inputTpm?: number;
  /** Output tokens per window (Anthropic OTPM, Vertex output quota, Bedrock mantle). */
  outputTpm?: number;
}

export interface SimulatorOptions {
  provider: Provider;
  limits: SimLimits;
  /** The provider's window, in provider time. @default 60_000 */
  windowMs?: number;
  /** Speed-up: 60 makes a provider minute last one real second. Limits stay per window. @default 1 */
  timeScale?: number;
  /** Real time to answer a request (a range draws uniformly). @default [40, 160] */
  latencyMs?: number | [number, number];
  /** Actual output as a fraction of the request's max tokens (a range draws uniformly). @default [0.2, 0.6] */
  outputRatio?: number | [number, number];
  /** Bedrock: weight of one output token at settlement (Claude 3.7+ burns 5). @default 5 */
  burndown?: number;
  /** Port on 127.0.0.1. @default 0 (any free port) */
  port?: number;
  /** Random seed for output lengths and latencies, for reproducible runs. @default 1 */
  seed?: number;
}

export interface TimelineEntry {
  /** Real ms since the simulator started (or was reset) when the request arrived. */
  t: number;
  status: number;
  /** Input tokens charged to the input quota (Anthropic: cache reads excluded). */
  input: number;
  /** Output tokens generated (settled; the reservation while the request runs). */
  output: number;
  /** What the provider's combined/TPM rule charged (OpenAI max(max_tokens, prompt); Bedrock input + burndown × output). */
  charged: number;
}

export interface SimStats {
  requests: number;
  ok: number;
  rateLimited: number;
  timeline: TimelineEntry[];
  /** The window in real ms (windowMs / timeScale). */
  windowMs: number;
}

export interface Simulator {
  /** Base URL: http://127.0.0.1:PORT (OpenAI clients add /v1 themselves, see `openaiBaseURL`). */
  url: string;
  port: number;
  options: SimulatorOptions;
  stats(): SimStats;
  /** Clears the stats and refills every quota. */
  reset(): void;
  close(): Promise<void>;
}
