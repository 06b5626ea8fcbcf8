// Accounts and positions.
//
// Accounts: an append-only array of fixed-size records, indexed by an open-addressing hash
// table (linear probing) keyed by the 20-byte address. Slots hold idx + 1 (0 = empty).
//
// Positions: a pool of records, one per (account, market) the account holds a position, open
// orders or unsettled funding in. Each record sits on two lists: its account's (singly linked,
// so margin walks only the markets an account touches) and its market's holders (doubly linked,
// so liquidation, deleveraging and option settlement can find every holder). A record whose
// position and open orders are all zero is freed, after its funding is settled.

import { alloc, canAlloc, doublePool } from "./alloc";
import { mix64 } from "./mix";
import {
  C_ACCT_ARR, C_ACCT_ARR_CAP, C_ACCT_COUNT, C_ACCT_TAB, C_ACCT_TAB_CAP, C_POS_CAP, C_POS_FREE,
  C_POS_POOL, C_POS_USED, M_FUND_IDX, M_HOLDER_COUNT, M_HOLDERS, cfg32, copy20, eq20, mkt, setCfg32,
} from "./layout";

export const ACCT_SIZE: u32 = 64;
export const A_ADDR: u32 = 0; // address (20)
export const A_POS_HEAD: u32 = 20; // u32 first position record
export const A_NONCE: u32 = 24; // u64
export const A_BAL0: u32 = 32; // i64 collateral (quote balance: fills move notional through it)
export const A_BAL1: u32 = 40; // i64 ETH
export const A_ORD_HEAD: u32 = 48; // u32 first resting or trigger order of the account
export const A_ORD_COUNT: u32 = 52; // u32
export const A_NPOS: u32 = 56; // u32 position records

export const POS_SIZE: u32 = 72;
export const P_POS: u32 = 0; // i64 signed size, base quantums
export const P_BUYS: u32 = 8; // i64 open buy size resting on the book
export const P_SELLS: u32 = 16; // i64 open sell size resting on the book
export const P_FUND: u32 = 24; // i64 the market's funding index when funding was last settled
export const P_COST: u32 = 32; // i64 signed entry notional (the position's cost basis)
export const P_BUY_NOTIONAL: u32 = 40; // i64 premium of resting option buys (price × size, rounded up)
export const P_MKT: u32 = 48; // u32 market index
export const P_OWNER: u32 = 52; // u32 account id
export const P_ANEXT: u32 = 56; // u32 next record of the same account
export const P_MNEXT: u32 = 60; // u32 next holder of the same market
export const P_MPREV: u32 = 64; // u32 previous holder of the same market

export const ACCT_TAB_INIT: u32 = 1024;
export const ACCT_ARR_INIT: u32 = 256;
export const POS_INIT: u32 = 512;

/** Address of the record of account `id` (idx + 1). */
@inline export function acct(id: u32): u32 {
  return cfg32(C_ACCT_ARR) + (id - 1) * ACCT_SIZE;
}

/** Address of position record `r` (idx + 1). */
@inline export function pos(r: u32): u32 {
  return cfg32(C_POS_POOL) + (r - 1) * POS_SIZE;
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
export function initAccounts(): void {
  setCfg32(C_ACCT_TAB, alloc(ACCT_TAB_INIT << 2));
  setCfg32(C_ACCT_TAB_CAP, ACCT_TAB_INIT);
  setCfg32(C_ACCT_ARR, alloc(ACCT_ARR_INIT * ACCT_SIZE));
  setCfg32(C_ACCT_ARR_CAP, ACCT_ARR_INIT);
  setCfg32(C_ACCT_COUNT, 0);
  setCfg32(C_POS_POOL, alloc(POS_INIT * POS_SIZE));
  setCfg32(C_POS_CAP, POS_INIT);
}

/**
 * Makes room for one more account, growing the tables if needed. Returns false (and changes
 * nothing) if memory cannot hold them.
 */
export function reserveAccount(): bool {
  let bytes: u64 = 0;
  const growTab = (cfg32(C_ACCT_COUNT) + 1) * 4 > cfg32(C_ACCT_TAB_CAP) * 3;
  const growArr = cfg32(C_ACCT_COUNT) + 1 > cfg32(C_ACCT_ARR_CAP);
  if (growTab) bytes += <u64>cfg32(C_ACCT_TAB_CAP) << 3;
  if (growArr) bytes += <u64>cfg32(C_ACCT_ARR_CAP) * 2 * <u64>ACCT_SIZE;
  if (!canAlloc(bytes)) return false;
  if (growArr) doublePool(C_ACCT_ARR, C_ACCT_ARR_CAP, cfg32(C_ACCT_COUNT), ACCT_SIZE);
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

// ---------------------------------------------------------------------------------------------
// Position records

/** The position record of account `id` in market index `m`, or 0. */
export function findPosition(id: u32, m: u32): u32 {
  let r = load<u32>(acct(id) + A_POS_HEAD);
  while (r != 0) {
    if (load<u32>(pos(r) + P_MKT) == m) return r;
    r = load<u32>(pos(r) + P_ANEXT);
  }
  return 0;
}

/** Makes room for `n` more position records. Returns false, changing nothing, if memory is full. */
export function reservePositions(n: u32): bool {
  let free: u32 = 0;
  let f = cfg32(C_POS_FREE);
  while (f != 0 && free < n) {
    free++;
    f = load<u32>(pos(f) + P_ANEXT);
  }
  const room = cfg32(C_POS_CAP) - cfg32(C_POS_USED);
  if (free + room >= n) return true;
  // n is at most a few records (an order's two sides), far below the pool's capacity.
  if (!canAlloc(<u64>cfg32(C_POS_CAP) * 2 * POS_SIZE)) return false;
  doublePool(C_POS_POOL, C_POS_CAP, cfg32(C_POS_USED), POS_SIZE);
  return true;
}

/**
 * The position record of (id, m), created (at the market's current funding index) if absent.
 * reservePositions must have made room for a new one.
 */
export function takePosition(id: u32, m: u32): u32 {
  const found = findPosition(id, m);
  if (found != 0) return found;
  let r = cfg32(C_POS_FREE);
  if (r != 0) {
    setCfg32(C_POS_FREE, load<u32>(pos(r) + P_ANEXT));
    memory.fill(pos(r), 0, POS_SIZE);
  } else {
    r = cfg32(C_POS_USED) + 1;
    setCfg32(C_POS_USED, r);
  }
  const p = pos(r);
  const a = acct(id);
  const mp = mkt(m);
  store<i64>(p + P_FUND, load<i64>(mp + M_FUND_IDX));
  store<u32>(p + P_MKT, m);
  store<u32>(p + P_OWNER, id);
  store<u32>(p + P_ANEXT, load<u32>(a + A_POS_HEAD));
  store<u32>(a + A_POS_HEAD, r);
  store<u32>(a + A_NPOS, load<u32>(a + A_NPOS) + 1);
  const head = load<u32>(mp + M_HOLDERS);
  store<u32>(p + P_MNEXT, head);
  if (head != 0) store<u32>(pos(head) + P_MPREV, r);
  store<u32>(mp + M_HOLDERS, r);
  store<u32>(mp + M_HOLDER_COUNT, load<u32>(mp + M_HOLDER_COUNT) + 1);
  return r;
}

/** Whether a record holds nothing: no position, no open orders, no premium reserve. */
export function positionEmpty(r: u32): bool {
  const p = pos(r);
  return load<i64>(p + P_POS) == 0 && load<i64>(p + P_BUYS) == 0 && load<i64>(p + P_SELLS) == 0;
}

/** Frees an empty record (its funding already settled) from both lists. */
export function dropPosition(r: u32): void {
  const p = pos(r);
  const id = load<u32>(p + P_OWNER);
  const m = load<u32>(p + P_MKT);
  const a = acct(id);
  // account list (singly linked)
  let prev: u32 = 0;
  let c = load<u32>(a + A_POS_HEAD);
  while (c != r) {
    prev = c;
    c = load<u32>(pos(c) + P_ANEXT);
  }
  const next = load<u32>(p + P_ANEXT);
  if (prev == 0) store<u32>(a + A_POS_HEAD, next);
  else store<u32>(pos(prev) + P_ANEXT, next);
  store<u32>(a + A_NPOS, load<u32>(a + A_NPOS) - 1);
  // market list (doubly linked)
  const mp = mkt(m);
  const mprev = load<u32>(p + P_MPREV);
  const mnext = load<u32>(p + P_MNEXT);
  if (mprev == 0) store<u32>(mp + M_HOLDERS, mnext);
  else store<u32>(pos(mprev) + P_MNEXT, mnext);
  if (mnext != 0) store<u32>(pos(mnext) + P_MPREV, mprev);
  store<u32>(mp + M_HOLDER_COUNT, load<u32>(mp + M_HOLDER_COUNT) - 1);
  memory.fill(p, 0, POS_SIZE);
  store<u32>(p + P_ANEXT, cfg32(C_POS_FREE));
  setCfg32(C_POS_FREE, r);
}
