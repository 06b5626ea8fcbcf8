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

/** ecrecover without the memo: what benchmarks of raw recovery must call. */
export function ecrecoverUncached(digest: Uint8Array, vrs: Uint8Array): Uint8Array | undefined {
  if (digest.length !== 32 || vrs.length !== 65) return undefined
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
