/**
 * Starts a worker thread running a TypeScript module of this project (through
 * executor/tsWorker.mjs); `data` reaches it as workerData. Stop one with stopWorker, never with
 * worker.terminate() alone (see there).
 */
import { Worker } from 'node:worker_threads'

/** Nice value of background threads (Linux): they get the CPU the request path leaves over. */
export const BACKGROUND_NICE = 10

/** How long stopWorker waits for a thread to finish its current message before terminating it. */
const STOP_TIMEOUT_MS = 15_000

const exited = new WeakSet<Worker>()

/** @param opts.nice a nice value for the thread (e.g. BACKGROUND_NICE); Linux only, best effort */
export function tsWorker(entry: URL, data: Record<string, unknown>, opts: { nice?: number } = {}): Worker {
  const worker = new Worker(new URL('./tsWorker.mjs', import.meta.url), { workerData: { ...data, entry: entry.href, nice: opts.nice ?? 0 } })
  worker.once('exit', () => exited.add(worker))
  return worker
}

/** The message that asks a thread to stop; each entry answers it by exiting between messages. */
export const STOP_MESSAGE = { stop: true } as const

/** Whether a message a thread received is STOP_MESSAGE. */
export function isStopMessage(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { stop?: unknown }).stop === true
}

/**
 * Asks a thread to stop once it has finished the message it is on, and resolves when it has
 * exited. worker.terminate() stops a thread wherever it is: inside a call into the secp256k1
 * addon, the addon's error (its bindings use C++ exceptions) cannot be thrown into a stopping
 * thread, and std::terminate aborts the whole process (seen in CI: "terminate called after
 * throwing an instance of 'Napi::Error'"). terminate() is kept as the fallback for a thread that
 * does not answer within STOP_TIMEOUT_MS.
 */
export async function stopWorker(worker: Worker): Promise<void> {
  if (exited.has(worker)) return
  const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  worker.postMessage(STOP_MESSAGE)
  const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS)
  try {
    await gone
  } finally {
    clearTimeout(timer)
  }
}
