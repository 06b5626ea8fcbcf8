/**
 * Small binary keccak Merkle trees (code, functions, locals): leaves are 32-byte values used as
 * they are, node = keccak256(left ‖ right), and a node without a right sibling at any level is
 * paired with 32 zero bytes. No leaves → 32 zero bytes; one leaf → that leaf. The depth is
 * ceil(log2(count)), so a proof's length tells the verifier the depth.
 * (The memory tree, with its fixed depth, lives in moduleMemory.ts.)
 */
import { keccak2 } from './keccak.js'

const ZERO = new Uint8Array(32)

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return ZERO.slice()
  let layer = leaves.slice()
  while (layer.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < layer.length; i += 2) next.push(keccak2(layer[i]!, layer[i + 1] ?? ZERO))
    layer = next
  }
  return layer[0]!
}

/** The sibling path of leaf `index`, bottom first (for later one-step proofs). */
export function merkleProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  const path: Uint8Array[] = []
  let layer = leaves.slice()
  let i = index
  while (layer.length > 1) {
    path.push(layer[i ^ 1] ?? ZERO)
    const next: Uint8Array[] = []
    for (let k = 0; k < layer.length; k += 2) next.push(keccak2(layer[k]!, layer[k + 1] ?? ZERO))
    layer = next
    i >>= 1
  }
  return path
}
