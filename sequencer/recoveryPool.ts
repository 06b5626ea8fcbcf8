/**
 * Signer recovery on worker threads, so the sequencer's main thread (HTTP, engine, journal) and
 * the other core both recover signatures. Recovery is ~90 µs of libsecp256k1 per order, the
 * largest cost of an order on the main thread (docs/performance.md).
 *
 * Items are the batch-item bytes (sdk/protocol.ts `encodeItem`); a worker decodes one, computes
 * its EIP-712 digest (TxDigester) and recovers the signer (ecrecoverUncached): exactly what
 * `recoverSigner` computes on the main thread, checked against viem in test/recoveryPool.test.ts.
 * Requests made in the same event-loop turn travel as one message per worker, because a
 * message costs about as much as a recovery.
 *
 * Answers come back per job, possibly out of arrival order across workers; callers that need
 * arrival order (the sequencer) keep it themselves. Every answer is also recorded in the
 * ecrecover memo (executor/vm/ecrecover.ts), so the engine's host call does not recover again.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { type Address, bytesToHex, getAddress } from 'viem'
import { ecrecoverUncached, rememberRecovery } from '../executor/vm/ecrecover.js'
import { ITEM_DELAYED, decodeItem, itemSignature } from '../sdk/protocol.js'
import { TxDigester } from './digest.js'
import { stopWorker, tsWorker } from '../executor/tsWorker.js'

/** Many items packed in one buffer: item i is bytes[ends[i-1] .. ends[i]). */
export interface RecoveryJob {
  id: number
  bytes: Uint8Array
  ends: Uint32Array
  /** Also checksum the signers (a keccak each): the sequencer replies with them, derivation does not. */
  addresses: boolean
}

export const RecoveryStatus = {
  /** The signature is valid and `signers` holds its 20-byte signer. */
  OK: 1,
  /** A signed item whose signature recovers no signer (bad v, high s, not on the curve). */
  BAD_SIGNATURE: 2,
  /** Not a signed item (DELAYED, unknown type, truncated): nothing to recover. */
  UNSIGNED: 3,
} as const

/**
 * digests: 32 bytes per item; signers: 20 per item; status: a RecoveryStatus per item; addresses:
 * the checksummed signers (checksumming is a keccak too, so it is done off the main thread as well).
 */
export interface RecoveryAnswer { id: number; digests: Uint8Array; signers: Uint8Array; status: Uint8Array; addresses: (Address | null)[] }

export interface Recovered {
  /** The EIP-712 digest the item's signature signs. */
  digest: Uint8Array
  /** The recovered signer (checksummed; unless addresses were not asked for), undefined for an invalid signature. */
  signer?: Address
  /** The recovered signer's 20 bytes, undefined for an invalid signature. */
  signerBytes?: Uint8Array
}

/** Decodes, digests and recovers every item of a job; never throws for a bad item. */
export function recoverItems(digester: TxDigester, job: RecoveryJob): RecoveryAnswer {
  const n = job.ends.length
  const out: RecoveryAnswer = { id: job.id, digests: new Uint8Array(32 * n), signers: new Uint8Array(20 * n), status: new Uint8Array(n), addresses: new Array<Address | null>(n).fill(null) }
  let start = 0
  for (let i = 0; i < n; i++) {
    const end = job.ends[i]!
    const item = job.bytes.subarray(start, end)
    start = end
    let decoded: ReturnType<typeof decodeItem> | undefined
    try {
      decoded = item[0] === ITEM_DELAYED ? undefined : decodeItem(item)
    } catch {
      decoded = undefined
    }
    if (!decoded || !('tx' in decoded) || decoded.length !== item.length) {
      out.status[i] = RecoveryStatus.UNSIGNED
      continue
    }
    const digest = digester.digest(decoded.tx)
    out.digests.set(digest, 32 * i)
    const signer = ecrecoverUncached(digest, itemSignature(item))
    if (signer) {
      out.signers.set(signer, 20 * i)
      if (job.addresses) out.addresses[i] = getAddress(bytesToHex(signer))
    }
    out.status[i] = signer ? RecoveryStatus.OK : RecoveryStatus.BAD_SIGNATURE
  }
  return out
}

/** Per-turn requests up to this many are recovered on the calling thread when no worker is busy. */
const INLINE_MAX = 2

interface Waiting { items: Uint8Array[]; addresses: boolean; resolve: (r: (Recovered | undefined)[]) => void; reject: (e: Error) => void }

interface Thread { worker: Worker; inFlight: Map<number, Waiting>; items: number; started: Promise<void> }

export interface RecoveryPoolOptions {
  chainId: number
  /** Worker threads; 0 recovers on the calling thread (same answers, no parallelism). Default: one per core. */
  threads?: number
  /** Nice value of the threads (executor/tsWorker.ts); default 0. */
  nice?: number
  log?: (line: string) => void
}

export class RecoveryPool {
  private readonly digester: TxDigester
  private readonly threads: Thread[] = []
  private pending: { item: Uint8Array; resolve: (r: Recovered | undefined) => void; reject: (e: Error) => void }[] = []
  private scheduled = false
  private nextId = 1
  private closed = false
  private readonly log: (line: string) => void

  constructor(readonly opts: RecoveryPoolOptions) {
    this.digester = new TxDigester(opts.chainId)
    this.log = opts.log ?? (() => {})
    const n = opts.threads ?? availableParallelism()
    for (let i = 0; i < n; i++) this.threads.push(this.spawn())
  }

  /** Worker threads alive. */
  get size(): number {
    return this.threads.length
  }

  private spawn(): Thread {
    const worker = tsWorker(new URL('./recoveryWorker.ts', import.meta.url), { chainId: this.opts.chainId }, { nice: this.opts.nice })
    worker.unref()
    let started!: () => void
    const t: Thread = { worker, inFlight: new Map(), items: 0, started: new Promise((r) => (started = r)) }
    worker.on('message', (a: RecoveryAnswer | { ready: true }) => {
      if ('ready' in a) return started()
      const w = t.inFlight.get(a.id)
      if (!w) return
      t.inFlight.delete(a.id)
      t.items -= w.items.length
      w.resolve(this.accept(w.items, a))
    })
    const lost = (why: string) => {
      const i = this.threads.indexOf(t)
      if (i < 0) return
      this.threads.splice(i, 1)
      if (!this.closed) this.log(`recovery pool: a worker thread stopped (${why}); ${this.threads.length} left, its ${t.inFlight.size} job(s) run again`)
      // Its jobs are answered by the remaining threads (or this one): recovery is pure, so
      // running a job twice is harmless.
      for (const w of t.inFlight.values()) this.run(w)
      t.inFlight.clear()
    }
    worker.on('error', (e) => lost(e.message))
    worker.on('exit', (code) => {
      started()
      lost(`exit code ${code}`)
    })
    return t
  }

  /**
   * Resolves once every thread has loaded its code (about a second each, more on a busy
   * machine); jobs sent before that just wait in the thread's queue.
   */
  async ready(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.started))
  }

  /** Turns an answer into results, and records each recovery in the ecrecover memo. */
  private accept(items: Uint8Array[], a: RecoveryAnswer): (Recovered | undefined)[] {
    return items.map((item, i) => {
      const status = a.status[i]
      if (status === RecoveryStatus.UNSIGNED) return undefined
      const digest = a.digests.slice(32 * i, 32 * i + 32)
      const signer = status === RecoveryStatus.OK ? a.signers.slice(20 * i, 20 * i + 20) : undefined
      rememberRecovery(digest, itemSignature(item), signer)
      return { digest, signer: a.addresses[i] ?? undefined, signerBytes: signer }
    })
  }

  private pack(items: Uint8Array[], addresses: boolean): RecoveryJob {
    const ends = new Uint32Array(items.length)
    let total = 0
    items.forEach((it, i) => (ends[i] = total += it.length))
    const bytes = new Uint8Array(total)
    let o = 0
    for (const it of items) {
      bytes.set(it, o)
      o += it.length
    }
    return { id: this.nextId++, bytes, ends, addresses }
  }

  /** Sends a job to the least-loaded thread, or runs it here when there is none. */
  private run(w: Waiting) {
    const job = this.pack(w.items, w.addresses)
    const t = this.threads.reduce<Thread | undefined>((best, x) => (!best || x.items < best.items ? x : best), undefined)
    if (!t) {
      try {
        w.resolve(this.accept(w.items, recoverItems(this.digester, job)))
      } catch (e) {
        w.reject(e as Error)
      }
      return
    }
    t.inFlight.set(job.id, w)
    t.items += w.items.length
    t.worker.postMessage(job, [job.bytes.buffer as ArrayBuffer, job.ends.buffer as ArrayBuffer])
  }

  /** Splits `items` into one job per thread (small lists go to one thread whole). */
  private dispatch(items: Uint8Array[], addresses: boolean): Promise<(Recovered | undefined)[]> {
    const parts = Math.max(1, Math.min(this.threads.length, Math.floor(items.length / 4)))
    const size = Math.ceil(items.length / parts)
    const jobs: Promise<(Recovered | undefined)[]>[] = []
    for (let i = 0; i < items.length; i += size) {
      const chunk = items.slice(i, i + size)
      jobs.push(new Promise((resolve, reject) => this.run({ items: chunk, addresses, resolve, reject })))
    }
    return Promise.all(jobs).then((r) => r.flat())
  }

  /**
   * The digest and signer of one signed item (undefined for an item that is not a signed
   * transaction). Requests of the same event-loop turn are sent together.
   */
  recover(item: Uint8Array): Promise<Recovered | undefined> {
    if (this.closed) return Promise.reject(new Error('the recovery pool is closed'))
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush() {
    this.scheduled = false
    const pending = this.pending
    this.pending = []
    if (!pending.length) return
    // At low load (a request or two per turn, no thread busy) this thread has time to spare,
    // and a hand-off would add a thread wake-up to the reply's latency: recover here.
    if (pending.length <= INLINE_MAX && this.threads.every((t) => t.items === 0)) {
      const r = this.accept(pending.map((p) => p.item), recoverItems(this.digester, this.pack(pending.map((p) => p.item), true)))
      pending.forEach((p, i) => p.resolve(r[i]))
      return
    }
    this.dispatch(pending.map((p) => p.item), true).then(
      (r) => pending.forEach((p, i) => p.resolve(r[i])),
      (e: Error) => pending.forEach((p) => p.reject(e)),
    )
  }

  /**
   * Recovers many items at once (a batch read from L1), split across the threads. Without
   * `addresses` the results carry no signer, only their recording in the ecrecover memo.
   */
  recoverMany(items: Uint8Array[], opts: { addresses?: boolean } = {}): Promise<(Recovered | undefined)[]> {
    if (this.closed) return Promise.reject(new Error('the recovery pool is closed'))
    return items.length ? this.dispatch(items, opts.addresses ?? true) : Promise.resolve([])
  }

  async close() {
    this.closed = true
    const threads = this.threads.splice(0)
    // Whatever is still in flight is answered here, so no caller waits forever.
    for (const t of threads) {
      for (const w of t.inFlight.values()) this.run(w)
      t.inFlight.clear()
    }
    await Promise.all(threads.map((t) => stopWorker(t.worker)))
  }
}
