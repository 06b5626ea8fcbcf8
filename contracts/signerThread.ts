/**
 * Signs large L1 transactions (the poster's ~100 KB batches) on a worker thread. Serializing one
 * twice (RLP over the calldata) and hashing it take ~8 ms even with hash-wasm, all of it on the
 * node's event loop, where every order waiting for its reply sat behind it. One thread per
 * process, started on first use; it holds no native addon, so stopping it anywhere is safe.
 */
import type { Worker } from 'node:worker_threads'
import type { Hex, TransactionSerializable } from 'viem'
import { tsWorker } from '../executor/tsWorker.js'

let thread: SignerThread | undefined

/** The process's signer thread (started on first call). */
export function signerThread(): SignerThread {
  return (thread ??= new SignerThread())
}

export class SignerThread {
  private readonly worker: Worker
  private readonly waiting = new Map<number, { resolve: (s: Hex) => void; reject: (e: Error) => void }>()
  private nextId = 1

  constructor() {
    this.worker = tsWorker(new URL('./signerWorker.ts', import.meta.url), {})
    // Kept alive only while it has work: an idle thread must not hold a CLI process open.
    this.worker.unref()
    this.worker.on('message', (m: { id: number; serialized?: Hex; error?: string }) => {
      const w = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      if (!this.waiting.size) this.worker.unref()
      if (m.serialized) w?.resolve(m.serialized)
      else w?.reject(new Error(`signing an L1 transaction failed: ${m.error}`))
    })
    const fail = (e: Error) => {
      if (thread === this) thread = undefined // the next signature starts a new thread
      for (const w of this.waiting.values()) w.reject(e)
      this.waiting.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(new Error(`the L1 signer thread exited (code ${code})`)))
  }

  /** The signed, serialized transaction, as viem's privateKeyToAccount(key).signTransaction gives it. */
  sign(key: Hex, transaction: TransactionSerializable): Promise<Hex> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.worker.ref()
      this.worker.postMessage({ id, key, transaction })
    })
  }
}
