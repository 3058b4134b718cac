#!/usr/bin/env node
// Runs before the tests: they start their own redis-server processes, so the binary must exist. With REDIS_URL set,
// or a redis-server on PATH, this does nothing; on Debian/Ubuntu as root it installs redis-server; else it explains.
import { execFileSync } from "node:child_process";

const has = (cmd) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
if (has("redis-server") || process.env.REDIS_URL) process.exit(0);
if (has("apt-get") && process.getuid?.() === 0) {
  console.log("redis-server not found: installing it with apt-get (the tests start their own servers)");
  execFileSync(
    "sh",
    [
      "-c",
      "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools openssl",
    ],
    {
      stdio: "inherit",
    },
  );
  process.exit(0);
}
console.error(
  "The tests start their own redis-server processes, and none is on PATH. Install Redis 7 " +
    "(Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to a server the " +
    "tests may use (fault tests then skip), or run where a Docker engine is available (testcontainers).",
);
process.exit(1);
