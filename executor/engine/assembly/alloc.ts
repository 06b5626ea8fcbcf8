// Bump allocator over the heap. Regions are never freed: a table that grows moves to a fresh,
// larger region and the old one is left behind (geometric growth bounds the waste). Growth is a
// pure function of the accepted items, so every run lays memory out identically.

import { C_HEAP_TOP, MAX_PAGES, cfg32, setCfg32 } from "./layout";

const MAX_BYTES: u64 = <u64>MAX_PAGES << 16;

/** True if `bytes` more bytes (8-aligned) can still be allocated. */
export function canAlloc(bytes: u64): bool {
  return <u64>cfg32(C_HEAP_TOP) + bytes <= MAX_BYTES;
}

/** Allocates `bytes` (a multiple of 8) of zeroed memory; returns 0 if memory is exhausted. */
export function alloc(bytes: u32): u32 {
  const top = cfg32(C_HEAP_TOP);
  const end = <u64>top + <u64>bytes;
  if (end > MAX_BYTES) return 0;
  const pages = <i32>((end + 0xFFFF) >> 16);
  const have = memory.size();
  if (pages > have) {
    // canAlloc was checked by the caller; a refusal here is the host running out of memory.
    if (memory.grow(pages - have) < 0) abort("memory.grow failed");
  }
  setCfg32(C_HEAP_TOP, <u32>end);
  return top;
}

/**
 * Moves a pool of `used` records of `size` bytes to a fresh region twice its capacity, updating
 * the pool pointer and capacity slots; the caller has checked canAlloc for the new region.
 */
export function doublePool(poolSlot: u32, capSlot: u32, used: u32, size: u32): void {
  const cap = cfg32(capSlot) * 2;
  const pool = alloc(cap * size);
  memory.copy(pool, cfg32(poolSlot), used * size);
  setCfg32(poolSlot, pool);
  setCfg32(capSlot, cap);
}
