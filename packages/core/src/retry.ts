import type { RetryOptions } from "./options.js";

/**
 * Errors worth retrying: the connection, not the command. READONLY/TRYAGAIN/LOADING/MASTERDOWN/CLUSTERDOWN come
 * from failovers and resharding and clear up by themselves; script errors, WRONGTYPE or a foreign key never do.
 */
const RETRYABLE_REPLY = /^(READONLY|TRYAGAIN|LOADING|MASTERDOWN|CLUSTERDOWN|BUSY|MOVED|ASK)\b/;
const RETRYABLE_CODE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTCONN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ECONNABORTED",
]);

export class CommandTimeoutError extends Error {
  constructor(ms: number) {
    super(`store command timed out after ${ms} ms`);
    this.name = "CommandTimeoutError";
  }
}

/**
 * Authentication, permission and TLS trust problems are infrastructure failures (the policy applies) but retrying
 * cannot fix them, so they never are.
 */
export function isAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  return (
    /\b(WRONGPASS|NOAUTH|NOPERM)\b/.test(message) ||
    /certificate|self[- ]signed|unable to verify|ERR_TLS|wrong version number/i.test(message) ||
    /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS|ERR_SSL)/.test(code)
  );
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof CommandTimeoutError) return true;
  if (!(error instanceof Error)) return false;
  if (isAuthError(error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && RETRYABLE_CODE.has(code)) return true;
  if (error.name === "MaxRetriesPerRequestError") return true;
  if (RETRYABLE_REPLY.test(error.message)) return true;
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|socket closed|Socket closed|ClientClosedError|The client is closed/i.test(
    error.message,
  );
}

/** Failures the policy (allow/deny) handles: the store is unusable, not the request wrong. */
export function isInfrastructureError(error: unknown): boolean {
  if (isRetryable(error) || isAuthError(error)) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /^(OOM|NOSCRIPT No matching script)|self[- ]signed|certificate|unable to verify|ERR_TLS|EPROTO/i.test(message);
}

export function backoffDelay(attempt: number, retry: Required<RetryOptions>, random: () => number = Math.random) {
  const base = Math.min(retry.baseDelayMs * retry.exponentialBase ** attempt, retry.maxDelayMs);
  const spread = base * retry.jitter;
  return Math.max(0, base + (random() * 2 - 1) * spread);
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CommandTimeoutError(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
