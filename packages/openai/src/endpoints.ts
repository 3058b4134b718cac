/** The OpenAI routes that spend model tokens, keyed by the path the resources pass to `client.post`. */
export type Endpoint = "chat" | "responses" | "completions" | "embeddings";

const BILLABLE: Readonly<Record<string, Endpoint>> = {
  "/chat/completions": "chat",
  "/responses": "responses",
  "/responses/compact": "responses",
  "/completions": "completions",
  "/embeddings": "embeddings",
};

/**
 * The endpoint behind a `post` path, or undefined for routes that are not token-priced (token counting, batches,
 * files, uploads, moderations, stored-completion updates, response cancel…). Azure and Bedrock clients rewrite the
 * URL later, in `buildRequest`, so the path is the same for them.
 */
export function endpointFor(path: string): Endpoint | undefined {
  return Object.hasOwn(BILLABLE, path) ? BILLABLE[path] : undefined;
}
