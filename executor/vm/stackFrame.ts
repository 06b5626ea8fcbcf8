/**
 * Call frames and the frame stack's hash chain (mirrored by contracts/src/osp/state/StackFrame.sol):
 * frameHash = keccak256(func u32 ‖ returnFunc u32 ‖ returnOffset u32 ‖ localsCount u32 ‖
 * localsRoot), h0 = 32 zero bytes, h_i = keccak256(frameHash_i ‖ h_{i−1}) from the bottom up.
 */
import { keccak, keccak2 } from './keccak.js'

export interface Frame {
  func: number
  /** The caller's function, 0xffffffff for the bottom frame. */
  retFunc: number
  /** The caller's offset to resume at, 0xffffffff for the bottom frame. */
  retOffset: number
  localsCount: number
  /** merkleRoot of the locals, each a 32-byte word with the u64 right-aligned (merkleProof.ts). */
  localsRoot: Uint8Array
}

export const EMPTY_FRAME_STACK_HASH: Uint8Array = new Uint8Array(32)

export function frameHash(f: Frame): Uint8Array {
  const rec = new Uint8Array(48)
  const dv = new DataView(rec.buffer)
  dv.setUint32(0, f.func >>> 0)
  dv.setUint32(4, f.retFunc >>> 0)
  dv.setUint32(8, f.retOffset >>> 0)
  dv.setUint32(12, f.localsCount)
  rec.set(f.localsRoot, 16)
  return keccak(rec)
}

/** The hash of a frame stack after pushing `f` onto a stack with hash `below`. */
export function pushFrame(below: Uint8Array, f: Frame): Uint8Array {
  return keccak2(frameHash(f), below)
}

/** A local's 32-byte leaf: the u64 hi:lo right-aligned. */
export function localLeaf(lo: number, hi: number): Uint8Array {
  const leaf = new Uint8Array(32)
  const dv = new DataView(leaf.buffer)
  dv.setUint32(24, hi >>> 0)
  dv.setUint32(28, lo >>> 0)
  return leaf
}
