// Trading: the ledger moves (funding, option settlement, fills, fees) and the matching loop
// shared by orders, triggered stops and liquidations (docs/protocol.md §10).
//
// Every collateral move has two sides named here, so collateral is conserved exactly:
//   Σ balances + insurance fund + Σ market pools = deposits − withdrawals.
// Funding and option settlement go through the market's pool (payers round up, receivers
// down, so the pool keeps the dust); fees go to the fee account.

import {
  A_BAL0, A_POS_HEAD, P_ANEXT, P_COST, P_FUND, P_MKT, P_OWNER, P_POS, acct, dropPosition, findPosition,
  pos, positionEmpty, takePosition,
} from "./accounts";
import {
  L_HEAD, L_LEFT, L_PRICE, L_RIGHT, O_EXPIRY, O_ID, O_NEXT, O_OPTS, O_OWNER, O_REM, bestLevel, lvl, ord,
  reduceOrder, removeOrder,
} from "./book";
import {
  C_CLOCK, C_FEE_ACCT, C_FEES, C_INSURANCE, FILL_LEN, K_PERP, M_ASK_ROOT, M_BID_ROOT, M_FUND_IDX, M_KIND, M_MAKER_FEE,
  M_MARK, M_MAX_OI, M_OI, M_POOL, M_SCALE, M_STATUS, MARGIN_EQUITY, MARGIN_REQUIRED, MAX_FILLS,
  MATCH_TMP, OPT_REDUCE_ONLY, PPM, RESULT_FILLS, cfg32, cfg64, clampI64, copy20, mkt, mulDiv, putBe64,
  satAdd, satSub, setCfg64,
} from "./layout";
import { computeMargin, pendingFunding, settlementValue } from "./margin";

@inline export function addBal(id: u32, v: i64): void {
  const a = acct(id) + A_BAL0;
  store<i64>(a, satAdd(load<i64>(a), v));
}

@inline export function addPool(m: u32, v: i64): void {
  const p = mkt(m) + M_POOL;
  store<i64>(p, satAdd(load<i64>(p), v));
}

@inline export function addInsurance(v: i64): void {
  setCfg64(C_INSURANCE, <u64>satAdd(<i64>cfg64(C_INSURANCE), v));
}

@inline function max0(v: i64): i64 { return v > 0 ? v : 0; }

/** Settles a perpetual record's funding against its market's pool. */
export function settleFunding(r: u32): void {
  const p = pos(r);
  const m = load<u32>(p + P_MKT);
  const owed = pendingFunding(r);
  if (owed != 0) {
    addBal(load<u32>(p + P_OWNER), -owed);
    addPool(m, owed);
  }
  store<i64>(p + P_FUND, load<i64>(mkt(m) + M_FUND_IDX));
}

/** Settles one record: funding (perp), or the cash settlement of an expired option series. */
export function settleRecord(r: u32): void {
  const p = pos(r);
  const m = load<u32>(p + P_MKT);
  const mp = mkt(m);
  if (load<u32>(mp + M_KIND) == K_PERP) {
    settleFunding(r);
  } else if (load<u32>(mp + M_STATUS) != 0 && load<i64>(p + P_POS) != 0) {
    const v = settlementValue(r);
    addBal(load<u32>(p + P_OWNER), v);
    addPool(m, -v);
    // (the series' open interest was closed at settlement: expireOptions)
    store<i64>(p + P_POS, 0);
    store<i64>(p + P_COST, 0);
  }
}

/** Settles every record of an account and frees the ones left empty. */
export function settleAccount(id: u32): void {
  let r = load<u32>(acct(id) + A_POS_HEAD);
  while (r != 0) {
    const next = load<u32>(pos(r) + P_ANEXT);
    settleRecord(r);
    if (positionEmpty(r)) dropPosition(r);
    r = next;
  }
}

/** Frees the (id, m) record if it holds nothing any more. */
export function tidy(id: u32, m: u32): void {
  const r = findPosition(id, m);
  if (r != 0 && positionEmpty(r)) {
    settleFunding(r);
    dropPosition(r);
  }
}

/** Moves a record's cost basis for a fill of signed `delta` with signed `notional` (buy > 0). */
function moveCost(r: u32, delta: i64, notional: i64): void {
  const p = pos(r);
  const before = load<i64>(p + P_POS);
  const after = before + delta;
  const cost = load<i64>(p + P_COST);
  if (before == 0 || (before > 0) == (delta > 0)) {
    store<i64>(p + P_COST, satAdd(cost, notional));
  } else if (after == 0 || (after > 0) == (before > 0)) {
    // reduces: the closed share of the cost basis leaves, rounded toward zero
    const absBefore: u64 = before < 0 ? <u64>(-before) : <u64>before;
    const absDelta: u64 = delta < 0 ? <u64>(-delta) : <u64>delta;
    const absCost: u64 = cost < 0 ? <u64>(-cost) : <u64>cost;
    const gone = clampI64(mulDiv(absCost, absDelta, absBefore, false));
    store<i64>(p + P_COST, cost < 0 ? cost + gone : cost - gone);
  } else {
    // flips: the new position's cost is the flipping part of this fill
    const absDelta: u64 = delta < 0 ? <u64>(-delta) : <u64>delta;
    const absAfter: u64 = after < 0 ? <u64>(-after) : <u64>after;
    const absN: u64 = notional < 0 ? <u64>(-notional) : <u64>notional;
    const part = clampI64(mulDiv(absN, absAfter, absDelta, false));
    store<i64>(p + P_COST, notional < 0 ? -part : part);
  }
  store<i64>(p + P_POS, after);
}

/**
 * One trade of `size` at `price` in market m between buyer and seller (records present), with
 * the given quote amounts: the buyer pays `buyerPays`, the seller receives `sellerGets` (equal
 * for book fills; liquidations at the index round each against its payer, the dust to the
 * insurance fund). Settles both records' funding first and keeps open interest.
 */
export function trade(buyer: u32, seller: u32, m: u32, size: u64, buyerPays: i64, sellerGets: i64): void {
  const mp = mkt(m);
  const rb = findPosition(buyer, m);
  const rs = findPosition(seller, m);
  settleFunding(rb);
  settleFunding(rs);
  const ob = load<i64>(pos(rb) + P_POS);
  const os = load<i64>(pos(rs) + P_POS);
  moveCost(rb, <i64>size, buyerPays);
  moveCost(rs, -<i64>size, -sellerGets);
  const nb = load<i64>(pos(rb) + P_POS);
  const ns = load<i64>(pos(rs) + P_POS);
  const oi = <i64>load<u64>(mp + M_OI) + (max0(nb) - max0(ob)) + (max0(ns) - max0(os));
  store<u64>(mp + M_OI, <u64>oi);
  addBal(buyer, -buyerPays);
  addBal(seller, sellerGets);
  if (buyerPays != sellerGets) addInsurance(buyerPays - sellerGets);
}

/** Charges a fee of `ppm` on `notional` to `id`, credited to the fee account; returns it. */
export function chargeFee(id: u32, notional: u64, ppm: u32): i64 {
  if (ppm == 0 || notional == 0) return 0;
  const fee = clampI64(mulDiv(notional, <u64>ppm, PPM, true));
  addBal(id, -fee);
  addBal(cfg32(C_FEE_ACCT), fee);
  setCfg64(C_FEES, <u64>satAdd(<i64>cfg64(C_FEES), fee));
  return fee;
}

/** Open-interest after a trade of `size` between buyer and seller positions `pb`, `ps`. */
function oiAfter(oi: u64, pb: i64, ps: i64, size: u64): u64 {
  const nb = pb + <i64>size, ns = ps - <i64>size;
  return <u64>(<i64>oi + (max0(nb) - max0(pb)) + (max0(ns) - max0(ps)));
}

@inline function posOf(id: u32, m: u32): i64 {
  const r = findPosition(id, m);
  return r == 0 ? 0 : load<i64>(pos(r) + P_POS);
}

/**
 * Whether account `id` could take `size` more of a fill at `price` on side `isBuy` in market
 * m and stay above initial margin (its open orders there already count the size): equity,
 * less what the fill loses against the index and the fee, must cover the initial margin.
 */
export function fillKeepsMargin(id: u32, m: u32, isBuy: bool, price: u64, size: u64, feePpm: u32): bool {
  computeMargin(id, -1, 0, 0, 0);
  const mp = mkt(m);
  const scale = load<u64>(mp + M_SCALE);
  let cost: i64 = 0;
  if (load<u32>(mp + M_KIND) == K_PERP) {
    const mark = load<u64>(mp + M_MARK);
    if (isBuy && price > mark) cost = clampI64(mulDiv(price - mark, size, scale, true));
    if (!isBuy && mark > price) cost = clampI64(mulDiv(mark - price, size, scale, true));
  }
  const notional = mulDiv(price, size, scale, true);
  cost = satAdd(cost, clampI64(mulDiv(notional, <u64>feePpm, PPM, true)));
  return satSub(load<i64>(MARGIN_EQUITY), cost) >= load<i64>(MARGIN_REQUIRED);
}

/** Fills recorded by the last matchBook call (≤ MAX_FILLS); kept in scratch, not in a global. */
@inline export function lastFills(): u32 { return load<u32>(MATCH_TMP); }

/**
 * Matches a taker against the opposite side of market m, best price first and oldest first,
 * at the maker's price, while it crosses `limit`, for at most `size` and MAX_FILLS fills.
 * Resting orders that expired, belong to the taker (self-trade prevention: the resting order
 * is cancelled), are reduce-only with nothing left to reduce, or whose owner would fall below
 * initial margin, are removed on the way. Stops before a fill that would raise open interest
 * past the market's cap. Records fills at RESULT_FILLS when `record`. Returns the size filled.
 * The taker's position record must exist.
 */
export function matchBook(taker: u32, m: u32, isBuy: bool, limit: u64, size: u64, takerFeePpm: u32, record: bool): u64 {
  const mp = mkt(m);
  const scale = load<u64>(mp + M_SCALE);
  const makerFeePpm = load<u32>(mp + M_MAKER_FEE);
  const cap = load<u64>(mp + M_MAX_OI);
  const clock = cfg64(C_CLOCK);
  let remaining = size;
  let fills: u32 = 0;
  while (remaining > 0 && fills < MAX_FILLS) {
    const l = bestLevel(m, !isBuy);
    if (l == 0) break;
    const lp = load<u64>(lvl(l) + L_PRICE);
    if (isBuy ? lp > limit : lp < limit) break;
    const o = load<u32>(lvl(l) + L_HEAD);
    const op = ord(o);
    const owner = load<u32>(op + O_OWNER);
    const expiry = load<u64>(op + O_EXPIRY);
    if (owner == taker || (expiry != 0 && expiry < clock)) {
      removeOrder(o);
      if (owner != taker) tidy(owner, m);
      continue;
    }
    const orem = load<u64>(op + O_REM);
    let fsz = remaining < orem ? remaining : orem;
    const makerPos = posOf(owner, m);
    const reduceOnly = (load<u32>(op + O_OPTS) & OPT_REDUCE_ONLY) != 0;
    if (reduceOnly) {
      const allowed: u64 = isBuy ? (makerPos > 0 ? <u64>makerPos : 0) : (makerPos < 0 ? <u64>(-makerPos) : 0);
      if (allowed == 0) {
        removeOrder(o);
        tidy(owner, m);
        continue;
      }
      if (fsz > allowed) fsz = allowed;
    }
    // The maker takes the other side: it sells when the taker buys.
    const increases = isBuy ? makerPos <= 0 : makerPos >= 0;
    if (increases && !fillKeepsMargin(owner, m, !isBuy, lp, fsz, makerFeePpm)) {
      removeOrder(o);
      tidy(owner, m);
      continue;
    }
    if (cap != 0) {
      const oi = load<u64>(mp + M_OI);
      const takerPos = posOf(taker, m);
      const next = isBuy ? oiAfter(oi, takerPos, makerPos, fsz) : oiAfter(oi, makerPos, takerPos, fsz);
      if (next > cap && next > oi) {
        break;
      }
    }
    const notional = <i64>(lp * fsz / scale); // exact and < 2^63 by the market invariants
    if (isBuy) trade(taker, owner, m, fsz, notional, notional);
    else trade(owner, taker, m, fsz, notional, notional);
    chargeFee(taker, <u64>notional, takerFeePpm);
    chargeFee(owner, <u64>notional, makerFeePpm);
    if (record) {
      const rec = RESULT_FILLS + fills * FILL_LEN;
      putBe64(rec, load<u64>(op + O_ID));
      copy20(rec + 8, acct(owner));
      putBe64(rec + 28, lp);
      putBe64(rec + 36, fsz);
    }
    // A reduce-only maker whose position is now closed keeps nothing resting.
    if (fsz == orem || (reduceOnly && posOf(owner, m) == 0)) {
      removeOrder(o);
      tidy(owner, m);
    } else {
      reduceOrder(o, fsz);
    }
    remaining -= fsz;
    fills++;
  }
  store<u32>(MATCH_TMP, fills);
  return size - remaining;
}

/**
 * Size a taker could fill against the book up to `limit` (FOK's pre-check): resting orders of
 * other accounts that have not expired, counted until `size` is reached or MAX_FILLS orders.
 * Makers that would fail their margin check or a reduce-only clamp can still make the real
 * run fall short; FOK then cancels the rest like IOC (docs/protocol.md §10).
 */
export function fillable(taker: u32, m: u32, isBuy: bool, limit: u64, size: u64): u64 {
  const clock = cfg64(C_CLOCK);
  let total: u64 = 0;
  let orders: u32 = 0;
  let price: u64 = 0;
  let l = bestLevel(m, !isBuy);
  while (l != 0 && total < size && orders < MAX_FILLS) {
    price = load<u64>(lvl(l) + L_PRICE);
    if (isBuy ? price > limit : price < limit) break;
    let o = load<u32>(lvl(l) + L_HEAD);
    while (o != 0 && total < size && orders < MAX_FILLS) {
      const op = ord(o);
      const expiry = load<u64>(op + O_EXPIRY);
      if (load<u32>(op + O_OWNER) != taker && (expiry == 0 || expiry >= clock)) {
        total += load<u64>(op + O_REM);
        orders++;
      }
      o = load<u32>(op + O_NEXT);
    }
    l = nextLevel(m, !isBuy, price);
  }
  return total < size ? total : size;
}

/** The level after `price` on one side, going away from the best price, or 0. */
export function nextLevel(m: u32, bids: bool, price: u64): u32 {
  let n = load<u32>(mkt(m) + (bids ? M_BID_ROOT : M_ASK_ROOT));
  let best: u32 = 0;
  while (n != 0) {
    const np = load<u64>(lvl(n) + L_PRICE);
    if (bids ? np < price : np > price) {
      best = n;
      n = load<u32>(lvl(n) + (bids ? L_RIGHT : L_LEFT)); // back toward `price`
    } else {
      n = load<u32>(lvl(n) + (bids ? L_LEFT : L_RIGHT));
    }
  }
  return best;
}
