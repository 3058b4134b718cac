import { countTokens as countO200k } from "gpt-tokenizer/encoding/o200k_base";

/**
 * Offline token counting with OpenAI's own encodings. o200k_base (gpt-4o, gpt-4.1, gpt-4.5, o-series, gpt-5 and
 * anything unrecognised) is loaded with the module; cl100k_base (gpt-4, gpt-3.5, the text-embedding models) only
 * when a model of that family is first seen, because each encoding costs several MB of heap.
 */
export type TokenCounter = (text: string) => number;

/** Special-token strings in user text (`<|endoftext|>`) are counted as text instead of throwing. */
const ENCODE_OPTIONS = { disallowedSpecial: new Set<string>() };

const o200k: TokenCounter = (text) => countO200k(text, ENCODE_OPTIONS);
let cl100k: TokenCounter | undefined;
let cl100kLoading: Promise<void> | undefined;

const CL100K_MODELS = /^(gpt-4(-|$)|gpt-3\.5|text-embedding-(ada|3)|davinci-002|babbage-002)/;

/** The encoding family a model uses. Unknown names get o200k_base, the encoding of every current model. */
export function encodingFor(model: string | undefined): "o200k_base" | "cl100k_base" {
  const name = (model ?? "").replace(/^(ft:|openai\/)/, "").toLowerCase();
  return CL100K_MODELS.test(name) ? "cl100k_base" : "o200k_base";
}

/**
 * Loads the encoding `model` needs, if it is not loaded yet. The wrapper awaits it before estimating; call it
 * yourself before using the estimator directly on gpt-4 / gpt-3.5 bodies (until then o200k_base stands in).
 */
export function loadTokenizer(model: string | undefined): Promise<void> {
  if (encodingFor(model) !== "cl100k_base" || cl100k) return Promise.resolve();
  cl100kLoading ??= import("gpt-tokenizer/encoding/cl100k_base").then(
    (m) => {
      cl100k = (text) => m.countTokens(text, ENCODE_OPTIONS);
    },
    () => {
      cl100kLoading = undefined; // o200k_base keeps standing in; try again next time
    },
  );
  return cl100kLoading;
}

/** A counter for `model`'s encoding (o200k_base while cl100k_base is still loading). */
export function tokenCounterFor(model: string | undefined): TokenCounter {
  return encodingFor(model) === "cl100k_base" && cl100k ? cl100k : o200k;
}
