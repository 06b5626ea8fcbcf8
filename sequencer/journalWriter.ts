/**
 * Journal commits on a worker thread. A commit's fsync takes milliseconds (5–10 ms on the bench
 * machine's disk), and on the main thread every request waits behind it; here the engine keeps
 * executing the next group while the previous one is being made durable. Nothing is acknowledged
 * before its commit returns (callers reply from `onDurable`), and commits happen in the order
 * writes were sent.
 *
 * `drain()` waits synchronously (Atomics.wait) until everything sent is durable, for the few
 * callers that must write on the main connection right after (a synchronous closeBatch, close).
 */
import type { Worker } from 'node:worker_threads'
import type { Hex } from 'viem'
import type { WithdrawalRecord } from '../executor/engine/types.js'
import { stopWorker, tsWorker } from '../executor/tsWorker.js'

export type JournalWrite =
  | {
      kind: 'items'
      /** Batches whose first item is in this write: their rows are created first. */
      opens: { batch: number; afterDelayedCount: bigint; timestamp: bigint }[]
      /** Item i is bytes[ends[i-1] .. ends[i]), in batch batches[i]. */
      batches: number[]
      bytes: Uint8Array
      ends: Uint32Array
    }
  | { kind: 'close'; index: number; data: Uint8Array; roots: { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex }; withdrawals: WithdrawalRecord[] }
  | { kind: 'posted'; index: number; l1Tx: Hex; l1Block: bigint }

/** How long drain() waits for the thread before declaring it stuck. */
const DRAIN_TIMEOUT_MS = 60_000

/** SQLite's default WAL size (pages) for a checkpoint by the committing connection. */
const DEFAULT_AUTOCHECKPOINT = 1000

export interface CheckpointStats {
  /** Checkpoint rounds that copied frames, and the frames they copied. */
  rounds: number
  frames: number
  failures: number
}

export class JournalWriter {
  private readonly worker: Worker
  /** Copies the WAL into the database file off the commit path (sequencer/checkpointWorker.ts). */
  private readonly checkpointer: Worker
  readonly checkpoints: CheckpointStats = { rounds: 0, frames: 0, failures: 0 }
  private closing = false
  /** [0]: the last committed write id; [1]: 1 once a commit failed. */
  private readonly progress: Int32Array
  private readonly pending: { id: number; onDurable: () => void }[] = []
  private nextId = 1
  private failure?: string

  private constructor(worker: Worker, checkpointer: Worker, progress: Int32Array, private readonly onFatal: (why: string) => void, log: (line: string) => void) {
    this.worker = worker
    this.checkpointer = checkpointer
    this.progress = progress
    checkpointer.on('message', (m: { checkpointed?: number; failed?: string }) => {
      if (m.checkpointed) {
        this.checkpoints.rounds++
        this.checkpoints.frames += m.checkpointed
      } else if (m.failed) this.checkpoints.failures++
    })
    // Without that thread the WAL would only grow: the journal thread checkpoints again itself.
    checkpointer.on('exit', (code) => {
      if (this.closing) return
      log(`journal: the checkpoint thread stopped (code ${code}); commits checkpoint the WAL themselves again`)
      worker.postMessage({ autocheckpoint: DEFAULT_AUTOCHECKPOINT })
    })
    checkpointer.on('error', () => {})
    worker.on('message', (m: { committed?: number; failed?: string }) => {
      if (m.failed) this.fail(`journal commit failed: ${m.failed}`)
      else if (m.committed) this.release(m.committed)
    })
    worker.on('error', (e) => this.fail(`journal thread failed: ${e.message}`))
    worker.on('exit', (code) => {
      if (this.pending.length) this.fail(`journal thread exited (code ${code}) with ${this.pending.length} write(s) not durable`)
    })
  }

  /** Starts the thread on the journal file (its tables must exist: open the main Journal first). */
  static async start(path: string, onFatal: (why: string) => void, log: (line: string) => void = () => {}): Promise<JournalWriter> {
    const state = new SharedArrayBuffer(8)
    const worker = tsWorker(new URL('./journalWorker.ts', import.meta.url), { path, state })
    const checkpointer = tsWorker(new URL('./checkpointWorker.ts', import.meta.url), { path })
    const ready = (w: Worker) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve())
      w.once('error', reject)
    })
    await Promise.all([ready(worker), ready(checkpointer)])
    return new JournalWriter(worker, checkpointer, new Int32Array(state), onFatal, log)
  }

  private fail(why: string) {
    if (this.failure) return
    this.failure = why
    this.onFatal(why)
  }

  /** Calls back, in order, every write up to `id` (now durable). */
  private release(id: number) {
    while (this.pending.length && this.pending[0]!.id <= id) this.pending.shift()!.onDurable()
  }

  /** Queues a write; `onDurable` runs once it is committed (after every earlier write's). */
  write(w: JournalWrite, onDurable: () => void) {
    if (this.failure) throw new Error(this.failure)
    const id = this.nextId++
    this.pending.push({ id, onDurable })
    this.worker.postMessage({ id, write: w })
  }

  /** Blocks until every write sent is durable, and runs their callbacks now. */
  drain() {
    const last = this.nextId - 1
    const deadline = Date.now() + DRAIN_TIMEOUT_MS
    for (;;) {
      const done = Atomics.load(this.progress, 0)
      if (done >= last) break
      if (Atomics.load(this.progress, 1) === 1) {
        this.fail('journal commit failed')
        throw new Error('journal commit failed')
      }
      if (Date.now() > deadline) {
        this.fail(`journal thread did not commit within ${DRAIN_TIMEOUT_MS} ms`)
        throw new Error('journal thread stuck')
      }
      Atomics.wait(this.progress, 0, done, 100)
    }
    this.release(last)
  }

  async close() {
    this.closing = true
    this.drain()
    await Promise.all([stopWorker(this.worker), stopWorker(this.checkpointer)])
  }
}
