// engine.wasm: the Veridex state transition function (docs/protocol.md §8).
//
// Entry points: init, begin_batch, exec_item, end_batch, run_batch (engine.ts).
// Queries (q_*): read-only; they take their arguments by value and write only into the
// scratch region (QUERY). An address argument is passed as (hi i64 = bytes 0..8,
// mid i64 = bytes 8..16, lo i32 = bytes 16..20), each big-endian. Multi-field answers are
// big-endian records at the returned pointer (layouts below; host.ts decodes them).

import {
  A_BAL0, A_BAL1, A_NONCE, A_ORD_HEAD, A_POS_HEAD, P_ANEXT, P_BUYS, P_COST, P_MKT, P_MNEXT, P_POS,
  P_SELLS, acct, findAccount, pos,
} from "./accounts";
import {
  L_COUNT, L_PRICE, L_TOTAL, O_ANEXT, O_EXPIRY, O_ID, O_MKT, O_OPTS, O_OWNER, O_PRICE, O_REM,
  O_TRIGGER, findOrder, levelLeft, levelRight, lvl, ord,
} from "./book";
import { computeMargin, indexOf, pendingFunding, settlementValue, valueAt, intrinsic } from "./margin";
import { domainTypehash, typehash } from "./eip712";
import {
  ADDR_TMP, C_ACCT_COUNT, C_BATCH_COUNT, C_CLOCK, C_DELAYED_READ, C_DELEVERAGES, C_DEPOSITED,
  C_DOMAIN, C_FEES, C_HEAP_TOP, C_INSURANCE, C_INSURANCE_PAID, C_LIQUIDATIONS, C_LVL_USED,
  C_MARKET_COUNT, C_NEXT_ORDER_ID, C_OIX_COUNT, C_OUTBOX_COUNT, C_WITHDRAWN, CFG, FUNDING_HISTORY,
  K_PERP, M_ASK_ROOT, M_BID_ROOT, M_DECIMALS, M_EXPIRY, M_FUND_EPOCH, M_FUND_HIST, M_FUND_IDX,
  M_FUND_N, M_HOLDER_COUNT, M_HOLDERS, M_ID, M_IMF, M_IMPACT, M_KIND, M_LAST_RATE, M_LIQ_BAND,
  M_LIQ_FEE, M_MAKER_FEE, M_MARK, M_MARK_TS, M_MAX_FUNDING, M_MAX_OI, M_MAX_PRICE, M_MAX_SIZE,
  M_MIN_SIZE, M_MMF, M_OI, M_OPT_MIN, M_POOL, M_PREM_N, M_PREM_SUM, M_SCALE, M_SETTLE, M_STATUS,
  M_STEP, M_STRIKE, M_TAKER_FEE, M_TICK, M_TIER_IMF, M_TIER_MMF, M_TIER_NOTIONAL, M_TRIG_COUNT,
  M_UNDERLYING, MARGIN_EQUITY, MARGIN_MAINT, MARGIN_REQUIRED, OUTBOX_ROOT, QUERY, RESULT, SCRATCH,
  SCRATCH_SIZE, WLOG, cfg32, cfg64, copy20, copy32, marketIndex, mkt, putBe32, putBe64,
} from "./layout";

export { init, begin_batch, exec_item, end_batch, run_batch } from "./engine";

export const RESULT_PTR: u32 = RESULT;
export const OUTBOX_ROOT_PTR: u32 = OUTBOX_ROOT;
export const WITHDRAWAL_LOG_PTR: u32 = WLOG;
export const SCRATCH_PTR: u32 = SCRATCH;
export const SCRATCH_LEN: u32 = SCRATCH_SIZE;
export const QUERY_PTR: u32 = QUERY;

function argAddress(hi: u64, mid: u64, lo: u32): u32 {
  putBe64(ADDR_TMP, hi);
  putBe64(ADDR_TMP + 8, mid);
  putBe32(ADDR_TMP + 16, lo);
  return findAccount(ADDR_TMP);
}

/** The account's nonce (0 for an unknown account). */
export function q_nonce(hi: u64, mid: u64, lo: u32): u64 {
  const id = argAddress(hi, mid, lo);
  return id == 0 ? 0 : load<u64>(acct(id) + A_NONCE);
}

/**
 * Writes at QUERY_PTR and returns it:
 *   exists u32 ‖ nonce u64 ‖ collateral i64 ‖ eth i64 ‖ equity i64 ‖ initialMargin i64
 *   ‖ maintenanceMargin i64 ‖ n u32 ‖ n × position                              (52 + 60n bytes)
 *   position = marketId u32 ‖ size i64 ‖ openBuys i64 ‖ openSells i64 ‖ entryNotional i64
 *              ‖ pendingFunding i64 ‖ value i64 ‖ unrealizedPnl i64
 * over the markets where the account has a position or open orders; pendingFunding > 0 is
 * owed by the account; value is at the index (intrinsic value for an option, the settlement
 * value once expired).
 */
export function q_account(hi: u64, mid: u64, lo: u32): u32 {
  const id = argAddress(hi, mid, lo);
  const q = QUERY;
  computeMargin(id, -1, 0, 0, 0);
  putBe32(q, id == 0 ? 0 : 1);
  putBe64(q + 4, id == 0 ? 0 : load<u64>(acct(id) + A_NONCE));
  putBe64(q + 12, id == 0 ? 0 : load<u64>(acct(id) + A_BAL0));
  putBe64(q + 20, id == 0 ? 0 : load<u64>(acct(id) + A_BAL1));
  putBe64(q + 28, load<u64>(MARGIN_EQUITY));
  putBe64(q + 36, load<u64>(MARGIN_REQUIRED));
  putBe64(q + 44, load<u64>(MARGIN_MAINT));
  let n: u32 = 0;
  let r: u32 = id == 0 ? 0 : load<u32>(acct(id) + A_POS_HEAD);
  while (r != 0) {
    const p = pos(r);
    const m = load<u32>(p + P_MKT);
    const mp = mkt(m);
    const e = q + 56 + n * 60;
    const size = load<i64>(p + P_POS);
    let value: i64 = 0;
    if (load<u32>(mp + M_KIND) == K_PERP) value = valueAt(size, load<u64>(mp + M_MARK), load<u64>(mp + M_SCALE));
    else if (load<u32>(mp + M_STATUS) != 0) value = settlementValue(r);
    else value = valueAt(size, intrinsic(mp, indexOf(m)), load<u64>(mp + M_SCALE));
    putBe32(e, load<u32>(mp + M_ID));
    putBe64(e + 4, <u64>size);
    putBe64(e + 12, load<u64>(p + P_BUYS));
    putBe64(e + 20, load<u64>(p + P_SELLS));
    putBe64(e + 28, load<u64>(p + P_COST));
    putBe64(e + 36, <u64>pendingFunding(r));
    putBe64(e + 44, <u64>value);
    putBe64(e + 52, <u64>(value - load<i64>(p + P_COST)));
    n++;
    r = load<u32>(p + P_ANEXT);
  }
  putBe32(q + 52, n);
  return q;
}

function putOrder(e: u32, o: u32): void {
  const op = ord(o);
  putBe64(e, load<u64>(op + O_ID));
  putBe32(e + 8, load<u32>(mkt(load<u32>(op + O_MKT)) + M_ID));
  store<u8>(e + 12, <u8>load<u32>(op + O_OPTS));
  putBe64(e + 13, load<u64>(op + O_PRICE));
  putBe64(e + 21, load<u64>(op + O_REM));
  putBe64(e + 29, load<u64>(op + O_TRIGGER));
  putBe64(e + 37, load<u64>(op + O_EXPIRY));
}

/**
 * 0 if no such open order; else writes at QUERY_PTR and returns it:
 *   owner address ‖ order                                                       (65 bytes)
 *   order = orderId u64 ‖ marketId u32 ‖ options u8 ‖ price u64 ‖ remaining u64 ‖ trigger u64 ‖ expiry u64
 * (a stop / take-profit not yet triggered has trigger ≠ 0 and rests on no book).
 */
export function q_order(orderId: u64): u32 {
  const o = findOrder(orderId);
  if (o == 0) return 0;
  copy20(QUERY, acct(load<u32>(ord(o) + O_OWNER)));
  putOrder(QUERY + 20, o);
  return QUERY;
}

/** The account's open orders, newest first: n u32 ‖ n × order (45 bytes, as in q_order). */
export function q_orders(hi: u64, mid: u64, lo: u32): u32 {
  const id = argAddress(hi, mid, lo);
  let n: u32 = 0;
  let o: u32 = id == 0 ? 0 : load<u32>(acct(id) + A_ORD_HEAD);
  while (o != 0) {
    putOrder(QUERY + 4 + n * 45, o);
    n++;
    o = load<u32>(ord(o) + O_ANEXT);
  }
  putBe32(QUERY, n);
  return QUERY;
}

export const BOOK_MAX_DEPTH: u32 = 512;
const LEVEL_REC: u32 = 20;

function walk(n: u32, desc: bool, out: u32, max: u32, count: u32): u32 {
  if (n == 0 || count >= max) return count;
  count = walk(desc ? levelRight(n) : levelLeft(n), desc, out, max, count);
  if (count < max) {
    const lp = lvl(n);
    const r = out + count * LEVEL_REC;
    putBe64(r, load<u64>(lp + L_PRICE));
    putBe64(r + 8, load<u64>(lp + L_TOTAL));
    putBe32(r + 16, load<u32>(lp + L_COUNT));
    count++;
  }
  return walk(desc ? levelLeft(n) : levelRight(n), desc, out, max, count);
}

/**
 * 0 for an unknown market; else writes at QUERY_PTR and returns it:
 *   nBids u32 ‖ nBids × level ‖ nAsks u32 ‖ nAsks × level,  level = price u64 ‖ size u64 ‖ orders u32
 * best price first, at most min(depth, BOOK_MAX_DEPTH) levels a side.
 */
export function q_book(marketId: u32, depth: u32): u32 {
  const mi = marketIndex(marketId);
  if (mi < 0) return 0;
  const mp = mkt(<u32>mi);
  const max = depth < BOOK_MAX_DEPTH ? depth : BOOK_MAX_DEPTH;
  const q = QUERY;
  const nb = walk(load<u32>(mp + M_BID_ROOT), true, q + 4, max, 0);
  putBe32(q, nb);
  const a = q + 4 + nb * LEVEL_REC;
  const na = walk(load<u32>(mp + M_ASK_ROOT), false, a + 4, max, 0);
  putBe32(a, na);
  return q;
}

/** Index price of a market (its underlying's for an option; 0 if none yet, -1 for an unknown market). */
export function q_mark(marketId: u32): i64 {
  const mi = marketIndex(marketId);
  if (mi < 0) return -1;
  return <i64>indexOf(<u32>mi);
}

/** Timestamp of a market's index (0 if none yet, -1 for an unknown market). */
export function q_mark_timestamp(marketId: u32): i64 {
  const mi = marketIndex(marketId);
  if (mi < 0) return -1;
  return load<i64>(mkt(load<u32>(mkt(<u32>mi) + M_UNDERLYING)) + M_MARK_TS);
}

/** Id of the market at table index `i` (genesis order, then ADMIN additions), or -1. */
export function q_market_id(i: u32): i64 {
  return i < cfg32(C_MARKET_COUNT) ? <i64>load<u32>(mkt(i) + M_ID) : -1;
}

/**
 * 0 for an unknown market; else writes at QUERY_PTR and returns it: the market's config in the
 * genesis encoding (130 bytes, docs/protocol.md §4), then its state:
 *   index u64 ‖ indexTimestamp u64 ‖ openInterest u64 ‖ shortOpenInterest u64 ‖ fundingIndex i64
 *   ‖ lastFundingRatePpb i64 ‖ nextFundingTime u64 ‖ premiumSamples u32 ‖ premiumSumPpb i64
 *   ‖ status u32 ‖ settlementPrice u64 ‖ pool i64 ‖ holders u32 ‖ triggerOrders u32   (100 bytes)
 */
export function q_market(marketId: u32): u32 {
  const mi = marketIndex(marketId);
  if (mi < 0) return 0;
  const mp = mkt(<u32>mi);
  const q = QUERY;
  putBe32(q, load<u32>(mp + M_ID));
  store<u8>(q + 4, <u8>load<u32>(mp + M_KIND));
  putBe32(q + 5, load<u32>(mkt(load<u32>(mp + M_UNDERLYING)) + M_ID));
  putBe64(q + 9, load<u64>(mp + M_STRIKE));
  putBe64(q + 17, load<u64>(mp + M_EXPIRY));
  putBe64(q + 25, load<u64>(mp + M_TICK));
  putBe64(q + 33, load<u64>(mp + M_STEP));
  putBe64(q + 41, load<u64>(mp + M_MIN_SIZE));
  putBe64(q + 49, load<u64>(mp + M_MAX_SIZE));
  putBe64(q + 57, load<u64>(mp + M_MAX_PRICE));
  store<u8>(q + 65, <u8>load<u32>(mp + M_DECIMALS));
  putBe32(q + 66, load<u32>(mp + M_IMF));
  putBe32(q + 70, load<u32>(mp + M_MMF));
  putBe64(q + 74, load<u64>(mp + M_TIER_NOTIONAL));
  putBe32(q + 82, load<u32>(mp + M_TIER_IMF));
  putBe32(q + 86, load<u32>(mp + M_TIER_MMF));
  putBe64(q + 90, load<u64>(mp + M_MAX_OI));
  putBe32(q + 98, load<u32>(mp + M_MAKER_FEE));
  putBe32(q + 102, load<u32>(mp + M_TAKER_FEE));
  putBe32(q + 106, load<u32>(mp + M_LIQ_FEE));
  putBe32(q + 110, load<u32>(mp + M_LIQ_BAND));
  putBe64(q + 114, load<u64>(mp + M_IMPACT));
  putBe32(q + 122, load<u32>(mp + M_MAX_FUNDING));
  putBe32(q + 126, load<u32>(mp + M_OPT_MIN));
  let shortOi: u64 = 0;
  // a settled series has no open interest left, only claims (oracle.ts expireOptions)
  let r = load<u32>(mp + M_STATUS) == 0 ? load<u32>(mp + M_HOLDERS) : 0;
  while (r != 0) {
    const size = load<i64>(pos(r) + P_POS);
    if (size < 0) shortOi += <u64>(-size);
    r = load<u32>(pos(r) + P_MNEXT);
  }
  const s = q + 130;
  putBe64(s, indexOf(<u32>mi));
  putBe64(s + 8, load<u64>(mkt(load<u32>(mp + M_UNDERLYING)) + M_MARK_TS));
  putBe64(s + 16, load<u64>(mp + M_OI));
  putBe64(s + 24, shortOi);
  putBe64(s + 32, load<u64>(mp + M_FUND_IDX));
  putBe64(s + 40, load<u64>(mp + M_LAST_RATE));
  putBe64(s + 48, load<u64>(mp + M_FUND_EPOCH));
  putBe32(s + 56, load<u32>(mp + M_PREM_N));
  putBe64(s + 60, load<u64>(mp + M_PREM_SUM));
  putBe32(s + 68, load<u32>(mp + M_STATUS));
  putBe64(s + 72, load<u64>(mp + M_SETTLE));
  putBe64(s + 80, load<u64>(mp + M_POOL));
  putBe32(s + 88, load<u32>(mp + M_HOLDER_COUNT));
  putBe32(s + 92, load<u32>(mp + M_TRIG_COUNT));
  return q;
}

/** 0 for an unknown market; else n u32 ‖ n × (time u64 ‖ ratePpb i64), newest first (at most 7). */
export function q_funding(marketId: u32): u32 {
  const mi = marketIndex(marketId);
  if (mi < 0) return 0;
  const mp = mkt(<u32>mi);
  const total = load<u32>(mp + M_FUND_N);
  const n = total < FUNDING_HISTORY ? total : FUNDING_HISTORY;
  putBe32(QUERY, n);
  for (let k: u32 = 0; k < n; k++) {
    const h = mp + M_FUND_HIST + ((total - 1 - k) % FUNDING_HISTORY) * 16;
    putBe64(QUERY + 4 + k * 16, load<u64>(h));
    putBe64(QUERY + 12 + k * 16, load<u64>(h + 8));
  }
  return QUERY;
}

/**
 * The exchange's ledger at QUERY_PTR:
 *   insurance i64 ‖ deposited i64 ‖ withdrawn i64 ‖ fees i64 ‖ insurancePaid i64
 *   ‖ liquidations u64 ‖ deleverages u64 ‖ pools i64 ‖ balances i64 ‖ accounts u32     (76 bytes)
 * `balances` sums every account's collateral and `pools` every market's pool, so that
 * balances + insurance + pools = deposited − withdrawn (conservation, tests check it).
 */
export function q_ledger(): u32 {
  const q = QUERY;
  putBe64(q, cfg64(C_INSURANCE));
  putBe64(q + 8, cfg64(C_DEPOSITED));
  putBe64(q + 16, cfg64(C_WITHDRAWN));
  putBe64(q + 24, cfg64(C_FEES));
  putBe64(q + 32, cfg64(C_INSURANCE_PAID));
  putBe64(q + 40, cfg64(C_LIQUIDATIONS));
  putBe64(q + 48, cfg64(C_DELEVERAGES));
  let pools: i64 = 0;
  const nm = cfg32(C_MARKET_COUNT);
  for (let m: u32 = 0; m < nm; m++) pools += load<i64>(mkt(m) + M_POOL);
  let bal: i64 = 0;
  const na = cfg32(C_ACCT_COUNT);
  for (let id: u32 = 1; id <= na; id++) bal += load<i64>(acct(id) + A_BAL0);
  putBe64(q + 56, <u64>pools);
  putBe64(q + 64, <u64>bal);
  putBe32(q + 72, na);
  return q;
}

/**
 * Accounts below maintenance margin (what LIQUIDATE accepts, oracle freshness aside), scanning
 * account ids from `start` (1-based) for at most `scan` accounts: next u32 (the id to continue
 * from, 0 when done) ‖ n u32 ‖ n × address, at most 256.
 */
export function q_liquidatable(start: u32, scan: u32): u32 {
  const na = cfg32(C_ACCT_COUNT);
  let id: u32 = start == 0 ? 1 : start;
  let n: u32 = 0;
  let seen: u32 = 0;
  while (id <= na && seen < scan && n < 256) {
    if (load<u32>(acct(id) + A_POS_HEAD) != 0) {
      computeMargin(id, -1, 0, 0, 0);
      let open = false;
      let r = load<u32>(acct(id) + A_POS_HEAD);
      while (r != 0) {
        if (load<i64>(pos(r) + P_POS) != 0 && load<u32>(mkt(load<u32>(pos(r) + P_MKT)) + M_STATUS) == 0) open = true;
        r = load<u32>(pos(r) + P_ANEXT);
      }
      if (open && load<i64>(MARGIN_EQUITY) < load<i64>(MARGIN_MAINT)) {
        copy20(QUERY + 8 + n * 20, acct(id));
        n++;
      }
    }
    id++;
    seen++;
  }
  putBe32(QUERY, id > na ? 0 : id);
  putBe32(QUERY + 4, n);
  return QUERY;
}

export function q_outbox_count(): u64 { return cfg64(C_OUTBOX_COUNT); }
export function q_batch_count(): u64 { return cfg64(C_BATCH_COUNT); }
export function q_delayed_read(): u64 { return cfg64(C_DELAYED_READ); }
export function q_next_order_id(): u64 { return cfg64(C_NEXT_ORDER_ID); }
export function q_clock(): u64 { return cfg64(C_CLOCK); }

/** Copies the EIP-712 domain separator to QUERY_PTR and returns it. */
export function q_domain_separator(): u32 {
  copy32(QUERY, CFG + C_DOMAIN);
  return QUERY;
}

/** Copies the EIP-712 typehash of item type `t` (signed types; 0 = the domain's) to QUERY_PTR; 0 if none. */
export function q_typehash(t: u32): u32 {
  const p = t == 0 ? domainTypehash() : typehash(t);
  if (p == 0) return 0;
  copy32(QUERY, p);
  return QUERY;
}

/**
 * Table statistics at QUERY_PTR: accounts u32 ‖ restingOrders u32 ‖ levelsHighWater u32 ‖
 * heapTop u32 ‖ memoryPages u32 ‖ markets u32.
 */
export function q_stats(): u32 {
  const q = QUERY;
  putBe32(q, cfg32(C_ACCT_COUNT));
  putBe32(q + 4, cfg32(C_OIX_COUNT));
  putBe32(q + 8, cfg32(C_LVL_USED));
  putBe32(q + 12, cfg32(C_HEAP_TOP));
  putBe32(q + 16, <u32>memory.size());
  putBe32(q + 20, cfg32(C_MARKET_COUNT));
  return q;
}
