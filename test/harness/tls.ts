/**
 * TLS and ACL Redis servers for security tests. Certificates are made at test time with `openssl` in a temp dir:
 * a CA, a server certificate it signs (SAN 127.0.0.1 and localhost), and an unrelated CA for the failure cases.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { freePort, hasRedisServerBinary, type RedisServer, startRedisServer } from "./redis-server.js";

const run = promisify(execFile);

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether redis-server was built with TLS (Debian's 7.0 is: it links libssl). Builds without it reject --tls-port. */
export function hasTlsRedis(): boolean {
  if (!hasRedisServerBinary() || !hasOpenssl()) return false;
  try {
    const binary = execFileSync("sh", ["-c", "command -v redis-server"]).toString().trim();
    return /libssl/.test(execFileSync("ldd", [binary]).toString());
  } catch {
    return false;
  }
}

export interface Certificates {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** PEM text of the CA that signed the server certificate. */
  readonly ca: string;
  /** PEM text of a CA that did not. */
  readonly otherCa: string;
  remove(): void;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir, timeout: 30_000 });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function makeCertificates(): Promise<Certificates> {
  const dir = mkdtempSync(join(tmpdir(), "llmrl-tls-"));
  for (const name of ["ca", "other-ca"]) {
    await openssl(dir, [
      "req",
      "-x509",
      "-new",
      ...EC_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=llmratelimiter test ${name}`,
    ]);
  }
  await openssl(dir, [
    "req",
    "-new",
    ...EC_KEY,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ]);
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    otherCa: readFileSync(join(dir, "other-ca.crt"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsRedisServer {
  readonly server: RedisServer;
  readonly tlsPort: number;
  /** `rediss://127.0.0.1:<tlsPort>` */
  readonly url: string;
  stop(): Promise<void>;
}

/** redis-server with TLS only (`--port 0`) and no client certificates required. */
export async function startTlsRedisServer(certs: Certificates, extraArgs: string[] = []): Promise<TlsRedisServer> {
  const tlsPort = await freePort();
  const server = await startRedisServer({
    args: [
      "--port",
      "0",
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      certs.serverCert,
      "--tls-key-file",
      certs.serverKey,
      "--tls-ca-cert-file",
      certs.caCert,
      "--tls-auth-clients",
      "no",
      ...extraArgs,
    ],
    pingPort: null,
  });
  await waitForTlsPing(tlsPort, certs.ca);
  return { server, tlsPort, url: `rediss://127.0.0.1:${tlsPort}`, stop: () => server.stop() };
}

async function waitForTlsPing(port: number, ca: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, ca, timeout: 500 }, () => socket.write("PING\r\n"));
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.once("timeout", () => done(false));
      socket.once("error", () => done(false));
      socket.once("data", (data) => done(/^\+PONG|NOAUTH/.test(data.toString())));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`TLS redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

export interface AclUser {
  name: string;
  password: string;
  /** ACL rules after `on >password`, e.g. ["resetchannels", "~{llmrl:*", "&{llmrl:*", "-@all", "+evalsha"]. */
  rules: string[];
}

export interface AclRedisServer {
  readonly server: RedisServer;
  readonly port: number;
  /** `redis://name:password@127.0.0.1:port` */
  urlFor(user: string, password: string): string;
  stop(): Promise<void>;
}

/** redis-server whose users come from an ACL file; the default user is off. */
export async function startAclRedisServer(users: AclUser[]): Promise<AclRedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "llmrl-acl-"));
  const file = join(dir, "users.acl");
  const lines = ["user default off", ...users.map((u) => `user ${u.name} on >${u.password} ${u.rules.join(" ")}`)];
  writeFileSync(file, `${lines.join("\n")}\n`);
  const server = await startRedisServer({ args: ["--aclfile", file] });
  return {
    server,
    port: server.port,
    urlFor: (user, password) =>
      `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${server.port}`,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CountingProxy {
  readonly port: number;
  /** TCP connections accepted so far: every connect or reconnect attempt of a client behind the proxy. */
  connections(): number;
  close(): Promise<void>;
}

/** A byte-for-byte TCP proxy on 127.0.0.1 that counts connection attempts (TLS passes through untouched). */
export async function countingProxy(targetPort: number): Promise<CountingProxy> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    count++;
    const upstream = netConnect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
