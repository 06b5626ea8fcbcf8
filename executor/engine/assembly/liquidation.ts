// Liquidation, the insurance fund and automatic deleveraging (docs/protocol.md §10).
//
// LIQUIDATE(account) is permissionless: anyone may name an account whose equity is below its
// maintenance margin (the node's keeper does it after every index update). The engine then
//   1. cancels the account's orders and settles its funding and expired options;
//   2. closes each position against the book, immediate-or-cancel, within the market's
//      liquidation band around the index (perpetuals) or the option's margin bounds;
//   3. charges the liquidation fee on the closed notional to the insurance fund, at most the
//      equity left;
//   4. deleverages what the book could not take: the most profitable opposite positions
//      (unrealized PnL against their cost basis) take it over at the index price;
//   5. covers a negative balance from the insurance fund, and what the fund cannot cover from
//      the deleveraged counterparties, pro rata to the size each took (their price moves to the
//      bankruptcy price); if nothing was deleveraged, from the most profitable holders of the
//      liquidated markets, each at most its unrealized profit.

import {
  A_BAL0, A_POS_HEAD, P_ANEXT, P_COST, P_MKT, P_MNEXT, P_OWNER, P_POS, acct, findAccount, pos,
  takePosition,
} from "./accounts";
import {
  C_DELEVERAGES, C_INSURANCE, C_INSURANCE_PAID, C_LIQUIDATIONS, I64_MAX, K_CALL, K_PERP,
  M_HOLDERS, M_IMF, M_KIND, M_LIQ_BAND, M_LIQ_FEE, M_MARK, M_MAX_PRICE, M_SCALE, M_STATUS,
  M_STRIKE, MARGIN_EQUITY, MARGIN_MAINT, NO_ORACLE_PRICE, NOT_LIQUIDATABLE, OK, PPM,
  STALE_ORACLE_PRICE, U64_MAX, UNKNOWN_ORDER, cfg64, clampI64, mkt, mulDiv, satAdd, setCfg64,
  MATCH_TMP,
} from "./layout";
import { computeMargin, indexOf, indexStale, intrinsic, valueAt } from "./margin";
import { cancelAllOf, writeResult } from "./orders";
import { addBal, addInsurance, matchBook, settleAccount, tidy, trade } from "./trade";

/** Most counterparties one deleveraging or loss allocation visits (bounds the work of an item). */
const MAX_ADL: u32 = 16;
// Deleveraged counterparties of the current liquidation: id u32 ‖ size u64 per entry, after the
// match scratch at MATCH_TMP.
const ADL_LIST: u32 = MATCH_TMP + 16;
const ADL_COUNT: u32 = MATCH_TMP + 8;

@inline function abs64(v: i64): u64 { return v < 0 ? <u64>(-v) : <u64>v; }

/** Unrealized PnL of a record at the index: value − cost basis. */
function pnlOf(r: u32): i64 {
  const p = pos(r);
  const mp = mkt(load<u32>(p + P_MKT));
  const size = load<i64>(p + P_POS);
  const price: u64 = load<u32>(mp + M_KIND) == K_PERP ? load<u64>(mp + M_MARK) : intrinsic(mp, indexOf(load<u32>(p + P_MKT)));
  return valueAt(size, price, load<u64>(mp + M_SCALE)) - load<i64>(p + P_COST);
}

/** The limit a liquidation's closing order may trade at in market m. */
function closeLimit(m: u32, isBuy: bool): u64 {
  const mp = mkt(m);
  const s = indexOf(m);
  if (load<u32>(mp + M_KIND) == K_PERP) {
    const band = mulDiv(s, <u64>load<u32>(mp + M_LIQ_BAND), PPM, false);
    return isBuy ? s + band : (s > band ? s - band : 1);
  }
  // options: buy back a short at most at intrinsic + the short's margin rate; sell a long at intrinsic or better
  const iv = intrinsic(mp, s);
  if (!isBuy) return iv == 0 ? 1 : iv;
  const lim = iv + mulDiv(s, <u64>load<u32>(mp + M_IMF), PPM, true);
  const max = load<u64>(mp + M_MAX_PRICE);
  return lim > max ? max : lim;
}

/**
 * The record of market m's holder (other than `id`) with the highest unrealized PnL, ties to the
 * lower account id, or 0: among the longs (`side` 1) or the shorts (-1), or with `side` 0 among
 * the holders whose PnL is positive and whose balance can pay (step 5's last resort).
 */
function mostProfitable(m: u32, id: u32, side: i32): u32 {
  let best: u32 = 0;
  let bestPnl: i64 = 0;
  let r = load<u32>(mkt(m) + M_HOLDERS);
  while (r != 0) {
    const p = pos(r);
    const owner = load<u32>(p + P_OWNER);
    const s = load<i64>(p + P_POS);
    if (owner != id && (side > 0 ? s > 0 : side < 0 ? s < 0 : true)) {
      const v = pnlOf(r);
      const eligible = side != 0 || (v > 0 && load<i64>(acct(owner) + A_BAL0) > 0);
      if (eligible && (best == 0 || v > bestPnl || (v == bestPnl && owner < load<u32>(pos(best) + P_OWNER)))) {
        best = r;
        bestPnl = v;
      }
    }
    r = load<u32>(p + P_MNEXT);
  }
  return best;
}

/** Step 4: hands `size` of the liquidated account's position in m to the most profitable opposite holders, at the index. */
function deleverage(id: u32, m: u32, isLong: bool, size: u64): u64 {
  const mp = mkt(m);
  const scale = load<u64>(mp + M_SCALE);
  const price: u64 = load<u32>(mp + M_KIND) == K_PERP ? load<u64>(mp + M_MARK) : intrinsic(mp, indexOf(m));
  let left = size;
  let n = load<u32>(ADL_COUNT);
  for (let k: u32 = 0; k < MAX_ADL && left > 0; k++) {
    const best = mostProfitable(m, id, isLong ? -1 : 1);
    if (best == 0) break;
    const other = load<u32>(pos(best) + P_OWNER);
    const avail = abs64(load<i64>(pos(best) + P_POS));
    const take = avail < left ? avail : left;
    const up = clampI64(mulDiv(price, take, scale, true));
    const down = clampI64(mulDiv(price, take, scale, false));
    // each side's rounding goes against it; the dust goes to the insurance fund
    if (isLong) trade(other, id, m, take, up, down);
    else trade(id, other, m, take, up, down);
    tidy(other, m);
    if (n < MAX_ADL) {
      store<u32>(ADL_LIST + n * 12, other);
      store<u64>(ADL_LIST + n * 12 + 4, take);
      n++;
    }
    setCfg64(C_DELEVERAGES, cfg64(C_DELEVERAGES) + 1);
    left -= take;
  }
  store<u32>(ADL_COUNT, n);
  return size - left;
}

/** Step 5's last resort: takes `loss` from the most profitable holders of market m, each at most its profit. */
function haircut(id: u32, m: u32, loss: i64): i64 {
  for (let k: u32 = 0; k < MAX_ADL && loss > 0; k++) {
    const best = mostProfitable(m, id, 0);
    if (best == 0) break;
    const owner = load<u32>(pos(best) + P_OWNER);
    const bal = load<i64>(acct(owner) + A_BAL0);
    const profit = pnlOf(best);
    let take = loss < profit ? loss : profit;
    if (take > bal) take = bal;
    addBal(owner, -take);
    addBal(id, take);
    // the profit given up leaves the cost basis too, so the holder is not ranked first again for it
    store<i64>(pos(best) + P_COST, satAdd(load<i64>(pos(best) + P_COST), take));
    setCfg64(C_DELEVERAGES, cfg64(C_DELEVERAGES) + 1);
    loss -= take;
  }
  return loss;
}

/** LIQUIDATE: the 20-byte address of the account to liquidate at `f` (no signature). */
export function doLiquidate(f: u32): u32 {
  const id = findAccount(f);
  if (id == 0) return UNKNOWN_ORDER;
  let r = load<u32>(acct(id) + A_POS_HEAD);
  let hasPosition = false;
  while (r != 0) {
    const p = pos(r);
    const m = load<u32>(p + P_MKT);
    if (load<i64>(p + P_POS) != 0 && load<u32>(mkt(m) + M_STATUS) == 0) {
      hasPosition = true;
      if (indexOf(m) == 0) return NO_ORACLE_PRICE;
      if (indexStale(m)) return STALE_ORACLE_PRICE;
    }
    r = load<u32>(p + P_ANEXT);
  }
  if (!hasPosition) return NOT_LIQUIDATABLE;
  computeMargin(id, -1, 0, 0, 0);
  if (load<i64>(MARGIN_EQUITY) >= load<i64>(MARGIN_MAINT)) return NOT_LIQUIDATABLE;

  // --- liquidating: mutate from here on ---
  cancelAllOf(id, -1);
  settleAccount(id);
  store<u32>(ADL_COUNT, 0);
  let closed: u64 = 0; // notional closed against the book, for the fee
  let fee: u64 = 0;
  let lastMarket: i32 = -1;
  r = load<u32>(acct(id) + A_POS_HEAD);
  while (r != 0) {
    const p = pos(r);
    const next = load<u32>(p + P_ANEXT);
    const m = load<u32>(p + P_MKT);
    const size = load<i64>(p + P_POS);
    if (size != 0) {
      lastMarket = <i32>m;
      const mp = mkt(m);
      const isBuy = size < 0;
      const want = abs64(size);
      const filled = matchBook(id, m, isBuy, closeLimit(m, isBuy), want, 0, false);
      const notional = mulDiv(indexOf(m), filled, load<u64>(mp + M_SCALE), false);
      closed += notional;
      fee += mulDiv(notional, <u64>load<u32>(mp + M_LIQ_FEE), PPM, true);
    }
    r = next;
  }
  // step 3: the fee, from what equity is left
  computeMargin(id, -1, 0, 0, 0);
  const equity = load<i64>(MARGIN_EQUITY);
  if (fee > 0 && equity > 0) {
    const charge = clampI64(fee) < equity ? clampI64(fee) : equity;
    addBal(id, -charge);
    addInsurance(charge);
  }
  // step 4: what the book did not take
  r = load<u32>(acct(id) + A_POS_HEAD);
  while (r != 0) {
    const p = pos(r);
    const next = load<u32>(p + P_ANEXT);
    const m = load<u32>(p + P_MKT);
    const size = load<i64>(p + P_POS);
    if (size != 0) {
      lastMarket = <i32>m;
      deleverage(id, m, size > 0, abs64(size));
    }
    tidy(id, m);
    r = next;
  }
  // step 5: a negative balance of a now flat account
  const bal = load<i64>(acct(id) + A_BAL0);
  if (bal < 0 && load<u32>(acct(id) + A_POS_HEAD) == 0) {
    const deficit = -bal;
    const fund = <i64>cfg64(C_INSURANCE);
    const cover = fund < deficit ? (fund > 0 ? fund : 0) : deficit;
    addInsurance(-cover);
    addBal(id, cover);
    setCfg64(C_INSURANCE_PAID, <u64>satAdd(<i64>cfg64(C_INSURANCE_PAID), cover));
    let loss = deficit - cover;
    const n = load<u32>(ADL_COUNT);
    if (loss > 0 && n > 0) {
      let total: u64 = 0;
      for (let k: u32 = 0; k < n; k++) total += load<u64>(ADL_LIST + k * 12 + 4);
      let collected: i64 = 0;
      for (let k: u32 = 0; k < n; k++) {
        const other = load<u32>(ADL_LIST + k * 12);
        const share = clampI64(mulDiv(<u64>loss, load<u64>(ADL_LIST + k * 12 + 4), total, true));
        addBal(other, -share);
        collected = satAdd(collected, share);
      }
      // shares round up: what exceeds the loss goes to the insurance fund
      addBal(id, loss);
      addInsurance(collected - loss);
      loss = 0;
    }
    if (loss > 0 && lastMarket >= 0) loss = haircut(id, <u32>lastMarket, loss);
  }
  setCfg64(C_LIQUIDATIONS, cfg64(C_LIQUIDATIONS) + 1);
  writeResult(OK, 0, closed, 0);
  return OK;
}
