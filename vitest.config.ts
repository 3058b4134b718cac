import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const core = fileURLToPath(new URL("./packages/core/src/index.ts", import.meta.url));

export default defineConfig({
  resolve: {
    alias: [{ find: /^@llmratelimiter\/core$/, replacement: core }],
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/harness/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machines have 2 cores; real-Redis timing tests are calmer with few workers.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
