/**
 * Memory multi-proofs (mirrored by contracts/src/osp/state/MemoryMultiProof.sol): the leaves
 * covering a host call's byte ranges, ascending and each once, then the siblings a bottom-up pass
 * consumes, in that order: at each of the 23 levels a node whose sibling is also in the list is
 * paired with it, any other takes the next sibling from the proof. Two distant ranges share the
 * top of the tree, so a call touching a few places costs little more than one path.
 */
import { MEMORY_TREE_DEPTH } from '../../sdk/protocol.js'
import type { MemoryMerkleTree } from './moduleMemory.js'

/** The sorted union of the leaves covering the byte ranges [addr, addr + len) (empty ranges add nothing). */
export function leavesOf(ranges: [number, number][]): number[] {
  const set = new Set<number>()
  for (const [a, n] of ranges) if (n > 0) for (let x = Math.floor(a / 32); x <= Math.floor((a + n - 1) / 32); x++) set.add(x)
  return [...set].sort((x, y) => x - y)
}

/** Writes the multi-proof of the leaves `idx` (ascending) of `tree` through `out`, 32 bytes at a time. */
export function writeMultiProof(out: { bytes(b: Uint8Array): void }, tree: MemoryMerkleTree, idx: readonly number[]): void {
  const proofs = new Map<number, Uint8Array[]>()
  const siblingsOf = (leaf: number) => {
    let s = proofs.get(leaf)
    if (!s) {
      const pr = tree.proof(leaf)
      out.bytes(pr.leaf)
      s = pr.siblings
      proofs.set(leaf, s)
    }
    return s
  }
  for (const x of idx) siblingsOf(x) // writes the leaves
  let nodes = idx.map((x) => ({ x, leaf: x }))
  for (let level = 0; level < MEMORY_TREE_DEPTH; level++) {
    const next: typeof nodes = []
    for (let i = 0; i < nodes.length;) {
      const { x, leaf } = nodes[i]!
      if ((x & 1) === 0 && i + 1 < nodes.length && nodes[i + 1]!.x === x + 1) i += 2
      else {
        out.bytes(siblingsOf(leaf)[level]!)
        i += 1
      }
      next.push({ x: x >> 1, leaf })
    }
    nodes = next
  }
}
