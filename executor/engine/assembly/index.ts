// engine.wasm: the Veridex state transition function (docs/protocol.md §8).
//
// Entry points: init, begin_batch, exec_item, end_batch, run_batch (engine.ts).
// Queries (q_*): read-only; they take their arguments by value and write only into the
// scratch region (QUERY). An address argument is passed as (hi i64 = bytes 0..8,
// mid i64 = bytes 8..16, lo i32 = bytes 16..20), each big-endian. Multi-field answers are
// big-endian records at the returned pointer (layouts below; host.ts decodes them).

import { A_BAL0, A_BAL1, A_MASK, A_NONCE, P_BUYS, P_POS, P_SELLS, acct, acctMkt, findAccount } from "./accounts";
import {
  L_COUNT, L_PRICE, L_TOTAL, O_BUY, O_MKT, O_OWNER, O_PRICE, O_REM, findOrder, levelLeft,
  levelRight, lvl, ord,
} from "./book";
import { computeMargin } from "./engine";
import { domainTypehash, typehash } from "./eip712";
import {
  ADDR_TMP, C_ACCT_COUNT, C_BATCH_COUNT, C_CLOCK, C_DELAYED_READ, C_DOMAIN, C_HEAP_TOP,
  C_LVL_USED, C_MARKET_COUNT, C_NEXT_ORDER_ID, C_OIX_COUNT, C_OUTBOX_COUNT, CFG, M_ASK_ROOT,
  M_BID_ROOT, M_ID, M_MARK, M_MARK_TS, MARGIN_EQUITY, MARGIN_REQUIRED, OUTBOX_ROOT, QUERY,
  RESULT, SCRATCH, SCRATCH_SIZE, WLOG, cfg32, cfg64, copy20, copy32, marketIndex, mkt,
  putBe32, putBe64,
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
 *   exists u32 ‖ nonce u64 ‖ collateral i64 ‖ eth i64 ‖ equity i64 ‖ initialMargin i64 ‖ n u32
 *   ‖ n × (marketId u32 ‖ position i64 ‖ openBuys i64 ‖ openSells i64)     (44 + 28n bytes)
 * listing the markets where the account has a position or open orders, in market order.
 */
export function q_account(hi: u64, mid: u64, lo: u32): u32 {
  const id = argAddress(hi, mid, lo);
  const q = QUERY;
  computeMargin(id, -1, false, 0);
  putBe32(q, id == 0 ? 0 : 1);
  putBe64(q + 4, id == 0 ? 0 : load<u64>(acct(id) + A_NONCE));
  putBe64(q + 12, id == 0 ? 0 : load<u64>(acct(id) + A_BAL0));
  putBe64(q + 20, id == 0 ? 0 : load<u64>(acct(id) + A_BAL1));
  putBe64(q + 28, load<u64>(MARGIN_EQUITY));
  putBe64(q + 36, load<u64>(MARGIN_REQUIRED));
  let n: u32 = 0;
  if (id != 0) {
    let mask = load<u32>(acct(id) + A_MASK);
    while (mask != 0) {
      const m = ctz<u32>(mask);
      mask &= mask - 1;
      const p = acctMkt(id, m);
      const r = q + 48 + n * 28;
      putBe32(r, load<u32>(mkt(m) + M_ID));
      putBe64(r + 4, load<u64>(p + P_POS));
      putBe64(r + 12, load<u64>(p + P_BUYS));
      putBe64(r + 20, load<u64>(p + P_SELLS));
      n++;
    }
  }
  putBe32(q + 44, n);
  return q;
}

/**
 * 0 if no such resting order; else writes at QUERY_PTR and returns it:
 *   owner address ‖ marketId u32 ‖ isBuy u8 ‖ price u64 ‖ remaining u64      (41 bytes)
 */
export function q_order(orderId: u64): u32 {
  const o = findOrder(orderId);
  if (o == 0) return 0;
  const op = ord(o);
  const q = QUERY;
  copy20(q, acct(load<u32>(op + O_OWNER)));
  putBe32(q + 20, load<u32>(mkt(load<u32>(op + O_MKT)) + M_ID));
  store<u8>(q + 24, <u8>load<u32>(op + O_BUY));
  putBe64(q + 25, load<u64>(op + O_PRICE));
  putBe64(q + 33, load<u64>(op + O_REM));
  return q;
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

/** Mark price of a market (0 if none yet, -1 for an unknown market). */
export function q_mark(marketId: u32): i64 {
  const mi = marketIndex(marketId);
  if (mi < 0) return -1;
  return load<i64>(mkt(<u32>mi) + M_MARK);
}

/** Timestamp of a market's mark price (0 if none yet, -1 for an unknown market). */
export function q_mark_timestamp(marketId: u32): i64 {
  const mi = marketIndex(marketId);
  if (mi < 0) return -1;
  return load<i64>(mkt(<u32>mi) + M_MARK_TS);
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

/** Copies the EIP-712 typehash of item type `t` (1..5; 0 = the domain's) to QUERY_PTR; 0 if none. */
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
