/**
 * The withdrawal outbox tree of docs/protocol.md §7: an append-only binary keccak Merkle tree of
 * depth 32 whose empty leaves are zero. Builds roots and the 32-hash proofs Bridge.finalizeWithdrawal
 * checks, hashing only the O(n) non-empty nodes: every subtree with no leaves is a precomputed
 * zero hash.
 */
import { type Address, type Hex, encodePacked, keccak256 } from 'viem'

/** Depth of the outbox tree (sdk/protocol.ts OUTBOX_TREE_DEPTH). */
export const OUTBOX_DEPTH = 32

const ZERO_LEAF: Hex = `0x${'00'.repeat(32)}`

/** ZERO_HASHES[i] is the root of an empty subtree of height i; ZERO_HASHES[32] is the empty root. */
export const OUTBOX_ZERO_HASHES: readonly Hex[] = (() => {
  const z: Hex[] = [ZERO_LEAF]
  for (let i = 0; i < OUTBOX_DEPTH; i++) z.push(hashPair(z[i]!, z[i]!))
  return z
})()

function hashPair(left: Hex, right: Hex): Hex {
  return keccak256(encodePacked(['bytes32', 'bytes32'], [left, right]))
}

/** The leaf of a withdrawal: keccak256(l2Sender ‖ to ‖ asset u32 ‖ amount u64). */
export function outboxLeaf(l2Sender: Address, to: Address, asset: number, amount: bigint): Hex {
  return keccak256(encodePacked(['address', 'address', 'uint32', 'uint64'], [l2Sender, to, asset, amount]))
}

/**
 * All non-empty levels of the tree over `leaves` (index 0 first). Build it once and ask for as
 * many proofs as needed: construction is O(n) hashes plus 32, each proof O(32).
 */
export class OutboxTree {
  /** levels[0] = leaves; levels[d][i] is the node at height d, position i (non-empty ones only). */
  private readonly levels: Hex[][]

  constructor(leaves: readonly Hex[]) {
    if (leaves.length > 2 ** OUTBOX_DEPTH) throw new RangeError(`an outbox holds at most 2^${OUTBOX_DEPTH} leaves`)
    this.levels = [leaves.slice()]
    for (let d = 0; d < OUTBOX_DEPTH; d++) {
      const below = this.levels[d]!
      const above: Hex[] = new Array(Math.ceil(below.length / 2))
      for (let i = 0; i < above.length; i++) above[i] = hashPair(below[2 * i]!, below[2 * i + 1] ?? OUTBOX_ZERO_HASHES[d]!)
      this.levels.push(above)
    }
  }

  /** Number of leaves. */
  get size(): number {
    return this.levels[0]!.length
  }

  /** The root; the empty tree's root is OUTBOX_ZERO_HASHES[32]. */
  get root(): Hex {
    return this.levels[OUTBOX_DEPTH]![0] ?? OUTBOX_ZERO_HASHES[OUTBOX_DEPTH]!
  }

  /** The 32 siblings of leaf `index`, the leaf's own sibling first. */
  proof(index: number): Hex[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new RangeError(`no outbox leaf ${index} (tree has ${this.size})`)
    const proof: Hex[] = []
    for (let d = 0, i = index; d < OUTBOX_DEPTH; d++, i = Math.floor(i / 2)) {
      // Arithmetic, not `i ^ 1`: JS bitwise operators wrap at 2^31.
      proof.push(this.levels[d]![i % 2 === 0 ? i + 1 : i - 1] ?? OUTBOX_ZERO_HASHES[d]!)
    }
    return proof
  }
}

/** The root of the outbox holding `leaves` (index 0 first). */
export function outboxRoot(leaves: readonly Hex[]): Hex {
  return new OutboxTree(leaves).root
}

/** The 32-hash proof of leaf `index` in the outbox holding `leaves`. */
export function outboxProof(leaves: readonly Hex[], index: number): Hex[] {
  return new OutboxTree(leaves).proof(index)
}

/** Folds a proof onto a leaf as Bridge.finalizeWithdrawal does: bit i of index set = sibling on the left. */
export function rootFromProof(leaf: Hex, index: number, proof: readonly Hex[]): Hex {
  let node = leaf
  for (let d = 0; d < proof.length; d++) {
    const sibling = proof[d]!
    node = Math.floor(index / 2 ** d) % 2 === 1 ? hashPair(sibling, node) : hashPair(node, sibling)
  }
  return node
}
