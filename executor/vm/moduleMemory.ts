/**
 * The engine's linear memory as a binary keccak Merkle tree (docs/protocol.md §9): 32-byte
 * leaves, fixed depth MEMORY_TREE_DEPTH, a leaf node is the raw 32 bytes, empty subtrees hash
 * to precomputed zero hashes. Shared by the native path (state roots) and the VM (proofs).
 *
 * Updates are incremental: a shadow copy of memory finds the leaves that changed since the last
 * update (memcmp over blocks, then per leaf pair), and only their paths are rehashed.
 */
import { MEMORY_TREE_DEPTH } from '../../sdk/protocol.js'
import { keccak2 } from './keccak.js'

const LEAF = 32
const PAGE = 65536
/** Memory is compared against the shadow in blocks of this many bytes before drilling down. */
const BLOCK = 4096

/** zeroHashes[k] is the root of an all-zero subtree of height k (zeroHashes[0] = a zero leaf). */
export const zeroHashes: readonly Uint8Array[] = (() => {
  const z: Uint8Array[] = [new Uint8Array(32)]
  for (let k = 1; k <= MEMORY_TREE_DEPTH; k++) z.push(keccak2(z[k - 1]!, z[k - 1]!))
  return z
})()

const isZero = (b: Uint8Array, off: number, len: number) => {
  for (let i = off; i < off + len; i++) if (b[i] !== 0) return false
  return true
}

export class MemoryMerkleTree {
  /** levels[k] holds the node hashes of height k (k ≥ 1), 32 bytes each; height 0 is memory. */
  private levels: Uint8Array[] = []
  private shadow = new Uint8Array(0)
  private pages = 0

  constructor(private readonly memory: WebAssembly.Memory) {
    this.rebuild()
  }

  /** Pages covered by the tree at the last update. */
  get memoryPages(): number {
    return this.pages
  }

  private bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer)
  }

  private rebuild() {
    const mem = this.bytes()
    this.pages = mem.length / PAGE
    this.shadow = mem.slice()
    this.levels = [new Uint8Array(0)]
    let count = mem.length / LEAF
    for (let k = 1; k <= MEMORY_TREE_DEPTH && count > 1; k++) {
      count = Math.ceil(count / 2)
      this.levels.push(new Uint8Array(count * 32))
      for (let i = 0; i < count; i++) this.hashNode(k, i)
    }
  }

  private node(k: number, i: number): Uint8Array {
    if (k === 0) {
      const off = i * LEAF
      return off < this.shadow.length ? this.shadow.subarray(off, off + LEAF) : zeroHashes[0]!
    }
    const level = this.levels[k]!
    return i * 32 < level.length ? level.subarray(i * 32, i * 32 + 32) : zeroHashes[k]!
  }

  private hashNode(k: number, i: number) {
    const left = this.node(k - 1, 2 * i)
    const right = this.node(k - 1, 2 * i + 1)
    const level = this.levels[k]!
    const z = zeroHashes[k - 1]!
    const zeroPair = k === 1 ? isZero(this.shadow, 2 * i * LEAF, 2 * LEAF) : equal32(left, z) && equal32(right, z)
    level.set(zeroPair ? zeroHashes[k]! : keccak2(left, right), i * 32)
  }

  /**
   * Brings the tree up to date with memory; returns how many leaf pairs were rehashed.
   * Memory growth is handled by a rebuild of the levels above the new pages only in effect:
   * the new pages are zero, so their subtrees are zero hashes.
   */
  update(): number {
    const mem = this.bytes()
    if (mem.length !== this.shadow.length) {
      const grown = new Uint8Array(mem.length)
      grown.set(this.shadow)
      this.shadow = grown
      this.pages = mem.length / PAGE
      const oldTop = this.levels.length
      let count = mem.length / LEAF
      for (let k = 1; k <= MEMORY_TREE_DEPTH && count > 1; k++) {
        count = Math.ceil(count / 2)
        const old = this.levels[k]
        const next = new Uint8Array(count * 32)
        if (old) next.set(old)
        for (let i = old ? old.length / 32 : 0; i < count; i++) next.set(zeroHashes[k]!, i * 32)
        if (k < this.levels.length) this.levels[k] = next
        else this.levels.push(next)
      }
      // The old rightmost nodes of each level may have hashed a right sibling that was "past the
      // end" as zero; it still is zero (new pages are zero), so those hashes stay valid. Levels
      // that did not exist before have left children holding the old memory: hash them now
      // (they are few nodes: the top of the tree).
      for (let k = Math.max(1, oldTop); k < this.levels.length; k++) {
        for (let i = 0; i < this.levels[k]!.length / 32; i++) this.hashNode(k, i)
      }
    }
    const memBuf = Buffer.from(mem.buffer, mem.byteOffset, mem.length)
    const shadowBuf = Buffer.from(this.shadow.buffer, this.shadow.byteOffset, this.shadow.length)
    let dirty: number[] = []
    for (let off = 0; off < mem.length; off += BLOCK) {
      if (memBuf.compare(shadowBuf, off, off + BLOCK, off, off + BLOCK) === 0) continue
      for (let p = off; p < off + BLOCK; p += 2 * LEAF) {
        if (memBuf.compare(shadowBuf, p, p + 2 * LEAF, p, p + 2 * LEAF) !== 0) dirty.push(p / (2 * LEAF))
      }
      this.shadow.set(mem.subarray(off, off + BLOCK), off)
    }
    const rehashed = dirty.length
    for (let k = 1; k < this.levels.length && dirty.length > 0; k++) {
      const parents: number[] = []
      for (const i of dirty) {
        this.hashNode(k, i)
        const parent = i >> 1
        if (parents.length === 0 || parents[parents.length - 1] !== parent) parents.push(parent)
      }
      dirty = parents
    }
    return rehashed
  }

  /** The memory root at the last update. */
  root(): Uint8Array {
    const top = this.levels.length - 1
    let h = top === 0 ? this.node(0, 0) : this.node(top, 0)
    for (let k = top; k < MEMORY_TREE_DEPTH; k++) h = keccak2(h, zeroHashes[k]!)
    return h
  }

  /** The 32-byte leaf at `index` and its MEMORY_TREE_DEPTH siblings, bottom first. */
  proof(index: number): { leaf: Uint8Array; siblings: Uint8Array[] } {
    const siblings: Uint8Array[] = []
    let i = index
    for (let k = 0; k < MEMORY_TREE_DEPTH; k++) {
      siblings.push(k < this.levels.length ? this.node(k, i ^ 1).slice() : zeroHashes[k]!)
      i >>= 1
    }
    return { leaf: this.node(0, index).slice(), siblings }
  }
}

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false
  return true
}

/** Recomputes a root from a leaf and its siblings (what a one-step proof checks on L1). */
export function rootFromProof(leaf: Uint8Array, index: number, siblings: Uint8Array[]): Uint8Array {
  let h = leaf
  let i = index
  for (const s of siblings) {
    h = i & 1 ? keccak2(s, h) : keccak2(h, s)
    i >>= 1
  }
  return h
}
