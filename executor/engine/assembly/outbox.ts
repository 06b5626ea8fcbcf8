// The outbox: an append-only incremental Merkle tree of depth 32 (the deposit-contract
// algorithm) over withdrawal leaves (docs/protocol.md §7), and the per-batch withdrawal log.

import { keccak256 } from "./env";
import {
  C_OUTBOX_COUNT, HBUF, OUTBOX_BRANCH, OUTBOX_ROOT, OUTBOX_ZERO, WLOG, WLOG_ENTRY,
  be32, cfg64, copy20, copy32, putBe32, putBe64, setCfg64, zero32,
} from "./layout";

export const DEPTH: u32 = 32;
/** Leaves the tree can hold (2^32 - 1 keeps `count + 1` in range for the branch update). */
export const OUTBOX_CAPACITY: u64 = 0xFFFFFFFF;

/** keccak256(a ‖ b) -> out (32-byte operands; out may alias a or b). */
export function hashPair(a: u32, b: u32, out: u32): void {
  copy32(HBUF, a);
  copy32(HBUF + 32, b);
  keccak256(HBUF, 64, out);
}

/** zero[0] = 0, zero[i+1] = keccak(zero[i] ‖ zero[i]). */
export function initOutbox(): void {
  zero32(OUTBOX_ZERO);
  for (let i: u32 = 0; i < DEPTH; i++) {
    hashPair(OUTBOX_ZERO + i * 32, OUTBOX_ZERO + i * 32, OUTBOX_ZERO + (i + 1) * 32);
  }
  computeOutboxRoot();
}

/**
 * Appends the leaf for a withdrawal (leaf = keccak(l2Sender ‖ to ‖ asset u32 ‖ amount u64))
 * and logs it; returns its index. The caller checked capacity of the tree and the log.
 */
export function appendWithdrawal(sender: u32, to: u32, asset: u32, amount: u64): u64 {
  const index = cfg64(C_OUTBOX_COUNT);
  // leaf preimage (52 bytes)
  copy20(HBUF, sender);
  copy20(HBUF + 20, to);
  putBe32(HBUF + 40, asset);
  putBe64(HBUF + 44, amount);
  const node: u32 = HBUF + 128;
  keccak256(HBUF, 52, node);
  let size = index + 1;
  for (let h: u32 = 0; h < DEPTH; h++) {
    if ((size & 1) == 1) {
      copy32(OUTBOX_BRANCH + h * 32, node);
      break;
    }
    hashPair(OUTBOX_BRANCH + h * 32, node, node);
    size >>= 1;
  }
  setCfg64(C_OUTBOX_COUNT, index + 1);
  // withdrawal log entry: index u64 ‖ l2Sender ‖ to ‖ asset u32 ‖ amount u64
  const n = be32(WLOG);
  const e = WLOG + 4 + n * WLOG_ENTRY;
  putBe64(e, index);
  copy20(e + 8, sender);
  copy20(e + 28, to);
  putBe32(e + 48, asset);
  putBe64(e + 52, amount);
  putBe32(WLOG, n + 1);
  return index;
}

/** Writes the root of the tree into OUTBOX_ROOT. */
export function computeOutboxRoot(): void {
  const node: u32 = HBUF + 128;
  zero32(node);
  let size = cfg64(C_OUTBOX_COUNT);
  for (let h: u32 = 0; h < DEPTH; h++) {
    if ((size & 1) == 1) hashPair(OUTBOX_BRANCH + h * 32, node, node);
    else hashPair(node, OUTBOX_ZERO + h * 32, node);
    size >>= 1;
  }
  copy32(OUTBOX_ROOT, node);
}

/** Empties the withdrawal log (begin_batch), zeroing the entries the last batch used. */
export function clearWithdrawalLog(): void {
  const n = be32(WLOG);
  memory.fill(WLOG, 0, 4 + n * WLOG_ENTRY);
}
