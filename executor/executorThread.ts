/**
 * A BatchExecutor on its own worker thread: the verifier's VM and engine runs, roots and state
 * snapshots (tens of ms per batch) then never stall the node's event loop, where the sequencer
 * answers requests. Same answers as the in-thread executor: the same code runs there.
 */
import type { Worker } from 'node:worker_threads'
import type { BatchInput, EngineState, ExecuteResult, GenesisRootsInfo } from './batchExecutor.js'
import type { ToExecutor } from './executorWorker.js'
import { stopWorker, tsWorker } from './tsWorker.js'
import type { GenesisConfig } from '../sdk/protocol.js'

export class ExecutorThread {
  private readonly waiting = new Map<number, { resolve: (r: ExecuteResult) => void; reject: (e: Error) => void }>()
  private nextId = 1
  private dead?: Error

  private constructor(private readonly worker: Worker, readonly genesisRoots: GenesisRootsInfo) {
    worker.on('message', (m: { id: number; result: ExecuteResult }) => {
      const w = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      w?.resolve(m.result)
    })
    const fail = (e: Error) => {
      this.dead = e
      for (const w of this.waiting.values()) w.reject(e)
      this.waiting.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the verifier's executor thread exited (code ${code})`)))
  }

  /** @param nice the nice value of the thread and its recovery threads (tsWorker) */
  static async start(genesis: GenesisConfig, recoveryThreads: number, nice = 0): Promise<ExecutorThread> {
    const worker = tsWorker(new URL('./executorWorker.ts', import.meta.url), { genesis, recoveryThreads }, { nice })
    const roots = await new Promise<GenesisRootsInfo>((resolve, reject) => {
      worker.once('message', (m: { ready?: GenesisRootsInfo; failed?: string }) =>
        m.ready ? resolve(m.ready) : reject(new Error(`the verifier's executor thread failed to start: ${m.failed}`)))
      worker.once('error', reject)
    })
    return new ExecutorThread(worker, roots)
  }

  /** Hands new delayed messages and batches to the thread; resolves when it has run them. */
  execute(delayed: Uint8Array[], batches: BatchInput[]): Promise<ExecuteResult> {
    if (this.dead) return Promise.reject(this.dead)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.worker.postMessage({ id, delayed, batches } satisfies ToExecutor)
    })
  }

  /** BatchExecutor.restore on the thread; resolves when done, rejects with its error. */
  async restore(delayedCount: number, state?: EngineState): Promise<void> {
    if (this.dead) throw this.dead
    const id = this.nextId++
    const result = await new Promise<ExecuteResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.worker.postMessage({ id, restore: { delayedCount, state } } satisfies ToExecutor)
    })
    if (result.error) throw new Error(result.error)
  }

  async close() {
    this.dead ??= new Error('the verifier was stopped')
    await stopWorker(this.worker)
  }
}
