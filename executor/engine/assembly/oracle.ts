// Oracle prices, triggers, option expiry and funding (docs/protocol.md §10).
//
// Each perpetual keeps the newest signed price of every configured oracle key; its index is
// the median of the fresh ones (the lower middle one for an even count). An index update fires
// the market's stop and take-profit orders and settles its expired option series. Funding
// samples the premium of the impact prices against the index once a minute and pays one
// eighth of the hour's average premium, clamped, at every full hour of the batch clock.

import { L_PRICE, L_TOTAL, O_ID, O_OPTS, O_PREV, O_NEXT, O_TRIGGER, O_OWNER, L_HEAD, bestLevel, lvl, ord, removeOrder } from "./book";
import {
  C_CLOCK, C_MARKET_COUNT, C_MAX_ORACLE_AGE, C_ORACLE_COUNT, C_ORACLES, CFG, FUNDING_HISTORY,
  FUNDING_INDEX_UNIT, FUNDING_PERIOD, FUNDING_SAMPLE_EVERY, I64_MAX, K_PERP, M_EXPIRY, M_FUND_EPOCH,
  M_FUND_HIST, M_FUND_IDX, M_FUND_N, M_IMPACT, M_KIND, M_LAST_RATE, M_MARK, M_MARK_TS, M_MAX_FUNDING,
  M_MAX_PRICE, M_NEXT_SAMPLE, M_OI, M_ORACLE, M_PREM_N, M_PREM_SUM, M_SCALE, M_SETTLE, M_STATUS,
  M_TRIG_HEAD, M_UNDERLYING, MAX_ORACLES, BAD_PRICE, NOT_ORACLE, OK, PPB, STALE_ORACLE_PRICE,
  U64_MAX, UNKNOWN_MARKET, be32, be64, cfg32, cfg64, clampI64, eq20, marketIndex, mkt, mulDiv,
  satAdd,
} from "./layout";
import { indexStale } from "./margin";
import { fireTrigger, triggered, writeResult } from "./orders";
import { nextLevel, tidy } from "./trade";

/** The slot of the oracle key at `sender`, or -1. */
function oracleSlot(sender: u32): i32 {
  const n = cfg32(C_ORACLE_COUNT);
  for (let k: u32 = 0; k < n; k++) if (eq20(sender, CFG + C_ORACLES + k * 20)) return <i32>k;
  return -1;
}

/** Recomputes market m's index: the median of the oracle prices no older than the staleness bound. */
function recomputeIndex(m: u32): void {
  const mp = mkt(m);
  const clock = cfg64(C_CLOCK);
  const age = <u64>cfg32(C_MAX_ORACLE_AGE);
  // at most 8 prices: an insertion sort into the scratch-free stack of locals is enough
  let p0: u64 = 0, p1: u64 = 0, p2: u64 = 0, p3: u64 = 0, p4: u64 = 0, p5: u64 = 0, p6: u64 = 0, p7: u64 = 0;
  let n: u32 = 0;
  let newest: u64 = 0;
  for (let k: u32 = 0; k < MAX_ORACLES; k++) {
    const s = mp + M_ORACLE + k * 16;
    const price = load<u64>(s);
    const ts = load<u64>(s + 8);
    if (price == 0 || ts + age < clock) continue;
    if (ts > newest) newest = ts;
    // insert `price` keeping p0 <= p1 <= ... (n values)
    let v = price;
    if (n > 0 && v < p0) { const t = p0; p0 = v; v = t; }
    if (n > 1 && v < p1) { const t = p1; p1 = v; v = t; }
    if (n > 2 && v < p2) { const t = p2; p2 = v; v = t; }
    if (n > 3 && v < p3) { const t = p3; p3 = v; v = t; }
    if (n > 4 && v < p4) { const t = p4; p4 = v; v = t; }
    if (n > 5 && v < p5) { const t = p5; p5 = v; v = t; }
    if (n > 6 && v < p6) { const t = p6; p6 = v; v = t; }
    switch (n) {
      case 0: p0 = v; break;
      case 1: p1 = v; break;
      case 2: p2 = v; break;
      case 3: p3 = v; break;
      case 4: p4 = v; break;
      case 5: p5 = v; break;
      case 6: p6 = v; break;
      default: p7 = v;
    }
    n++;
  }
  if (n == 0) return;
  const mid = (n - 1) >> 1;
  let median = p0;
  switch (mid) {
    case 1: median = p1; break;
    case 2: median = p2; break;
    case 3: median = p3; break;
  }
  store<u64>(mp + M_MARK, median);
  store<u64>(mp + M_MARK_TS, newest);
}

/** Fires the triggered stops of market m, oldest order first. */
function fireTriggers(m: u32): void {
  const mp = mkt(m);
  const idx = load<u64>(mp + M_MARK);
  // The list is newest first; walk to its tail and fire going back, so older orders go first.
  let o = load<u32>(mp + M_TRIG_HEAD);
  if (o == 0) return;
  while (load<u32>(ord(o) + O_NEXT) != 0) o = load<u32>(ord(o) + O_NEXT);
  while (o != 0) {
    const prev = load<u32>(ord(o) + O_PREV);
    if (triggered(load<u32>(ord(o) + O_OPTS), load<u64>(ord(o) + O_TRIGGER), idx)) fireTrigger(o);
    o = prev;
  }
}

/** Cancels every resting order of market m (an option series at expiry). */
function clearBook(m: u32): void {
  for (let side: u32 = 0; side < 2; side++) {
    let l = bestLevel(m, side == 0);
    while (l != 0) {
      const o = load<u32>(lvl(l) + L_HEAD);
      const owner = load<u32>(ord(o) + O_OWNER);
      removeOrder(o);
      tidy(owner, m);
      l = bestLevel(m, side == 0);
    }
  }
}

/** Settles the option series on underlying m that expired by `ts`, at m's new index. */
function expireOptions(m: u32, ts: u64): void {
  const n = cfg32(C_MARKET_COUNT);
  const idx = load<u64>(mkt(m) + M_MARK);
  for (let j: u32 = 0; j < n; j++) {
    const jp = mkt(j);
    if (load<u32>(jp + M_KIND) == K_PERP || load<u32>(jp + M_UNDERLYING) != m) continue;
    if (load<u32>(jp + M_STATUS) != 0 || load<u64>(jp + M_EXPIRY) > ts) continue;
    store<u32>(jp + M_STATUS, 1);
    store<u64>(jp + M_SETTLE, idx);
    // Positions become cash claims settled lazily, one account at a time: counting the longs
    // down as they settle would leave long OI below short OI until the last short settles.
    store<u64>(jp + M_OI, 0);
    clearBook(j);
  }
}

/** ORACLE: a signed index price from one of the genesis oracle keys. */
export function doOracle(f: u32, sender: u32): u32 {
  const mi = marketIndex(be32(f));
  const price = be64(f + 4);
  const ts = be64(f + 12);
  if (mi < 0) return UNKNOWN_MARKET;
  const m = <u32>mi;
  const mp = mkt(m);
  if (load<u32>(mp + M_KIND) != K_PERP) return UNKNOWN_MARKET;
  const k = oracleSlot(sender);
  if (k < 0) return NOT_ORACLE;
  const slot = mp + M_ORACLE + <u32>k * 16;
  const clock = cfg64(C_CLOCK);
  const age = <u64>cfg32(C_MAX_ORACLE_AGE);
  // Older than this key's last price, already stale, or too far ahead of the batch clock.
  if (ts <= load<u64>(slot + 8) || ts + age < clock || ts > clock + age) return STALE_ORACLE_PRICE;
  if (price == 0 || price > load<u64>(mp + M_MAX_PRICE)) return BAD_PRICE;
  store<u64>(slot, price);
  store<u64>(slot + 8, ts);
  recomputeIndex(m);
  fireTriggers(m);
  expireOptions(m, ts);
  writeResult(OK, 0, 0, 0);
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Funding

/**
 * The average price of selling (bids) or buying (asks) `impact` notional against the book, or
 * 0 if the book is not that deep within 64 levels.
 */
function impactPrice(m: u32, bids: bool, impact: u64): u64 {
  const scale = load<u64>(mkt(m) + M_SCALE);
  let size: u64 = 0;
  let notional: u64 = 0;
  let l = bestLevel(m, bids);
  for (let n: u32 = 0; n < 64 && l != 0; n++) {
    const price = load<u64>(lvl(l) + L_PRICE);
    const total = load<u64>(lvl(l) + L_TOTAL);
    const ln = mulDiv(price, total, scale, false);
    if (ln == U64_MAX) return price;
    if (notional + ln >= impact) {
      const part = mulDiv(impact - notional, scale, price, true);
      size += part;
      notional = impact;
      return mulDiv(notional, scale, size, !bids);
    }
    notional += ln;
    size += total;
    l = nextLevel(m, bids, price);
  }
  return 0;
}

/** Premium of market m now, in ppb of the index: (max(0, impactBid − index) − max(0, index − impactAsk)) / index. */
function premium(m: u32): i64 {
  const mp = mkt(m);
  const idx = load<u64>(mp + M_MARK);
  const impact = load<u64>(mp + M_IMPACT);
  if (impact == 0) return 0;
  const bid = impactPrice(m, true, impact);
  const ask = impactPrice(m, false, impact);
  let p: i64 = 0;
  if (bid != 0 && bid > idx) p += clampI64(mulDiv(bid - idx, PPB, idx, false));
  if (ask != 0 && ask < idx) p -= clampI64(mulDiv(idx - ask, PPB, idx, false));
  return p;
}

/** Samples premiums and pays funding due at the batch clock (end_batch). */
export function runFunding(): void {
  const n = cfg32(C_MARKET_COUNT);
  const clock = cfg64(C_CLOCK);
  for (let m: u32 = 0; m < n; m++) {
    const mp = mkt(m);
    if (load<u32>(mp + M_KIND) != K_PERP || load<u64>(mp + M_MARK) == 0) continue;
    let epoch = load<u64>(mp + M_FUND_EPOCH);
    if (epoch == 0) {
      epoch = (clock / FUNDING_PERIOD + 1) * FUNDING_PERIOD;
      store<u64>(mp + M_FUND_EPOCH, epoch);
    }
    if (clock >= epoch) {
      const samples = load<u32>(mp + M_PREM_N);
      let rate: i64 = samples == 0 ? 0 : load<i64>(mp + M_PREM_SUM) / <i64>samples / 8;
      const cap = <i64>load<u32>(mp + M_MAX_FUNDING);
      if (rate > cap) rate = cap;
      if (rate < -cap) rate = -cap;
      // index units: 10^-3 quantums per whole base unit; rate: 10^-9 per hour
      const idx = load<u64>(mp + M_MARK);
      const mag = clampI64(mulDiv(rate < 0 ? <u64>(-rate) : <u64>rate, idx, PPB / FUNDING_INDEX_UNIT, false));
      store<i64>(mp + M_FUND_IDX, satAdd(load<i64>(mp + M_FUND_IDX), rate < 0 ? -mag : mag));
      store<i64>(mp + M_LAST_RATE, rate);
      const k = load<u32>(mp + M_FUND_N);
      const h = mp + M_FUND_HIST + (k % FUNDING_HISTORY) * 16;
      store<u64>(h, epoch);
      store<i64>(h + 8, rate);
      store<u32>(mp + M_FUND_N, k + 1);
      store<i64>(mp + M_PREM_SUM, 0);
      store<u32>(mp + M_PREM_N, 0);
      store<u64>(mp + M_FUND_EPOCH, (clock / FUNDING_PERIOD + 1) * FUNDING_PERIOD);
    }
    if (clock >= load<u64>(mp + M_NEXT_SAMPLE) && !indexStale(m)) {
      store<i64>(mp + M_PREM_SUM, satAdd(load<i64>(mp + M_PREM_SUM), premium(m)));
      store<u32>(mp + M_PREM_N, load<u32>(mp + M_PREM_N) + 1);
      store<u64>(mp + M_NEXT_SAMPLE, clock - clock % FUNDING_SAMPLE_EVERY + FUNDING_SAMPLE_EVERY);
    }
  }
}
