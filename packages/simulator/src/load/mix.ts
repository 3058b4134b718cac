import { generateText } from "../text.js";

/** One request of a load mix: a system prompt, a user prompt and a cap, by token count. */
export interface LoadRequest {
  kind: string;
  system: string;
  user: string;
  maxTokens: number;
  stream: boolean;
}

interface Shape {
  kind: string;
  weight: number;
  /** Prompt tokens, drawn uniformly. */
  prompt: [number, number];
  maxTokens: number;
  stream: number;
}

/**
 * A realistic application mix: chat turns, retrieval-augmented answers, summaries and extraction. In the demo mix
 * prompts are at least as long as max_tokens (what most RAG/summary traffic looks like); the bench mix adds short
 * prompts with large caps, where OpenAI's max(max_tokens, prompt) rule charges more than the tokens used.
 */
const MIXES: Record<"demo" | "bench", Shape[]> = {
  demo: [
    { kind: "chat", weight: 4, prompt: [350, 900], maxTokens: 300, stream: 0.5 },
    { kind: "rag", weight: 3, prompt: [1200, 2600], maxTokens: 500, stream: 0.5 },
    { kind: "summarize", weight: 2, prompt: [2500, 4000], maxTokens: 600, stream: 0 },
    { kind: "extract", weight: 2, prompt: [500, 1400], maxTokens: 250, stream: 0 },
  ],
  bench: [
    { kind: "chat", weight: 3, prompt: [150, 600], maxTokens: 512, stream: 0.5 },
    { kind: "rag", weight: 3, prompt: [1200, 2600], maxTokens: 500, stream: 0.5 },
    { kind: "summarize", weight: 2, prompt: [2500, 3500], maxTokens: 800, stream: 0 },
    { kind: "extract", weight: 2, prompt: [500, 1400], maxTokens: 256, stream: 0 },
  ],
};

export type MixName = keyof typeof MIXES;

export function nextRequest(mix: MixName, rand: () => number): LoadRequest {
  const shapes = MIXES[mix];
  const total = shapes.reduce((a, s) => a + s.weight, 0);
  let pick = rand() * total;
  let shape = shapes[0]!;
  for (const s of shapes) {
    pick -= s.weight;
    if (pick < 0) {
      shape = s;
      break;
    }
  }
  const prompt = Math.round(shape.prompt[0] + (shape.prompt[1] - shape.prompt[0]) * rand());
  const systemTokens = Math.min(120, Math.round(prompt * 0.1));
  return {
    kind: shape.kind,
    system: generateText(systemTokens, rand),
    user: generateText(prompt - systemTokens, rand),
    maxTokens: shape.maxTokens,
    stream: rand() < shape.stream,
  };
}
