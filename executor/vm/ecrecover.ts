/**
 * ecrecover for hot paths: libsecp256k1 through the npm `secp256k1` bindings (~25x viem's noble
 * recovery on this machine, DESIGN.md). Semantics follow the engine's host call: v ∈ {27, 28},
 * low-s only (EIP-2), and any failure yields undefined rather than an exception.
 * test/ecrecover.test.ts checks it against viem.
 */
import { createRequire } from 'node:module'
import { keccak } from './keccak.js'

const require = createRequire(import.meta.url)
/** The native binding; never the package's pure-JS fallback, which is slower than noble. */
const secp256k1 = require('secp256k1/bindings') as typeof import('secp256k1')

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * The last answers, keyed by digest ‖ signature. The sequencer recovers a signer to validate a
 * request, then the engine's host call asks again for the same item: recovery is a pure
 * function, and only this function writes the memo, so a hit is exactly what it would compute.
 */
const memo = new Map<string, Uint8Array | undefined>()
const MEMO_SIZE = 4096

const memoKey = (digest: Uint8Array, vrs: Uint8Array) =>
  Buffer.from(digest.buffer, digest.byteOffset, 32).toString('latin1') + Buffer.from(vrs.buffer, vrs.byteOffset, 65).toString('latin1')

/** Recovers the 20-byte signer address of a 32-byte digest from a 65-byte v ‖ r ‖ s signature. */
export function ecrecover(digest: Uint8Array, vrs: Uint8Array): Uint8Array | undefined {
  if (digest.length !== 32 || vrs.length !== 65) return undefined
  const key = memoKey(digest, vrs)
  if (memo.has(key)) return memo.get(key)?.slice()
  const signer = ecrecoverUncached(digest, vrs)
  if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value!)
  memo.set(key, signer)
  return signer?.slice()
}

/**
 * Records an answer `ecrecoverUncached` gave on another thread (sequencer/recoveryPool.ts), so
 * the engine's host call for the same item does not recover again. Only answers of that same
 * pure function may be recorded here: a hit must be exactly what ecrecover would compute.
 */
export function rememberRecovery(digest: Uint8Array, vrs: Uint8Array, signer: Uint8Array | undefined) {
  if (digest.length !== 32 || vrs.length !== 65) return
  const key = memoKey(digest, vrs)
  if (memo.has(key)) return
  if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value!)
  memo.set(key, signer?.slice())
}

/**
 * Recoveries already made by ecrecoverUncached, packed for another thread: item i's 32-byte
 * digest, 65-byte v ‖ r ‖ s signature and 20-byte signer (ok[i] = 0: the signature recovers no
 * signer). The sequencer hands its batches' recoveries to the verifier in the same process, so the
 * verifier does not recover every signature a second time (docs/performance.md).
 */
export interface KnownRecoveries {
  count: number
  digests: Uint8Array
  signatures: Uint8Array
  signers: Uint8Array
  ok: Uint8Array
}

/**
 * Records known recoveries in the memo. Safe whoever made them, as long as it was
 * ecrecoverUncached: the memo is keyed by digest ‖ signature, so an entry answers only the exact
 * question it was computed for, and an entry for some other item is simply never asked.
 */
export function rememberRecoveries(k: KnownRecoveries) {
  for (let i = 0; i < k.count; i++) {
    rememberRecovery(k.digests.subarray(32 * i, 32 * i + 32), k.signatures.subarray(65 * i, 65 * i + 65), k.ok[i] ? k.signers.subarray(20 * i, 20 * i + 20) : undefined)
  }
}

/** Collects recoveries (in the order they are pushed) into one KnownRecoveries. */
export class RecoveryLog {
  // Packed as they arrive, in buffers reused from batch to batch: a batch holds thousands of
  // items for up to a second, and one small object per item would outlive the young generation
  // and be copied and promoted by the garbage collector (the tail of the sequencer's latency).
  private count = 0
  private digests = new Uint8Array(32 * 1024)
  private signatures = new Uint8Array(65 * 1024)
  private signers = new Uint8Array(20 * 1024)
  private ok = new Uint8Array(1024)

  get size(): number {
    return this.count
  }

  push(digest: Uint8Array, vrs: Uint8Array, signer: Uint8Array | undefined) {
    if (this.count === this.ok.length) this.grow()
    const i = this.count++
    this.digests.set(digest, 32 * i)
    this.signatures.set(vrs, 65 * i)
    if (signer) this.signers.set(signer, 20 * i)
    else this.signers.fill(0, 20 * i, 20 * i + 20)
    this.ok[i] = signer ? 1 : 0
  }

  /** Packs and empties the log. */
  take(): KnownRecoveries {
    const n = this.count
    this.count = 0
    return { count: n, digests: this.digests.slice(0, 32 * n), signatures: this.signatures.slice(0, 65 * n), signers: this.signers.slice(0, 20 * n), ok: this.ok.slice(0, n) }
  }

  private grow() {
    const bigger = (a: Uint8Array) => {
      const b = new Uint8Array(2 * a.length)
      b.set(a)
      return b
    }
    this.digests = bigger(this.digests)
    this.signatures = bigger(this.signatures)
    this.signers = bigger(this.signers)
    this.ok = bigger(this.ok)
  }
}

/**
 * A recovery function with its own unbounded memo, for one trace or workload: a dispute re-executes
 * the same batches from checkpoints many times, and the shared memo above (sized for the
 * sequencer's in-flight items) would evict a large batch's signatures before the next replay.
 */
export function recoveryCache(): (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined {
  const cache = new Map<string, Uint8Array | undefined>()
  return (digest, vrs) => {
    if (digest.length !== 32 || vrs.length !== 65) return undefined
    const key = memoKey(digest, vrs)
    if (!cache.has(key)) cache.set(key, ecrecoverUncached(digest, vrs))
    return cache.get(key)?.slice()
  }
}

let uncached = 0

/** How many recoveries this thread has computed (memo misses included), for tests. */
export function uncachedRecoveries(): number {
  return uncached
}

/** ecrecover without the memo: what benchmarks of raw recovery must call. */
export function ecrecoverUncached(digest: Uint8Array, vrs: Uint8Array): Uint8Array | undefined {
  if (digest.length !== 32 || vrs.length !== 65) return undefined
  uncached++
  const v = vrs[0]!
  if (v !== 27 && v !== 28) return undefined
  let s = 0n
  for (let i = 33; i < 65; i++) s = (s << 8n) | BigInt(vrs[i]!)
  if (s === 0n || s > HALF_N) return undefined
  try {
    const pub = secp256k1.ecdsaRecover(vrs.subarray(1, 65), v - 27, digest, false)
    return keccak(pub.subarray(1)).subarray(12)
  } catch {
    return undefined
  }
}
