/**
 * Fast keccak256 for hot paths (Merkle hashing, the engine's host call, the interpreter).
 * hash-wasm runs ~14x faster than viem's noble keccak here (DESIGN.md); test/keccak.test.ts
 * checks it against viem. Elsewhere use viem's `keccak256`.
 */
import { createKeccak } from 'hash-wasm'

const hasher = await createKeccak(256)

/** keccak256 of `data`, as 32 fresh bytes. */
export function keccak(data: Uint8Array): Uint8Array {
  hasher.init()
  hasher.update(data)
  return hasher.digest('binary')
}

/** keccak256(a ‖ b) without concatenating. */
export function keccak2(a: Uint8Array, b: Uint8Array): Uint8Array {
  hasher.init()
  hasher.update(a)
  hasher.update(b)
  return hasher.digest('binary')
}
