/**
 * Finds a Redis for BullMQ: REDIS_URL if set, else one answering on 127.0.0.1:6379, else a
 * `redis-server` from PATH started on a free port (stopped with the returned handle).
 */
import { spawn, spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { freePort } from '../contracts/anvil.js'

export interface RedisHandle { url: string; started: boolean; stop(): Promise<void> }

export class RedisUnavailableError extends Error {
  constructor(detail: string) {
    super(`no Redis available (${detail}): install it with \`apt-get install redis-server\` (or set REDIS_URL=redis://host:port)`)
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

export async function ensureRedis(log: (s: string) => void = () => {}): Promise<RedisHandle> {
  const fromEnv = process.env.REDIS_URL
  if (fromEnv) {
    if (await answers(fromEnv)) return { url: fromEnv, started: false, stop: async () => {} }
    throw new RedisUnavailableError(`REDIS_URL=${fromEnv} does not answer`)
  }
  const local = 'redis://127.0.0.1:6379'
  if (await answers(local)) return { url: local, started: false, stop: async () => {} }
  if (spawnSync('redis-server', ['--version']).error) throw new RedisUnavailableError('nothing on 127.0.0.1:6379 and no redis-server on PATH')
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 100 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 50))
  if (!(await answers(url))) {
    child.kill('SIGKILL')
    throw new RedisUnavailableError(`redis-server on port ${port} did not start`)
  }
  log(`started redis-server on ${url}`)
  return {
    url,
    started: true,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    }),
  }
}

/** BullMQ connection options for a redis:// URL. */
export function bullConnection(url: string) {
  const u = new URL(url)
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    password: u.password || undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    maxRetriesPerRequest: null,
  }
}
