import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LoadReport, Scenario } from "./run.js";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));

/** The simulators take any key: a Bedrock bearer token (even an empty one) would switch the SDK off SigV4. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.AWS_BEARER_TOKEN_BEDROCK;
  return env;
}

/** Long-lived load processes (spawning per run would cost more than a short run takes). */
export class LoadPool {
  #children: ChildProcess[] = [];
  #next = 0;

  static async start(size: number): Promise<LoadPool> {
    const pool = new LoadPool();
    await Promise.all(
      Array.from({ length: size }, async () => {
        const child = fork(CHILD, [], {
          execArgv: ["--conditions=llmratelimiter-source", "--import", "tsx", "--no-warnings"],
          stdio: ["ignore", "inherit", "inherit", "ipc"],
          env: childEnv(),
        });
        await new Promise<void>((resolve, reject) => {
          child.once("error", reject);
          child.once("exit", (code) => reject(new Error(`load process exited with ${code}`)));
          child.on("message", (m: { type?: string }) => {
            if (m.type === "ready") resolve();
          });
        });
        child.removeAllListeners("exit");
        pool.#children.push(child);
      }),
    );
    return pool;
  }

  get size(): number {
    return this.#children.length;
  }

  /** Runs one scenario per process (the function gives each its part) and collects the reports. */
  run(part: (index: number) => Scenario, onTick?: (status: string) => void): Promise<LoadReport[]> {
    return Promise.all(
      this.#children.map(
        (child, index) =>
          new Promise<LoadReport>((resolve, reject) => {
            const id = this.#next++;
            const listener = (m: {
              type: string;
              id?: number;
              report?: LoadReport;
              error?: string;
              status?: string;
            }) => {
              if (m.type === "tick" && onTick) onTick(m.status ?? "");
              if (m.id !== id) return;
              child.off("message", listener);
              if (m.type === "report") resolve(m.report!);
              else reject(new Error(m.error));
            };
            child.on("message", listener);
            child.send({ type: "run", id, scenario: part(index), ticks: onTick !== undefined });
          }),
      ),
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.send({ type: "exit" });
          }),
      ),
    );
  }
}
