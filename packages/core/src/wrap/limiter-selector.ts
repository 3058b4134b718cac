import { InvalidArgumentError } from "../errors.js";
import { RateLimiter } from "../rate-limiter.js";

/** One limiter for every model, or a function choosing one per model (undefined = that model is not limited). */
export type LimiterSelector = RateLimiter | ((model: string) => RateLimiter | undefined);

export function validateSelector(field: string, selector: unknown): LimiterSelector {
  if (selector instanceof RateLimiter || typeof selector === "function") return selector as LimiterSelector;
  throw new InvalidArgumentError(field, "a RateLimiter or a function (model) => RateLimiter | undefined", selector);
}

export function selectLimiter(selector: LimiterSelector, model: string): RateLimiter | undefined {
  return selector instanceof RateLimiter ? selector : selector(model);
}
