/**
 * State roots of closed batches on a worker thread: hashing the engine memory's Merkle tree takes
 * ~10 ms per batch, which on the main thread stalls every request behind it. Snapshots must be
 * sent in batch order (the thread's tree is incremental); answers come back in that order.
 */
import type { Worker } from 'node:worker_threads'
import { BACKGROUND_NICE, stopWorker, tsWorker } from '../executor/tsWorker.js'
import type { StateRoots, StateSnapshot } from './stateSnapshot.js'

export class RootThread {
  private readonly worker: Worker
  private readonly waiting = new Map<number, { resolve: (r: StateRoots) => void; reject: (e: Error) => void }>()
  private nextId = 1
  private dead?: Error
  /** Resolves once the thread has loaded its code. */
  readonly ready: Promise<void>

  constructor() {
    this.worker = tsWorker(new URL('./rootWorker.ts', import.meta.url), {}, { nice: BACKGROUND_NICE })
    this.worker.unref()
    let started!: () => void
    this.ready = new Promise((r) => (started = r))
    this.worker.on('message', (m: { id: number; roots: StateRoots } | { ready: true }) => {
      if ('ready' in m) return started()
      const w = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      w?.resolve(m.roots)
    })
    const fail = (e: Error) => {
      this.dead ??= e
      for (const w of this.waiting.values()) w.reject(e)
      this.waiting.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => {
      started()
      fail(new Error(`the state-root thread exited (code ${code})`))
    })
  }

  /** The roots of `snapshot` at `position` (copied to the thread: the caller keeps it, to fall back on). */
  compute(snapshot: StateSnapshot, position: bigint): Promise<StateRoots> {
    if (this.dead) return Promise.reject(this.dead)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.worker.postMessage({ id, snapshot, position })
    })
  }

  async close() {
    this.dead ??= new Error('the state-root thread was closed')
    await stopWorker(this.worker)
  }
}
