// Order entry: ORDER, CANCEL, CANCEL_ALL, REPLACE, and the execution of triggered stops
// (docs/protocol.md §10). Every handler checks everything first and mutates only after the
// last check that can fail, so a rejected item writes nothing outside the scratch region.

import { A_NONCE, A_ORD_COUNT, A_ORD_HEAD, P_POS, acct, findAccount, findPosition, pos, reservePositions, takePosition } from "./accounts";
import {
  O_ANEXT, O_EXPIRY, O_LEVEL, O_MKT, O_OPTS, O_OWNER, O_PRICE, O_REM, addTrigger, crosses, findOrder,
  ord, removeOrder, reserveOrder, restOrder,
} from "./book";
import {
  BAD_NONCE, BAD_PRICE, BAD_SIZE, BAD_TRIGGER, C_CLOCK, C_NEXT_ORDER_ID, CAPACITY, EXPIRED,
  FOK_NOT_FILLED, INSUFFICIENT_MARGIN, K_PERP, M_EXPIRY, M_KIND, M_MARK, M_MAX_OI, M_MAX_PRICE,
  M_MAX_SIZE, M_MIN_SIZE, M_OI, M_SCALE, M_STATUS, M_STEP, M_TAKER_FEE, M_TICK, M_TRIG_COUNT,
  MALFORMED, MARGIN_EQUITY, MARGIN_REQUIRED, MARKET_CLOSED, MAX_ORDERS_PER_ACCOUNT,
  MAX_TRIGGERS_PER_MARKET, NO_ORACLE_PRICE, NOT_ORDER_OWNER, OK, OPEN_INTEREST_CAP, OPT_BUY,
  OPT_EXPIRY, OPT_POST_ONLY, OPT_REDUCE_ONLY, OPT_TIF_SHIFT, OPT_TYPE_SHIFT, OT_LIMIT, OT_MARKET,
  OT_STOP, OT_TAKE_PROFIT, POST_ONLY_WOULD_CROSS, PPM, REDUCE_ONLY, STALE_ORACLE_PRICE, TIF_FOK,
  ORDER_TMP, RESULT, TIF_GTC, TIF_IOC, UNKNOWN_MARKET, UNKNOWN_ORDER, be32, be64, cfg64, clampI64,
  marketIndex, mkt, mulDiv, putBe32, putBe64, satAdd, satSub, setCfg64, u8at,
} from "./layout";
import { computeMargin, indexOf, indexStale } from "./margin";
import { fillable, lastFills, matchBook, settleAccount, tidy } from "./trade";

export function writeResult(code: u32, orderId: u64, filled: u64, fills: u32): void {
  putBe32(RESULT, code);
  putBe64(RESULT + 4, orderId);
  putBe64(RESULT + 12, filled);
  putBe32(RESULT + 20, fills);
}

export function nonceOk(id: u32, nonce: u64, signed: bool): bool {
  if (!signed) return true;
  const cur: u64 = id == 0 ? 0 : load<u64>(acct(id) + A_NONCE);
  return nonce == cur;
}

export function bumpNonce(id: u32, signed: bool): void {
  if (signed) store<u64>(acct(id) + A_NONCE, load<u64>(acct(id) + A_NONCE) + 1);
}

@inline function orderType(opts: u32): u32 { return (opts >> OPT_TYPE_SHIFT) & 3; }
@inline function tif(opts: u32): u32 { return (opts >> OPT_TIF_SHIFT) & 3; }

// A new order, parsed (ORDER) or rebuilt (REPLACE, a triggered stop), lives at ORDER_TMP in the
// scratch region: the engine has no object allocator (stub runtime) and no mutable globals.
const X_M: u32 = 0; // u32 market index
const X_OPTS: u32 = 4; // u32 options byte
const X_PRICE: u32 = 8; // u64
const X_SIZE: u32 = 16; // u64
const X_TRIGGER: u32 = 24; // u64
const X_EXPIRY: u32 = 32; // u64
@inline function xm(o: u32): u32 { return load<u32>(o + X_M); }
@inline function xopts(o: u32): u32 { return load<u32>(o + X_OPTS); }
@inline function xprice(o: u32): u64 { return load<u64>(o + X_PRICE); }
@inline function xsize(o: u32): u64 { return load<u64>(o + X_SIZE); }
@inline function xtrigger(o: u32): u64 { return load<u64>(o + X_TRIGGER); }
@inline function xexpiry(o: u32): u64 { return load<u64>(o + X_EXPIRY); }

function setOrder(o: u32, m: u32, opts: u32, price: u64, size: u64, trigger: u64, expiry: u64): void {
  store<u32>(o + X_M, m);
  store<u32>(o + X_OPTS, opts);
  store<u64>(o + X_PRICE, price);
  store<u64>(o + X_SIZE, size);
  store<u64>(o + X_TRIGGER, trigger);
  store<u64>(o + X_EXPIRY, expiry);
}

/** Size a reduce-only order of account `id` may still take in market m on side `isBuy`. */
function reducible(id: u32, m: u32, isBuy: bool): u64 {
  const r = id == 0 ? 0 : findPosition(id, m);
  const p: i64 = r == 0 ? 0 : load<i64>(pos(r) + P_POS);
  return isBuy ? (p < 0 ? <u64>(-p) : 0) : (p > 0 ? <u64>p : 0);
}

/** Whether a stop / take-profit with this trigger would fire at index `idx`. */
export function triggered(opts: u32, trigger: u64, idx: u64): bool {
  const isBuy = (opts & OPT_BUY) != 0;
  const stop = orderType(opts) == OT_STOP;
  // A buy stop fires when the index rises to the trigger, a buy take-profit when it falls to it.
  return (isBuy == stop) ? idx >= trigger : idx <= trigger;
}

/**
 * Initial margin with the order counted as open (a replaced order's open size no longer
 * counted), less what filling at the limit could lose against the index and the taker fee.
 */
function marginCheck(id: u32, o: u32, replacedRem: u64, replacedBuy: bool): u32 {
  const m = xm(o);
  const mp = mkt(m);
  const isBuy = (xopts(o) & OPT_BUY) != 0;
  const price = xprice(o);
  const size = xsize(o);
  const scale = load<u64>(mp + M_SCALE);
  let dBuys: i64 = isBuy ? <i64>size : 0;
  let dSells: i64 = isBuy ? 0 : <i64>size;
  if (replacedRem != 0) {
    if (replacedBuy) dBuys -= <i64>replacedRem;
    else dSells -= <i64>replacedRem;
  }
  const perp = load<u32>(mp + M_KIND) == K_PERP;
  let premium: i64 = 0;
  if (!perp && isBuy) {
    premium = clampI64(mulDiv(price, size, scale, true));
    if (replacedRem != 0) premium = satSub(premium, clampI64(mulDiv(price, replacedRem, scale, true)));
  }
  if (!computeMargin(id, <i32>m, dBuys, dSells, premium)) return INSUFFICIENT_MARGIN;
  let cost: i64 = 0;
  if (perp) {
    const mark = load<u64>(mp + M_MARK);
    if (isBuy && price > mark) cost = clampI64(mulDiv(price - mark, size, scale, true));
    if (!isBuy && mark > price) cost = clampI64(mulDiv(mark - price, size, scale, true));
  }
  const notional = mulDiv(price, size, scale, true);
  cost = satAdd(cost, clampI64(mulDiv(notional, <u64>load<u32>(mp + M_TAKER_FEE), PPM, true)));
  if (satSub(load<i64>(MARGIN_EQUITY), cost) < load<i64>(MARGIN_REQUIRED)) return INSUFFICIENT_MARGIN;
  return OK;
}

/** Market-level checks: open for trading, price on tick, size on step, an index price. */
function marketChecks(o: u32): u32 {
  const mp = mkt(xm(o));
  const price = xprice(o);
  const size = xsize(o);
  if (load<u32>(mp + M_STATUS) != 0) return MARKET_CLOSED;
  if (load<u32>(mp + M_KIND) != K_PERP && cfg64(C_CLOCK) >= load<u64>(mp + M_EXPIRY)) return MARKET_CLOSED;
  if (price == 0 || price > load<u64>(mp + M_MAX_PRICE) || price % load<u64>(mp + M_TICK) != 0) return BAD_PRICE;
  if (size % load<u64>(mp + M_STEP) != 0 || size < load<u64>(mp + M_MIN_SIZE) || size > load<u64>(mp + M_MAX_SIZE)) return BAD_SIZE;
  if (indexOf(xm(o)) == 0) return NO_ORACLE_PRICE;
  return OK;
}

/**
 * Checks a new order of account `id` (0 = none yet) completely; returns OK or the code of the
 * first check that fails. `replacing` is the order a REPLACE removes (0 for ORDER).
 */
function checkOrder(id: u32, o: u32, replacing: u32): u32 {
  const m = xm(o);
  const opts = xopts(o);
  const ot = orderType(opts);
  const t = tif(opts);
  const isBuy = (opts & OPT_BUY) != 0;
  const reduceOnly = (opts & OPT_REDUCE_ONLY) != 0;
  if (t > TIF_FOK) return MALFORMED;
  if ((opts & OPT_POST_ONLY) != 0 && (ot != OT_LIMIT || t != TIF_GTC)) return MALFORMED;
  const expiry = xexpiry(o);
  if (expiry != 0 && expiry < cfg64(C_CLOCK)) return EXPIRED;
  let code = marketChecks(o);
  if (code != OK) return code;
  const mp = mkt(m);
  if (indexStale(m) && !reduceOnly) return STALE_ORACLE_PRICE;
  if (id == 0) return INSUFFICIENT_MARGIN;
  if (reduceOnly && reducible(id, m, isBuy) == 0) return REDUCE_ONLY;
  if (ot == OT_STOP || ot == OT_TAKE_PROFIT) {
    const trigger = xtrigger(o);
    if (load<u32>(mp + M_KIND) != K_PERP) return BAD_TRIGGER;
    if (trigger == 0 || trigger > load<u64>(mp + M_MAX_PRICE)) return BAD_TRIGGER;
    if (triggered(opts, trigger, indexOf(m))) return BAD_TRIGGER;
    if (load<u32>(mp + M_TRIG_COUNT) >= MAX_TRIGGERS_PER_MARKET) return CAPACITY;
    if (load<u32>(acct(id) + A_ORD_COUNT) >= MAX_ORDERS_PER_ACCOUNT) return CAPACITY;
    if (!reserveOrder()) return CAPACITY;
    return OK;
  }
  let size = xsize(o);
  if (reduceOnly) {
    // Reduce-only orders skip the margin check: they can only shrink the position.
    const can = reducible(id, m, isBuy);
    if (size > can) size = can;
  } else {
    const cap = load<u64>(mp + M_MAX_OI);
    const r = findPosition(id, m);
    const p: i64 = r == 0 ? 0 : load<i64>(pos(r) + P_POS);
    const opening = isBuy ? p >= 0 : p <= 0;
    if (cap != 0 && load<u64>(mp + M_OI) >= cap && opening) return OPEN_INTEREST_CAP;
    let replacedRem: u64 = 0;
    let replacedBuy = false;
    if (replacing != 0) {
      replacedRem = load<u64>(ord(replacing) + O_REM);
      replacedBuy = (load<u32>(ord(replacing) + O_OPTS) & OPT_BUY) != 0;
    }
    code = marginCheck(id, o, replacedRem, replacedBuy);
    if (code != OK) return code;
  }
  const rests = ot == OT_LIMIT && t == TIF_GTC;
  if ((opts & OPT_POST_ONLY) != 0 && crosses(m, isBuy, xprice(o))) return POST_ONLY_WOULD_CROSS;
  if (t == TIF_FOK && fillable(id, m, isBuy, xprice(o), size) < size) return FOK_NOT_FILLED;
  if (rests && replacing == 0 && load<u32>(acct(id) + A_ORD_COUNT) >= MAX_ORDERS_PER_ACCOUNT) return CAPACITY;
  if (!reservePositions(1)) return CAPACITY;
  if (rests && !reserveOrder()) return CAPACITY;
  return OK;
}

/** Executes a checked order; writes the result record when `record`. */
function executeOrder(id: u32, o: u32, record: bool): void {
  settleAccount(id);
  const orderId = cfg64(C_NEXT_ORDER_ID);
  setCfg64(C_NEXT_ORDER_ID, orderId + 1);
  const m = xm(o);
  const opts = xopts(o);
  const ot = orderType(opts);
  const isBuy = (opts & OPT_BUY) != 0;
  const reduceOnly = (opts & OPT_REDUCE_ONLY) != 0;
  if (ot == OT_STOP || ot == OT_TAKE_PROFIT) {
    addTrigger(orderId, id, m, opts, xprice(o), xtrigger(o), xsize(o), xexpiry(o));
    if (record) writeResult(OK, orderId, 0, 0);
    return;
  }
  let size = xsize(o);
  if (reduceOnly) {
    const can = reducible(id, m, isBuy);
    if (size > can) size = can;
  }
  takePosition(id, m);
  const filled = matchBook(id, m, isBuy, xprice(o), size, load<u32>(mkt(m) + M_TAKER_FEE), record);
  const fills = lastFills();
  let remaining = size - filled;
  if (reduceOnly && remaining > 0) {
    const can = reducible(id, m, isBuy);
    if (remaining > can) remaining = can;
  }
  // A remainder still crossing (after 64 fills, or at the open-interest cap) is cancelled, never
  // rested: a crossed book would let the next taker trade through prices that should fill first.
  if (ot == OT_LIMIT && tif(opts) == TIF_GTC && remaining > 0 && !crosses(m, isBuy, xprice(o))) {
    restOrder(orderId, id, m, opts, xprice(o), remaining, xexpiry(o));
  }
  tidy(id, m);
  if (record) writeResult(OK, orderId, filled, fills);
}

/** ORDER: fields after the type byte at `f`. */
export function doOrder(f: u32, sender: u32, signed: bool): u32 {
  const opts = u8at(f + 4);
  const ot = orderType(opts);
  let q = f + 21;
  let trigger: u64 = 0;
  let expiry: u64 = 0;
  if (ot == OT_STOP || ot == OT_TAKE_PROFIT) {
    trigger = be64(q);
    q += 8;
  }
  if ((opts & OPT_EXPIRY) != 0) {
    expiry = be64(q);
    q += 8;
    if (expiry == 0) return MALFORMED;
  }
  const nonce = be64(q);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  const mi = marketIndex(be32(f));
  if (mi < 0) return UNKNOWN_MARKET;
  const o = ORDER_TMP;
  setOrder(o, <u32>mi, opts, be64(f + 5), be64(f + 13), trigger, expiry);
  const code = checkOrder(id, o, 0);
  if (code != OK) return code;
  executeOrder(id, o, true);
  bumpNonce(id, signed);
  return OK;
}

/** CANCEL: removes one resting or trigger order of the sender. */
export function doCancel(f: u32, sender: u32, signed: bool): u32 {
  const orderId = be64(f);
  const nonce = be64(f + 8);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  const o = findOrder(orderId);
  if (o == 0) return UNKNOWN_ORDER;
  if (id == 0 || load<u32>(ord(o) + O_OWNER) != id) return NOT_ORDER_OWNER;
  const m = load<u32>(ord(o) + O_MKT);
  removeOrder(o);
  tidy(id, m);
  bumpNonce(id, signed);
  writeResult(OK, orderId, 0, 0);
  return OK;
}

/** Removes every order of account `id` in market index `m` (every market if m < 0); returns how many. */
export function cancelAllOf(id: u32, m: i32): u32 {
  let n: u32 = 0;
  let o = load<u32>(acct(id) + A_ORD_HEAD);
  while (o != 0) {
    const next = load<u32>(ord(o) + O_ANEXT);
    const om = load<u32>(ord(o) + O_MKT);
    if (m < 0 || <i32>om == m) {
      removeOrder(o);
      tidy(id, om);
      n++;
    }
    o = next;
  }
  return n;
}

/** CANCEL_ALL: a market id, or 0xFFFFFFFF for every market. Result `filledSize` = orders cancelled. */
export function doCancelAll(f: u32, sender: u32, signed: bool): u32 {
  const marketId = be32(f);
  const nonce = be64(f + 4);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  let m: i32 = -1;
  if (marketId != 0xFFFFFFFF) {
    m = marketIndex(marketId);
    if (m < 0) return UNKNOWN_MARKET;
  }
  if (id == 0) return UNKNOWN_ORDER;
  const n = cancelAllOf(id, m);
  bumpNonce(id, signed);
  writeResult(OK, 0, <u64>n, 0);
  return OK;
}

/**
 * REPLACE: cancels a resting limit order of the sender and places a new one with the same
 * market, side, options and expiry at a new price and size (a new orderId; time priority is
 * lost). Checked as a whole before anything changes.
 */
export function doReplace(f: u32, sender: u32, signed: bool): u32 {
  const orderId = be64(f);
  const nonce = be64(f + 24);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  const old = findOrder(orderId);
  if (old == 0) return UNKNOWN_ORDER;
  const op = ord(old);
  if (id == 0 || load<u32>(op + O_OWNER) != id) return NOT_ORDER_OWNER;
  if (load<u32>(op + O_LEVEL) == 0) return UNKNOWN_ORDER; // trigger orders are cancelled, not replaced
  const o = ORDER_TMP;
  setOrder(o, load<u32>(op + O_MKT), load<u32>(op + O_OPTS), be64(f + 8), be64(f + 16), 0, load<u64>(op + O_EXPIRY));
  const code = checkOrder(id, o, old);
  if (code != OK) return code;
  removeOrder(old);
  executeOrder(id, o, true);
  bumpNonce(id, signed);
  return OK;
}

/**
 * Runs a triggered stop / take-profit as a market order of its owner (immediate or cancel, at
 * worst its price), after removing it from its trigger list; an order that expired, has nothing
 * left to reduce or fails the margin check is just dropped.
 */
export function fireTrigger(o: u32): void {
  const op = ord(o);
  const id = load<u32>(op + O_OWNER);
  const m = load<u32>(op + O_MKT);
  const opts = (load<u32>(op + O_OPTS) & (OPT_BUY | OPT_REDUCE_ONLY)) | (OT_MARKET << OPT_TYPE_SHIFT) | (TIF_IOC << OPT_TIF_SHIFT);
  const t = ORDER_TMP;
  setOrder(t, m, opts, load<u64>(op + O_PRICE), load<u64>(op + O_REM), 0, load<u64>(op + O_EXPIRY));
  removeOrder(o);
  if (checkOrder(id, t, 0) == OK) executeOrder(id, t, false);
  else tidy(id, m);
}
