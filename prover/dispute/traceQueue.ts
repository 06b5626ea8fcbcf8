/**
 * Trace work on Redis (BullMQ): the machine hashes of a bisection move are computed by workers
 * that can run in this process, as separate `veridex worker` processes, or on other machines
 * with the same engine build.
 *
 * A task (traceTask.ts) is stored once under its content key; each job asks for the hashes at a
 * few points of it. Tasks and jobs are pure functions of their content, so several rollups may
 * share the queue and a retried job cannot do harm. Workers keep their last traces in memory, so
 * the next round's points re-run from a checkpoint, not from the start.
 */
import { type ConnectionOptions, Queue, QueueEvents, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import type { Hex } from 'viem'
import type { Program } from '../../executor/vm/program.js'
import { AssertionTrace } from './assertionTrace.js'
import { type TraceTask, decodeTraceTask, encodeTraceTask } from './traceTask.js'

export const TRACE_QUEUE = 'veridex-trace'
/** Tasks are kept a day: longer than any dispute's clocks on a devnet; re-stored on every use. */
const TASK_TTL_SECONDS = 24 * 3600
const taskKey = (key: Hex) => `veridex:trace-task:${key}`

export interface TraceJob { task: Hex; points: string[] }
export interface TraceJobResult { hashes: Hex[]; ms: number; worker: string }

export interface TraceQueueOptions {
  redisUrl: string
  /** Jobs a move is split into (at most one per point); default 4. */
  parallelism?: number
  /** Gives up on a move's hashes after this long; default 10 minutes. */
  timeoutMs?: number
}

/** The producer side: stores tasks and fans a move's points out to workers. */
export class TraceQueue {
  private readonly redis: Redis
  private readonly queue: Queue<TraceJob, TraceJobResult>
  private readonly events: QueueEvents
  constructor(private readonly opts: TraceQueueOptions) {
    const connection: ConnectionOptions = { url: opts.redisUrl }
    this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: null })
    this.queue = new Queue(TRACE_QUEUE, { connection })
    this.events = new QueueEvents(TRACE_QUEUE, { connection })
    // Redis may go away and come back (clients reconnect on their own); unhandled, each failed
    // reconnect would print a stack trace
    this.redis.on('error', () => {})
    this.queue.on('error', () => {})
    this.events.on('error', () => {})
  }

  /** Stores a task; returns its key. */
  async put(task: TraceTask): Promise<Hex> {
    const { key, bytes } = encodeTraceTask(task)
    await this.redis.set(taskKey(key), Buffer.from(bytes), 'EX', TASK_TTL_SECONDS)
    return key
  }

  /** The hashes at `points` of task `key`, computed by the workers in `parallelism` jobs. */
  async hashes(key: Hex, points: readonly bigint[], onProgress?: (done: number, total: number) => void): Promise<Hex[]> {
    await this.redis.expire(taskKey(key), TASK_TTL_SECONDS)
    await this.events.waitUntilReady()
    const parts = Math.max(1, Math.min(points.length, this.opts.parallelism ?? 4))
    // interleaved, so each job's points spread over the whole segment and the work is even
    const groups: bigint[][] = Array.from({ length: parts }, () => [])
    points.forEach((p, i) => groups[i % parts]!.push(p))
    let done = 0
    const results = await Promise.all(groups.map(async (g) => {
      const job = await this.queue.add('hashes', { task: key, points: g.map(String) }, { attempts: 3, removeOnComplete: 100, removeOnFail: 100 })
      const r = await job.waitUntilFinished(this.events, this.opts.timeoutMs ?? 600_000)
      done += g.length
      onProgress?.(done, points.length)
      return r
    }))
    const out: Hex[] = new Array(points.length)
    groups.forEach((g, gi) => g.forEach((_, j) => { out[gi + j * parts] = results[gi]!.hashes[j]! }))
    return out
  }

  async close() {
    await Promise.all([this.queue.close(), this.events.close()])
    this.redis.disconnect()
  }
}

export interface TraceWorkerOptions {
  redisUrl: string
  program: Program
  /** Jobs run at once in this process (each is CPU-bound: one per core); default 1. */
  concurrency?: number
  /** Traces kept in memory; default 4. */
  keep?: number
  name?: string
  log?: (line: string) => void
}

/** The consumer side: `veridex worker` runs one; the challenger and the proposer run one in process. */
export class TraceWorker {
  private readonly redis: Redis
  private readonly worker: Worker<TraceJob, TraceJobResult>
  private readonly traces = new Map<Hex, AssertionTrace>()
  readonly name: string

  constructor(private readonly opts: TraceWorkerOptions) {
    this.name = opts.name ?? `worker-${process.pid}`
    this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: null })
    this.worker = new Worker(TRACE_QUEUE, (job) => this.run(job.data, (p) => job.updateProgress(p)), {
      connection: { url: opts.redisUrl },
      concurrency: opts.concurrency ?? 1,
      // a job is CPU-bound on the event loop; a long one must not lose its lock and run twice
      lockDuration: 300_000,
    })
    this.worker.on('failed', (job, e) => opts.log?.(`${this.name}: job ${job?.id} failed: ${e.message}`))
    let down = false // one line per outage, not one per reconnect attempt
    const onError = (e: Error) => {
      if (!down) opts.log?.(`${this.name}: Redis unreachable, retrying: ${e.message.split('\n')[0]}`)
      down = true
    }
    this.redis.on('error', onError)
    this.worker.on('error', onError)
    this.redis.on('ready', () => (down = false))
  }

  private async trace(key: Hex): Promise<AssertionTrace> {
    let t = this.traces.get(key)
    if (t) {
      this.traces.delete(key)
      this.traces.set(key, t) // most recently used last
      return t
    }
    const bytes = await this.redis.getBuffer(taskKey(key))
    if (!bytes) throw new Error(`trace task ${key} is not in Redis (expired, or another Redis)`)
    t = new AssertionTrace(this.opts.program, decodeTraceTask(new Uint8Array(bytes)))
    this.traces.set(key, t)
    while (this.traces.size > (this.opts.keep ?? 4)) this.traces.delete(this.traces.keys().next().value!)
    return t
  }

  private async run(job: TraceJob, progress: (p: number) => Promise<void>): Promise<TraceJobResult> {
    const t0 = performance.now()
    const t = await this.trace(job.task)
    const points = job.points.map(BigInt)
    const hashes: Hex[] = []
    // ascending, so each point re-runs from the checkpoint the previous one left behind
    const order = points.map((p, i) => ({ p, i })).sort((a, b) => (a.p < b.p ? -1 : a.p > b.p ? 1 : 0))
    for (const { p, i } of order) {
      hashes[i] = t.hashAt(p)
      await progress(Math.round((100 * (hashes.filter(Boolean).length)) / points.length))
    }
    const ms = performance.now() - t0
    this.opts.log?.(`${this.name}: ${points.length} hashes of task ${job.task.slice(0, 10)}… in ${ms.toFixed(0)} ms`)
    return { hashes, ms, worker: this.name }
  }

  async close() {
    await this.worker.close()
    this.redis.disconnect()
  }
}
