#!/usr/bin/env node
// After `pnpm build`: every package's published entry points load in both module systems and export what the
// README promises (the exports map, not the sources the tests use).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const expected = {
  core: [
    "RateLimiter",
    "RedisConnectionManager",
    "MemoryStore",
    "nodeRedisAdapter",
    "Reservation",
    "InvalidArgumentError",
  ],
  openai: ["withRateLimit"],
  anthropic: ["withRateLimit"],
  vertex: ["withRateLimit"],
  bedrock: ["withRateLimit"],
};
let failed = 0;
for (const [name, names] of Object.entries(expected)) {
  const dir = new URL(`../packages/${name}/`, import.meta.url);
  const pkg = require(new URL("package.json", dir).pathname);
  const esm = await import(new URL(pkg.exports["."].import.default, dir).href);
  const cjs = require(new URL(pkg.exports["."].require.default, dir).pathname);
  for (const n of names) {
    for (const [kind, mod] of [
      ["esm", esm],
      ["cjs", cjs],
    ]) {
      if (mod[n] === undefined) {
        console.error(`@llmratelimiter/${name} (${kind}) does not export ${n}`);
        failed++;
      }
    }
  }
}
if (failed) process.exit(1);
console.log(`dist smoke: ${Object.keys(expected).length} packages load as ESM and CJS`);
