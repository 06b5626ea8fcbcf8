// Order books. Every market has two sides; a side is an AVL tree of price levels (keyed by
// price), and a level holds a FIFO doubly-linked list of resting orders (time priority).
// Order and level records live in two pools of fixed-size records with free lists; an
// open-addressing index maps orderId -> order record for O(1) cancels. All references are
// record ids (index + 1), so 0 means "none" and zeroed memory is an empty structure.

import { alloc, canAlloc, doublePool } from "./alloc";
import { mix64 } from "./mix";
import { A_ORD_COUNT, A_ORD_HEAD, P_BUYS, P_BUY_NOTIONAL, P_SELLS, acct, findPosition, pos } from "./accounts";
import {
  C_LVL_CAP, C_LVL_FREE, C_LVL_POOL, C_LVL_USED, C_OIX_CAP, C_OIX_COUNT, C_OIX_TAB,
  C_ORD_CAP, C_ORD_FREE, C_ORD_POOL, C_ORD_USED, K_PERP, M_ASK_ROOT, M_BID_ROOT, M_KIND, M_SCALE,
  M_TRIG_COUNT, M_TRIG_HEAD, OPT_BUY, U64_MAX, cfg32, mkt, mulDiv, setCfg32,
} from "./layout";

// Order record (resting orders and trigger orders alike)
export const ORD_SIZE: u32 = 80;
export const O_ID: u32 = 0; // u64 orderId
export const O_PRICE: u32 = 8; // u64 limit price (trigger orders: the worst price once triggered)
export const O_REM: u32 = 16; // u64 size still open
export const O_TRIGGER: u32 = 24; // u64 trigger price (0 for a resting order)
export const O_EXPIRY: u32 = 32; // u64 unix seconds (0 = none)
export const O_OWNER: u32 = 40; // u32 account id
export const O_LEVEL: u32 = 44; // u32 level id (0 for a trigger order)
export const O_PREV: u32 = 48; // u32 previous order of the level or trigger list
export const O_NEXT: u32 = 52; // u32 next order of the level or trigger list; free-list link when free
export const O_MKT: u32 = 56; // u32 market index
export const O_OPTS: u32 = 60; // u32 the order's options byte (docs/protocol.md §3)
export const O_APREV: u32 = 64; // u32 previous order of the owner
export const O_ANEXT: u32 = 68; // u32 next order of the owner
export const O_RESERVE: u32 = 72; // i64 premium reserved for a resting option buy

// Level record
export const LVL_SIZE: u32 = 48;
export const L_PRICE: u32 = 0; // u64
export const L_TOTAL: u32 = 8; // u64 total resting size
export const L_COUNT: u32 = 16; // u32 orders
export const L_HEAD: u32 = 20; // u32 oldest order
export const L_TAIL: u32 = 24; // u32 newest order
export const L_LEFT: u32 = 28; // u32 level id (lower prices)
export const L_RIGHT: u32 = 32; // u32 level id (higher prices)
export const L_HEIGHT: u32 = 36; // u32 AVL height
export const L_FREE: u32 = 40; // u32 free-list link

export const ORD_INIT: u32 = 1024;
export const OIX_INIT: u32 = 2048;
export const LVL_INIT: u32 = 256;

@inline export function ord(id: u32): u32 { return cfg32(C_ORD_POOL) + (id - 1) * ORD_SIZE; }
@inline export function lvl(id: u32): u32 { return cfg32(C_LVL_POOL) + (id - 1) * LVL_SIZE; }

export function initBook(): void {
  setCfg32(C_ORD_POOL, alloc(ORD_INIT * ORD_SIZE));
  setCfg32(C_ORD_CAP, ORD_INIT);
  setCfg32(C_OIX_TAB, alloc(OIX_INIT << 2));
  setCfg32(C_OIX_CAP, OIX_INIT);
  setCfg32(C_LVL_POOL, alloc(LVL_INIT * LVL_SIZE));
  setCfg32(C_LVL_CAP, LVL_INIT);
}

// ---------------------------------------------------------------------------------------------
// Capacity

function ordPoolFull(): bool { return cfg32(C_ORD_FREE) == 0 && cfg32(C_ORD_USED) == cfg32(C_ORD_CAP); }
function lvlPoolFull(): bool { return cfg32(C_LVL_FREE) == 0 && cfg32(C_LVL_USED) == cfg32(C_LVL_CAP); }
function oixFull(): bool { return (cfg32(C_OIX_COUNT) + 1) * 2 > cfg32(C_OIX_CAP); }

/**
 * Makes room for one more resting order (an order record, a level record and an index slot).
 * Returns false, changing nothing, if memory cannot hold them.
 */
export function reserveOrder(): bool {
  const growOrd = ordPoolFull();
  const growLvl = lvlPoolFull();
  const growOix = oixFull();
  let bytes: u64 = 0;
  if (growOrd) bytes += <u64>cfg32(C_ORD_CAP) * 2 * ORD_SIZE;
  if (growLvl) bytes += <u64>cfg32(C_LVL_CAP) * 2 * LVL_SIZE;
  if (growOix) bytes += <u64>cfg32(C_OIX_CAP) << 3;
  if (!canAlloc(bytes)) return false;
  if (growOrd) doublePool(C_ORD_POOL, C_ORD_CAP, cfg32(C_ORD_USED), ORD_SIZE);
  if (growLvl) doublePool(C_LVL_POOL, C_LVL_CAP, cfg32(C_LVL_USED), LVL_SIZE);
  if (growOix) {
    const oldTab = cfg32(C_OIX_TAB);
    const oldCap = cfg32(C_OIX_CAP);
    const cap = oldCap * 2;
    const tab = alloc(cap << 2);
    for (let i: u32 = 0; i < oldCap; i++) {
      const id = load<u32>(oldTab + (i << 2));
      if (id != 0) oixPlace(tab, cap - 1, id);
    }
    setCfg32(C_OIX_TAB, tab);
    setCfg32(C_OIX_CAP, cap);
  }
  return true;
}

function takeOrder(): u32 {
  let id = cfg32(C_ORD_FREE);
  if (id != 0) {
    setCfg32(C_ORD_FREE, load<u32>(ord(id) + O_NEXT));
    store<u32>(ord(id) + O_NEXT, 0);
  } else {
    id = cfg32(C_ORD_USED) + 1;
    setCfg32(C_ORD_USED, id);
  }
  return id;
}

function freeOrder(id: u32): void {
  const p = ord(id);
  memory.fill(p, 0, ORD_SIZE);
  store<u32>(p + O_NEXT, cfg32(C_ORD_FREE));
  setCfg32(C_ORD_FREE, id);
}

function takeLevel(): u32 {
  let id = cfg32(C_LVL_FREE);
  if (id != 0) {
    setCfg32(C_LVL_FREE, load<u32>(lvl(id) + L_FREE));
    store<u32>(lvl(id) + L_FREE, 0);
  } else {
    id = cfg32(C_LVL_USED) + 1;
    setCfg32(C_LVL_USED, id);
  }
  return id;
}

function freeLevel(id: u32): void {
  const p = lvl(id);
  memory.fill(p, 0, LVL_SIZE);
  store<u32>(p + L_FREE, cfg32(C_LVL_FREE));
  setCfg32(C_LVL_FREE, id);
}

// ---------------------------------------------------------------------------------------------
// orderId -> order record index (linear probing, backward-shift deletion: no tombstones)

function oixPlace(tab: u32, mask: u32, id: u32): void {
  let i = mix64(load<u64>(ord(id) + O_ID)) & mask;
  while (load<u32>(tab + (i << 2)) != 0) i = (i + 1) & mask;
  store<u32>(tab + (i << 2), id);
}

/** The order record id of `orderId`, or 0. */
export function findOrder(orderId: u64): u32 {
  if (orderId == 0) return 0;
  const tab = cfg32(C_OIX_TAB);
  const mask = cfg32(C_OIX_CAP) - 1;
  let i = mix64(orderId) & mask;
  while (true) {
    const id = load<u32>(tab + (i << 2));
    if (id == 0) return 0;
    if (load<u64>(ord(id) + O_ID) == orderId) return id;
    i = (i + 1) & mask;
  }
  return 0;
}

function oixDelete(id: u32): void {
  const tab = cfg32(C_OIX_TAB);
  const mask = cfg32(C_OIX_CAP) - 1;
  let i = mix64(load<u64>(ord(id) + O_ID)) & mask;
  while (load<u32>(tab + (i << 2)) != id) i = (i + 1) & mask;
  let j = i;
  while (true) {
    j = (j + 1) & mask;
    const other = load<u32>(tab + (j << 2));
    if (other == 0) break;
    const k = mix64(load<u64>(ord(other) + O_ID)) & mask;
    // `other` may stay at j if its home k lies cyclically in (i, j].
    const stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    store<u32>(tab + (i << 2), other);
    i = j;
  }
  store<u32>(tab + (i << 2), 0);
  setCfg32(C_OIX_COUNT, cfg32(C_OIX_COUNT) - 1);
}

// ---------------------------------------------------------------------------------------------
// AVL tree of levels

@inline function height(n: u32): u32 { return n == 0 ? 0 : load<u32>(lvl(n) + L_HEIGHT); }
@inline function left(n: u32): u32 { return load<u32>(lvl(n) + L_LEFT); }
@inline function right(n: u32): u32 { return load<u32>(lvl(n) + L_RIGHT); }
@inline function setLeft(n: u32, c: u32): void { store<u32>(lvl(n) + L_LEFT, c); }
@inline function setRight(n: u32, c: u32): void { store<u32>(lvl(n) + L_RIGHT, c); }
@inline function price(n: u32): u64 { return load<u64>(lvl(n) + L_PRICE); }

function fixHeight(n: u32): void {
  const hl = height(left(n)), hr = height(right(n));
  store<u32>(lvl(n) + L_HEIGHT, (hl > hr ? hl : hr) + 1);
}

function rotateRight(n: u32): u32 {
  const l = left(n);
  setLeft(n, right(l));
  setRight(l, n);
  fixHeight(n);
  fixHeight(l);
  return l;
}

function rotateLeft(n: u32): u32 {
  const r = right(n);
  setRight(n, left(r));
  setLeft(r, n);
  fixHeight(n);
  fixHeight(r);
  return r;
}

function rebalance(n: u32): u32 {
  fixHeight(n);
  const l = left(n), r = right(n);
  const hl = height(l), hr = height(r);
  if (hl > hr + 1) {
    if (height(left(l)) < height(right(l))) setLeft(n, rotateLeft(l));
    return rotateRight(n);
  }
  if (hr > hl + 1) {
    if (height(right(r)) < height(left(r))) setRight(n, rotateRight(r));
    return rotateLeft(n);
  }
  return n;
}

function avlInsert(n: u32, node: u32): u32 {
  if (n == 0) return node;
  if (price(node) < price(n)) setLeft(n, avlInsert(left(n), node));
  else setRight(n, avlInsert(right(n), node));
  return rebalance(n);
}

function avlRemoveMin(n: u32): u32 {
  const l = left(n);
  if (l == 0) return right(n);
  setLeft(n, avlRemoveMin(l));
  return rebalance(n);
}

function avlRemove(n: u32, p: u64): u32 {
  if (n == 0) return 0;
  const np = price(n);
  if (p < np) {
    setLeft(n, avlRemove(left(n), p));
  } else if (p > np) {
    setRight(n, avlRemove(right(n), p));
  } else {
    const l = left(n), r = right(n);
    if (r == 0) return l;
    let m = r;
    while (left(m) != 0) m = left(m);
    setRight(m, avlRemoveMin(r));
    setLeft(m, l);
    return rebalance(m);
  }
  return rebalance(n);
}

function levelFind(root: u32, p: u64): u32 {
  let n = root;
  while (n != 0) {
    const np = price(n);
    if (p == np) return n;
    n = p < np ? left(n) : right(n);
  }
  return 0;
}

/** Lowest-priced level of a tree (best ask), or 0. */
export function minLevel(root: u32): u32 {
  let n = root;
  if (n == 0) return 0;
  while (left(n) != 0) n = left(n);
  return n;
}

/** Highest-priced level of a tree (best bid), or 0. */
export function maxLevel(root: u32): u32 {
  let n = root;
  if (n == 0) return 0;
  while (right(n) != 0) n = right(n);
  return n;
}

@inline export function rootSlot(m: u32, isBuy: bool): u32 {
  return mkt(m) + (isBuy ? M_BID_ROOT : M_ASK_ROOT);
}

/** Best level on one side of market m (best bid if isBuy), or 0. */
export function bestLevel(m: u32, isBuy: bool): u32 {
  const root = load<u32>(rootSlot(m, isBuy));
  return isBuy ? maxLevel(root) : minLevel(root);
}

/** Children of a level (queries walk the trees in price order). */
export function levelLeft(n: u32): u32 { return left(n); }
export function levelRight(n: u32): u32 { return right(n); }

// ---------------------------------------------------------------------------------------------
// Orders

@inline export function orderIsBuy(o: u32): bool { return (load<u32>(ord(o) + O_OPTS) & OPT_BUY) != 0; }

/** Premium a resting buy of `size` at `p` reserves in an option market (0 in a perpetual). */
function reserveFor(m: u32, p: u64, size: u64): i64 {
  const mp = mkt(m);
  if (load<u32>(mp + M_KIND) == K_PERP) return 0;
  const v = mulDiv(p, size, load<u64>(mp + M_SCALE), true);
  return v == U64_MAX ? 0x7FFFFFFFFFFFFFFF : <i64>v;
}

function linkOwner(o: u32, owner: u32): void {
  const a = acct(owner);
  const head = load<u32>(a + A_ORD_HEAD);
  store<u32>(ord(o) + O_ANEXT, head);
  store<u32>(ord(o) + O_APREV, 0);
  if (head != 0) store<u32>(ord(head) + O_APREV, o);
  store<u32>(a + A_ORD_HEAD, o);
  store<u32>(a + A_ORD_COUNT, load<u32>(a + A_ORD_COUNT) + 1);
}

function unlinkOwner(o: u32): void {
  const op = ord(o);
  const a = acct(load<u32>(op + O_OWNER));
  const prev = load<u32>(op + O_APREV);
  const next = load<u32>(op + O_ANEXT);
  if (prev != 0) store<u32>(ord(prev) + O_ANEXT, next);
  else store<u32>(a + A_ORD_HEAD, next);
  if (next != 0) store<u32>(ord(next) + O_APREV, prev);
  store<u32>(a + A_ORD_COUNT, load<u32>(a + A_ORD_COUNT) - 1);
}

function newOrder(orderId: u64, owner: u32, m: u32, opts: u32, p: u64, size: u64, expiry: u64): u32 {
  const o = takeOrder();
  const op = ord(o);
  store<u64>(op + O_ID, orderId);
  store<u64>(op + O_PRICE, p);
  store<u64>(op + O_REM, size);
  store<u64>(op + O_EXPIRY, expiry);
  store<u32>(op + O_OWNER, owner);
  store<u32>(op + O_MKT, m);
  store<u32>(op + O_OPTS, opts);
  linkOwner(o, owner);
  oixPlace(cfg32(C_OIX_TAB), cfg32(C_OIX_CAP) - 1, o);
  setCfg32(C_OIX_COUNT, cfg32(C_OIX_COUNT) + 1);
  return o;
}

/**
 * Rests a new order at the tail of its price level. reserveOrder must have returned true and
 * the owner must have a position record in market m (its open size is kept there).
 */
export function restOrder(orderId: u64, owner: u32, m: u32, opts: u32, p: u64, size: u64, expiry: u64): void {
  const isBuy = (opts & OPT_BUY) != 0;
  const slot = rootSlot(m, isBuy);
  const root = load<u32>(slot);
  let l = levelFind(root, p);
  if (l == 0) {
    l = takeLevel();
    const lp = lvl(l);
    store<u64>(lp + L_PRICE, p);
    store<u32>(lp + L_HEIGHT, 1);
    store<u32>(slot, avlInsert(root, l));
  }
  const o = newOrder(orderId, owner, m, opts, p, size, expiry);
  const op = ord(o);
  store<u32>(op + O_LEVEL, l);
  const lp = lvl(l);
  const tail = load<u32>(lp + L_TAIL);
  store<u32>(op + O_PREV, tail);
  store<u32>(op + O_NEXT, 0);
  if (tail != 0) store<u32>(ord(tail) + O_NEXT, o);
  else store<u32>(lp + L_HEAD, o);
  store<u32>(lp + L_TAIL, o);
  store<u32>(lp + L_COUNT, load<u32>(lp + L_COUNT) + 1);
  store<u64>(lp + L_TOTAL, load<u64>(lp + L_TOTAL) + size);
  const pp = pos(findPosition(owner, m));
  const off = isBuy ? P_BUYS : P_SELLS;
  store<i64>(pp + off, load<i64>(pp + off) + <i64>size);
  if (isBuy) {
    const r = reserveFor(m, p, size);
    store<i64>(op + O_RESERVE, r);
    store<i64>(pp + P_BUY_NOTIONAL, load<i64>(pp + P_BUY_NOTIONAL) + r);
  }
}

/** Files a stop or take-profit order in its market's trigger list (not on the book). */
export function addTrigger(orderId: u64, owner: u32, m: u32, opts: u32, p: u64, trigger: u64, size: u64, expiry: u64): void {
  const o = newOrder(orderId, owner, m, opts, p, size, expiry);
  const op = ord(o);
  store<u64>(op + O_TRIGGER, trigger);
  const mp = mkt(m);
  const head = load<u32>(mp + M_TRIG_HEAD);
  // Appended at the tail would need a tail pointer; the list is walked in full on every oracle
  // update anyway, and triggered orders execute in orderId order (the walk sorts them).
  store<u32>(op + O_NEXT, head);
  store<u32>(op + O_PREV, 0);
  if (head != 0) store<u32>(ord(head) + O_PREV, o);
  store<u32>(mp + M_TRIG_HEAD, o);
  store<u32>(mp + M_TRIG_COUNT, load<u32>(mp + M_TRIG_COUNT) + 1);
}

/** Reduces a resting order by `size` (a partial or full fill), keeping level and owner totals. */
export function reduceOrder(o: u32, size: u64): void {
  const op = ord(o);
  const isBuy = orderIsBuy(o);
  const m = load<u32>(op + O_MKT);
  const rem = load<u64>(op + O_REM) - size;
  store<u64>(op + O_REM, rem);
  const lp = lvl(load<u32>(op + O_LEVEL));
  store<u64>(lp + L_TOTAL, load<u64>(lp + L_TOTAL) - size);
  const pp = pos(findPosition(load<u32>(op + O_OWNER), m));
  const off = isBuy ? P_BUYS : P_SELLS;
  store<i64>(pp + off, load<i64>(pp + off) - <i64>size);
  if (isBuy) {
    const before = load<i64>(op + O_RESERVE);
    const after = rem == 0 ? 0 : reserveFor(m, load<u64>(op + O_PRICE), rem);
    store<i64>(op + O_RESERVE, after);
    store<i64>(pp + P_BUY_NOTIONAL, load<i64>(pp + P_BUY_NOTIONAL) - (before - after));
  }
}

/**
 * Removes an order (resting or trigger) from its level or trigger list, its owner's list and
 * open size, the index and the pool. The caller frees the owner's position record if it is
 * left empty.
 */
export function removeOrder(o: u32): void {
  const op = ord(o);
  const m = load<u32>(op + O_MKT);
  const l = load<u32>(op + O_LEVEL);
  const prev = load<u32>(op + O_PREV);
  const next = load<u32>(op + O_NEXT);
  if (l == 0) {
    const mp = mkt(m);
    if (prev != 0) store<u32>(ord(prev) + O_NEXT, next);
    else store<u32>(mp + M_TRIG_HEAD, next);
    if (next != 0) store<u32>(ord(next) + O_PREV, prev);
    store<u32>(mp + M_TRIG_COUNT, load<u32>(mp + M_TRIG_COUNT) - 1);
  } else {
    const rem = load<u64>(op + O_REM);
    if (rem != 0) reduceOrder(o, rem);
    const isBuy = orderIsBuy(o);
    const lp = lvl(l);
    if (prev != 0) store<u32>(ord(prev) + O_NEXT, next);
    else store<u32>(lp + L_HEAD, next);
    if (next != 0) store<u32>(ord(next) + O_PREV, prev);
    else store<u32>(lp + L_TAIL, prev);
    const count = load<u32>(lp + L_COUNT) - 1;
    store<u32>(lp + L_COUNT, count);
    if (count == 0) {
      const slot = rootSlot(m, isBuy);
      store<u32>(slot, avlRemove(load<u32>(slot), load<u64>(lp + L_PRICE)));
      freeLevel(l);
    }
  }
  unlinkOwner(o);
  oixDelete(o);
  freeOrder(o);
}

/** Whether the best opposite level would trade with a `price` order on side `isBuy`. */
export function crosses(m: u32, isBuy: bool, p: u64): bool {
  const l = bestLevel(m, !isBuy);
  if (l == 0) return false;
  const lp = load<u64>(lvl(l) + L_PRICE);
  return isBuy ? lp <= p : lp >= p;
}
