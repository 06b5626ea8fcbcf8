/**
 * The thread side of executor/executorThread.ts: owns a BatchExecutor and answers one message
 * at a time, so batches run in the order they were sent.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { BatchExecutor, type BatchInput, type EngineState } from './batchExecutor.js'
import type { GenesisConfig } from '../sdk/protocol.js'
import { isStopMessage } from './tsWorker.js'

export type ToExecutor =
  | { id: number; delayed: Uint8Array[]; batches: BatchInput[] }
  | { id: number; restore: { delayedCount: number; state?: EngineState } }

const { genesis, recoveryThreads, nice } = workerData as { genesis: GenesisConfig; recoveryThreads: number; nice: number }

try {
  // Its recovery threads get this thread's priority.
  const executor = await BatchExecutor.create(genesis, recoveryThreads, nice)
  let queue = Promise.resolve()
  parentPort!.on('message', (m: ToExecutor) => {
    queue = queue.then(async () => {
      if (isStopMessage(m)) {
        await executor.close() // its recovery threads stop between jobs too
        process.exit(0)
      }
      if ('restore' in m) {
        const error = await executor.restore(m.restore.delayedCount, m.restore.state).then(() => undefined, (e: Error) => e.message)
        parentPort!.postMessage({ id: m.id, result: { done: [], error } })
        return
      }
      executor.addDelayed(m.delayed)
      const result = await executor.execute(m.batches)
      const transfer = result.done.map((b) => b.before.memory.buffer as ArrayBuffer)
      parentPort!.postMessage({ id: m.id, result }, transfer)
    })
  })
  parentPort!.postMessage({ ready: executor.genesisRoots })
} catch (e) {
  parentPort!.postMessage({ failed: (e as Error).message })
}
