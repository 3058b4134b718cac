import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the built packages are checked by the build and the package smoke test.
    alias: ["core", "openai", "anthropic", "vertex", "bedrock"].map((name) => ({
      find: new RegExp(`^@llmratelimiter/${name}$`),
      replacement: src(name),
    })),
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/harness/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machines have 2 cores; real-Redis timing tests are calmer with few workers.
    maxWorkers: 2,
    reporters: ["default", "./test/harness/summary-reporter.ts"],
  },
});
