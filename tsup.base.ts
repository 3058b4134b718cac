import { defineConfig } from "tsup";

/** The one build every package shares (run from the package's folder): ESM + CJS + .d.ts from src/index.ts. */
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  tsconfig: "tsconfig.build.json",
});
