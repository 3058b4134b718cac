export { analyzeTimeline, type TimelineReport, type UsagePoint, usageSeries } from "./analysis.js";
export { BEDROCK_DEFAULT_MAX_TOKENS, encodeEvent } from "./providers/bedrock.js";
export { startSimulator } from "./simulator.js";
export type { Provider, SimLimits, SimStats, Simulator, SimulatorOptions, TimelineEntry } from "./types.js";
