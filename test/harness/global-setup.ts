import type { TestProject } from "vitest/node";
import { type RedisServer, startRedisServer } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let server: RedisServer | undefined;

/**
 * One Redis for the whole run: REDIS_URL when given, else a redis-server of our own on a free port. Tests that
 * break Redis on purpose start their own with startRedisServer().
 */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.REDIS_URL) {
    project.provide("redisUrl", process.env.REDIS_URL);
    return;
  }
  server = await startRedisServer();
  project.provide("redisUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
