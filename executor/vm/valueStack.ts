/**
 * The value stack's hash chain (mirrored by contracts/src/osp/state/ValueStack.sol): h0 = 32 zero
 * bytes, h_i = keccak256(value_i u64 ‖ h_{i−1}) from the bottom up. A proof reveals the top values
 * and the hash of the rest, so a step touches only what it pops and pushes.
 */
import { keccak2 } from './keccak.js'

export const EMPTY_STACK_HASH: Uint8Array = new Uint8Array(32)

/** The hash of a stack after pushing the 64-bit value hi:lo onto a stack with hash `below`. */
export function pushValue(below: Uint8Array, lo: number, hi: number): Uint8Array {
  const slot = new Uint8Array(8)
  const dv = new DataView(slot.buffer)
  dv.setUint32(0, hi >>> 0)
  dv.setUint32(4, lo >>> 0)
  return keccak2(slot, below)
}

/** The hash of a stack of the given values, bottom first. */
export function valueStackHash(values: readonly bigint[]): Uint8Array {
  let h = EMPTY_STACK_HASH
  for (const v of values) h = pushValue(h, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn))
  return h
}
