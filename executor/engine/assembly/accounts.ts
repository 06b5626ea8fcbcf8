// Accounts: an append-only array of fixed-stride records, indexed by an open-addressing hash
// table (linear probing) keyed by the 20-byte address. Slots hold idx + 1 (0 = empty).

import { alloc, canAlloc, doublePool } from "./alloc";
import { mix64 } from "./mix";
import {
  C_ACCT_ARR, C_ACCT_ARR_CAP, C_ACCT_COUNT, C_ACCT_STRIDE, C_ACCT_TAB, C_ACCT_TAB_CAP,
  cfg32, copy20, eq20, setCfg32,
} from "./layout";

export const A_ADDR: u32 = 0; // address (20)
export const A_MASK: u32 = 20; // u32: bit m set while the account has a position or open orders in market m
export const A_NONCE: u32 = 24; // u64
export const A_BAL0: u32 = 32; // i64 collateral (may go negative through PnL)
export const A_BAL1: u32 = 40; // i64 ETH
export const A_MKT: u32 = 48; // per market: pos i64 ‖ openBuys i64 ‖ openSells i64
export const P_POS: u32 = 0;
export const P_BUYS: u32 = 8;
export const P_SELLS: u32 = 16;
export const P_SIZE: u32 = 24;

export const ACCT_TAB_INIT: u32 = 1024;
export const ACCT_ARR_INIT: u32 = 256;

/** Address of the record of account `id` (idx + 1). */
@inline export function acct(id: u32): u32 {
  return cfg32(C_ACCT_ARR) + (id - 1) * cfg32(C_ACCT_STRIDE);
}

/** Address of the per-market block of account `id` for market index `m`. */
@inline export function acctMkt(id: u32, m: u32): u32 {
  return acct(id) + A_MKT + m * P_SIZE;
}

export function addrHash(p: u32): u32 {
  return mix64(load<u64>(p) ^ (load<u64>(p + 8) * 0x9E3779B97F4A7C15) ^ (<u64>load<u32>(p + 16) << 17));
}

/** The id (idx + 1) of the account with the address at `p`, or 0. */
export function findAccount(p: u32): u32 {
  const tab = cfg32(C_ACCT_TAB);
  const mask = cfg32(C_ACCT_TAB_CAP) - 1;
  let i = addrHash(p) & mask;
  while (true) {
    const id = load<u32>(tab + (i << 2));
    if (id == 0) return 0;
    if (eq20(acct(id) + A_ADDR, p)) return id;
    i = (i + 1) & mask;
  }
  return 0;
}

function tabInsert(tab: u32, mask: u32, id: u32): void {
  let i = addrHash(acct(id) + A_ADDR) & mask;
  while (load<u32>(tab + (i << 2)) != 0) i = (i + 1) & mask;
  store<u32>(tab + (i << 2), id);
}

/** Allocates the initial tables (init). */
export function initAccounts(stride: u32): void {
  setCfg32(C_ACCT_STRIDE, stride);
  setCfg32(C_ACCT_TAB, alloc(ACCT_TAB_INIT << 2));
  setCfg32(C_ACCT_TAB_CAP, ACCT_TAB_INIT);
  setCfg32(C_ACCT_ARR, alloc(ACCT_ARR_INIT * stride));
  setCfg32(C_ACCT_ARR_CAP, ACCT_ARR_INIT);
  setCfg32(C_ACCT_COUNT, 0);
}

function tabNeedsGrowth(): bool {
  return (cfg32(C_ACCT_COUNT) + 1) * 4 > cfg32(C_ACCT_TAB_CAP) * 3;
}

function arrNeedsGrowth(): bool {
  return cfg32(C_ACCT_COUNT) + 1 > cfg32(C_ACCT_ARR_CAP);
}

/**
 * Makes room for one more account, growing the tables if needed. Returns false (and changes
 * nothing) if memory cannot hold them.
 */
export function reserveAccount(): bool {
  let bytes: u64 = 0;
  const growTab = tabNeedsGrowth();
  const growArr = arrNeedsGrowth();
  if (growTab) bytes += <u64>cfg32(C_ACCT_TAB_CAP) << 3;
  if (growArr) bytes += <u64>cfg32(C_ACCT_ARR_CAP) * 2 * <u64>cfg32(C_ACCT_STRIDE);
  if (!canAlloc(bytes)) return false;
  if (growArr) doublePool(C_ACCT_ARR, C_ACCT_ARR_CAP, cfg32(C_ACCT_COUNT), cfg32(C_ACCT_STRIDE));
  if (growTab) {
    const cap = cfg32(C_ACCT_TAB_CAP) * 2;
    const tab = alloc(cap << 2);
    const n = cfg32(C_ACCT_COUNT);
    for (let id: u32 = 1; id <= n; id++) tabInsert(tab, cap - 1, id);
    setCfg32(C_ACCT_TAB, tab);
    setCfg32(C_ACCT_TAB_CAP, cap);
  }
  return true;
}

/** Creates the account with the address at `p`; reserveAccount must have returned true. */
export function createAccount(p: u32): u32 {
  const id = cfg32(C_ACCT_COUNT) + 1;
  setCfg32(C_ACCT_COUNT, id);
  copy20(acct(id) + A_ADDR, p);
  tabInsert(cfg32(C_ACCT_TAB), cfg32(C_ACCT_TAB_CAP) - 1, id);
  return id;
}

/** Recomputes bit `m` of the account's market mask. */
export function updateMask(id: u32, m: u32): void {
  const a = acct(id);
  const p = a + A_MKT + m * P_SIZE;
  const active = load<i64>(p + P_POS) != 0 || load<i64>(p + P_BUYS) != 0 || load<i64>(p + P_SELLS) != 0;
  const mask = load<u32>(a + A_MASK);
  store<u32>(a + A_MASK, active ? mask | (<u32>1 << m) : mask & ~(<u32>1 << m));
}
