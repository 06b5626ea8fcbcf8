// Margin: equity, initial and maintenance requirements of an account (docs/protocol.md §10).
//
// Collateral is a quote balance: fills move notional through it, so a position's value at the
// mark is added back here. Every product goes through a 128-bit intermediate (mulDiv); every
// rounding leans against the account: values it holds round down, values it owes round up.

import {
  A_BAL0, A_POS_HEAD, P_BUY_NOTIONAL, P_BUYS, P_FUND, P_MKT, P_POS, P_ANEXT, P_SELLS, acct, pos,
} from "./accounts";
import {
  C_CLOCK, C_MAX_ORACLE_AGE, EXPOSURE_LIMIT, FUNDING_INDEX_UNIT, I64_MAX, K_CALL, K_PERP,
  M_FUND_IDX, M_IMF, M_KIND, M_MARK, M_MARK_TS, M_MMF, M_OPT_MIN, M_SCALE, M_SETTLE, M_STATUS,
  M_STRIKE, M_TIER_IMF, M_TIER_MMF, M_TIER_NOTIONAL, M_UNDERLYING, MARGIN_EQUITY, MARGIN_MAINT,
  MARGIN_REQUIRED, PPM, U64_MAX, cfg32, cfg64, clampI64, mkt, mulDiv, satAdd, satSub,
} from "./layout";

@inline function abs64(v: i64): u64 { return v < 0 ? <u64>(-v) : <u64>v; }

/** floor(pos × price / scale) for a long, −ceil(|pos| × price / scale) for a short. */
export function valueAt(size: i64, price: u64, scale: u64): i64 {
  if (size >= 0) return clampI64(mulDiv(<u64>size, price, scale, false));
  return -clampI64(mulDiv(<u64>(-size), price, scale, true));
}

/** ceil(a × b / d), saturating. */
@inline function ceilMul(a: u64, b: u64, d: u64): i64 { return clampI64(mulDiv(a, b, d, true)); }

/** Tier of a position of `notional` (0 below the first step). */
function tier(mp: u32, notional: u64): u64 {
  const step = load<u64>(mp + M_TIER_NOTIONAL);
  if (step == 0) return 0;
  const k = notional / step;
  return k > PPM ? PPM : k;
}

/** Initial margin fraction (ppm) for a position of `notional`: rises one step per tier, at most 100%. */
export function imfAt(mp: u32, notional: u64): u64 {
  const f = <u64>load<u32>(mp + M_IMF) + tier(mp, notional) * <u64>load<u32>(mp + M_TIER_IMF);
  return f > PPM ? PPM : f;
}

/** Maintenance margin fraction (ppm) for a position of `notional`, never above the IMF. */
export function mmfAt(mp: u32, notional: u64): u64 {
  const f = <u64>load<u32>(mp + M_MMF) + tier(mp, notional) * <u64>load<u32>(mp + M_TIER_MMF);
  const i = imfAt(mp, notional);
  return f > i ? i : f;
}

/** The price margin uses for market `m`: its index (perp) or its underlying's (option). */
export function indexOf(m: u32): u64 {
  return load<u64>(mkt(load<u32>(mkt(m) + M_UNDERLYING)) + M_MARK);
}

/** Whether market m's index (or its underlying's) is older than the oracle staleness bound. */
export function indexStale(m: u32): bool {
  const up = mkt(load<u32>(mkt(m) + M_UNDERLYING));
  return cfg64(C_CLOCK) > load<u64>(up + M_MARK_TS) + <u64>cfg32(C_MAX_ORACLE_AGE);
}

/** Intrinsic value of one whole unit of an option series at underlying price `s`. */
export function intrinsic(mp: u32, s: u64): u64 {
  const k = load<u64>(mp + M_STRIKE);
  if (load<u32>(mp + M_KIND) == K_CALL) return s > k ? s - k : 0;
  return k > s ? k - s : 0;
}

/**
 * Funding a perpetual position record owes (positive) or is owed (negative) since it last
 * settled: size × (fundingIndex − snapshot) / (10^dec × 1000), rounded up when owed and down
 * when received.
 */
export function pendingFunding(r: u32): i64 {
  const p = pos(r);
  const size = load<i64>(p + P_POS);
  if (size == 0) return 0;
  const mp = mkt(load<u32>(p + P_MKT));
  if (load<u32>(mp + M_KIND) != K_PERP) return 0;
  const d = satSub(load<i64>(mp + M_FUND_IDX), load<i64>(p + P_FUND));
  if (d == 0) return 0;
  const pays = (size > 0) == (d > 0);
  const v = clampI64(mulDiv(abs64(size), abs64(d), load<u64>(mp + M_SCALE) * FUNDING_INDEX_UNIT, pays));
  return pays ? v : -v;
}

/**
 * Value an expired, settled option position receives (positive) or pays (negative):
 * size × payoff(settlement) / 10^dec, rounded against the account.
 */
export function settlementValue(r: u32): i64 {
  const p = pos(r);
  const mp = mkt(load<u32>(p + P_MKT));
  return valueAt(load<i64>(p + P_POS), intrinsic(mp, load<u64>(mp + M_SETTLE)), load<u64>(mp + M_SCALE));
}

/**
 * Equity, initial margin and maintenance margin of account `id` (0 = a new account) at the
 * index prices, written to MARGIN_EQUITY, MARGIN_REQUIRED and MARGIN_MAINT. `newM` >= 0 adds
 * open orders in that market: `dBuys` / `dSells` of size (may be negative, for a replace) and
 * `dPremium` of option premium reserved. Returns false if a market's worst-case exposure would
 * pass EXPOSURE_LIMIT.
 *
 *   perp:   equity += value(pos at index) − pending funding
 *           IM += ceil(ceil(max(|pos + buys|, |pos − sells|) × index / 10^dec) × imf(tier))
 *           MM += ceil(ceil(|pos| × index / 10^dec) × mmf(tier))
 *   option: equity += value(pos at intrinsic), or its settlement value once settled
 *           IM += premium of resting buys + worst short × (max(imf·S − OTM, floor·S) + intrinsic)
 *           MM += |short| × (mmf·S + intrinsic)                 (Deribit's standard margin)
 */
export function computeMargin(id: u32, newM: i32, dBuys: i64, dSells: i64, dPremium: i64): bool {
  let equity: i64 = 0;
  let im: i64 = 0;
  let mm: i64 = 0;
  let ok = true;
  let r: u32 = 0;
  let sawNew = newM < 0;
  if (id != 0) {
    equity = load<i64>(acct(id) + A_BAL0);
    r = load<u32>(acct(id) + A_POS_HEAD);
  }
  while (true) {
    let m: u32 = 0;
    let size: i64 = 0, buys: i64 = 0, sells: i64 = 0, premium: i64 = 0;
    if (r != 0) {
      const p = pos(r);
      m = load<u32>(p + P_MKT);
      size = load<i64>(p + P_POS);
      buys = load<i64>(p + P_BUYS);
      sells = load<i64>(p + P_SELLS);
      premium = load<i64>(p + P_BUY_NOTIONAL);
      equity = satSub(equity, pendingFunding(r));
    } else if (!sawNew) {
      m = <u32>newM;
    } else {
      break;
    }
    if (<i32>m == newM) {
      sawNew = true;
      buys += dBuys;
      sells += dSells;
      premium = satAdd(premium, dPremium);
    }
    const mp = mkt(m);
    const scale = load<u64>(mp + M_SCALE);
    const kind = load<u32>(mp + M_KIND);
    if (kind == K_PERP) {
      const mark = load<u64>(mp + M_MARK);
      equity = satAdd(equity, valueAt(size, mark, scale));
      const l = abs64(size + buys), s = abs64(size - sells);
      const exposure = l > s ? l : s;
      if (<i32>m == newM && exposure > <u64>EXPOSURE_LIMIT) ok = false;
      const ne = mulDiv(exposure, mark, scale, true);
      if (ne == U64_MAX) im = I64_MAX;
      else im = satAdd(im, ceilMul(ne, imfAt(mp, ne), PPM));
      const np = mulDiv(abs64(size), mark, scale, true);
      if (np == U64_MAX) mm = I64_MAX;
      else mm = satAdd(mm, ceilMul(np, mmfAt(mp, np), PPM));
    } else if (load<u32>(mp + M_STATUS) != 0) {
      equity = satAdd(equity, valueAt(size, intrinsic(mp, load<u64>(mp + M_SETTLE)), scale));
    } else {
      const s = indexOf(m);
      const iv = intrinsic(mp, s);
      equity = satAdd(equity, valueAt(size, iv, scale));
      const k = load<u64>(mp + M_STRIKE);
      const otm: u64 = kind == K_CALL ? (k > s ? k - s : 0) : (s > k ? s - k : 0);
      const base = mulDiv(s, <u64>load<u32>(mp + M_IMF), PPM, true);
      const floor = mulDiv(s, <u64>load<u32>(mp + M_OPT_MIN), PPM, true);
      const imUnit = (base > otm && base - otm > floor ? base - otm : floor) + iv;
      const mmUnit = mulDiv(s, <u64>load<u32>(mp + M_MMF), PPM, true) + iv;
      const worstShort = size - sells < 0 ? <u64>(sells - size) : 0;
      if (<i32>m == newM && (worstShort > <u64>EXPOSURE_LIMIT || abs64(size + buys) > <u64>EXPOSURE_LIMIT)) ok = false;
      im = satAdd(im, satAdd(premium, ceilMul(worstShort, imUnit, scale)));
      if (size < 0) mm = satAdd(mm, ceilMul(<u64>(-size), mmUnit, scale));
    }
    if (r != 0) r = load<u32>(pos(r) + P_ANEXT);
  }
  store<i64>(MARGIN_EQUITY, equity);
  store<i64>(MARGIN_REQUIRED, im);
  store<i64>(MARGIN_MAINT, mm);
  return ok;
}
