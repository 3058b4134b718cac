/** The bare model id limiters are chosen by: "publishers/google/models/gemini-2.5-pro" → "gemini-2.5-pro". */
export function bareModel(model: unknown): string {
  if (typeof model !== "string") return "";
  const slash = model.lastIndexOf("/");
  return slash === -1 ? model : model.slice(slash + 1);
}
