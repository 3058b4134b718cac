/**
 * Starts real `redis-server` processes on free ports for tests, and can kill, stall (SIGSTOP) and restart them for
 * fault tests. Precedence: a `redis-server` binary on PATH; else, when REDIS_URL is set, that server (shared, so
 * fault tests skip); else testcontainers where a Docker engine answers. No test relies on a server already running.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** False for REDIS_URL / container servers: kill, stall and restart are not available. */
  readonly controllable: boolean;
  /** SIGKILL; the port stays reserved for restart(). */
  kill(): Promise<void>;
  /** SIGSTOP: the server stops answering but keeps its connections. */
  stall(): void;
  /** SIGCONT after stall(). */
  resume(): void;
  /** Starts again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function hasRedisServerBinary(): boolean {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING (plain RESP over a socket, no client library involved). */
export async function waitForPing(port: number, timeoutMs = 10_000, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(500, () => done(false));
      socket.once("error", () => done(false));
      socket.connect(port, host, () => socket.write("PING\r\n"));
      socket.once("data", (data) => done(data.toString().startsWith("+PONG") || data.toString().includes("NOAUTH")));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

export interface StartOptions {
  /** Extra redis-server arguments, e.g. ["--requirepass", "x"]. */
  args?: string[];
  port?: number;
  /** Port the harness pings (TLS-only servers need a plain port too, or pass pingPort: null to skip). */
  pingPort?: number | null;
}

export async function startRedisServer(options: StartOptions = {}): Promise<RedisServer> {
  if (!hasRedisServerBinary()) {
    if (process.env.REDIS_URL) return external(process.env.REDIS_URL);
    return startContainer();
  }
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "llmrl-redis-"));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--logfile",
        "",
        ...(options.args ?? []),
      ],
      { stdio: "ignore" },
    );
    const ping = options.pingPort === undefined ? port : options.pingPort;
    if (ping !== null) await waitForPing(ping);
  };
  const exited = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
    });
  await launch();
  const cleanup = () => child?.kill("SIGKILL");
  process.once("exit", cleanup);
  const kill = async () => {
    child?.kill("SIGCONT");
    child?.kill("SIGKILL");
    await exited();
  };
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    controllable: true,
    kill,
    stall() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      process.off("exit", cleanup);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

function external(url: string): RedisServer {
  const port = Number(new URL(url).port || 6379);
  const unsupported = async () => {
    throw new Error("REDIS_URL servers cannot be killed or restarted by the harness");
  };
  return {
    url,
    port,
    controllable: false,
    kill: unsupported,
    stall: () => {
      throw new Error("REDIS_URL servers cannot be stalled");
    },
    resume: () => {},
    restart: unsupported,
    stop: async () => {},
  };
}

async function startContainer(): Promise<RedisServer> {
  interface Started {
    getMappedPort(port: number): number;
    getHost(): string;
    stop(): Promise<unknown>;
  }
  let tc: {
    GenericContainer: new (image: string) => { withExposedPorts(port: number): { start(): Promise<Started> } };
  };
  try {
    // Optional: only where neither redis-server nor REDIS_URL exists and a Docker engine runs.
    tc = (await import(/* @vite-ignore */ "testcontainers" as string)) as typeof tc;
  } catch {
    throw new Error(
      "No redis-server binary on PATH and no REDIS_URL. Install Redis (Debian/Ubuntu: apt-get install redis-server) " +
        "or set REDIS_URL, or install testcontainers with a running Docker engine.",
    );
  }
  const container = await new tc.GenericContainer("redis:7").withExposedPorts(6379).start();
  const port = container.getMappedPort(6379);
  const url = `redis://${container.getHost()}:${port}`;
  return { ...external(url), stop: async () => void (await container.stop()) };
}
