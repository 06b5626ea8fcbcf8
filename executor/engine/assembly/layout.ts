// Memory layout, engine constants and small integer helpers.
//
// Everything the engine knows lives in linear memory at fixed addresses (below HEAP_BASE) or in
// tables carved out of the heap by a bump allocator (alloc.ts). The engine defines no mutable
// globals of its own, so its state root is its memory.
//
//   0x00000 .. 0x08000   AssemblyScript static data (typehashes, abort messages)
//   0x08000 .. 0x10000   SCRATCH: per-item buffers, the result record, query output; zeroed by end_batch
//   0x10000 .. 0x10020   OUTBOX_ROOT_PTR (32 bytes)
//   0x10020 .. 0x10420   outbox branch[32]
//   0x10420 .. 0x10840   outbox zero hashes zero[0..32]
//   0x10A00 .. 0x10E00   CFG: chain config, oracle keys, engine counters, ledgers
//   0x11000 .. 0x19000   MKT: market table, MAX_MARKETS records of MKT_SIZE bytes
//   0x19000 .. 0x28004   WITHDRAWAL_LOG_PTR: count u32 ‖ entry[1024] (60 bytes each)
//   0x29000 ..           HEAP: accounts and their hash table, positions, orders, the order-id
//                        index, price levels

// ---------------------------------------------------------------------------------------------
// Fixed regions

export const SCRATCH: u32 = 0x8000;
export const SCRATCH_SIZE: u32 = 0x8000;
export const RESULT: u32 = SCRATCH; // code u32 ‖ orderId u64 ‖ filled u64 ‖ fillCount u32 ‖ fill[64]
export const RESULT_FILLS: u32 = RESULT + 24;
export const ITEM: u32 = SCRATCH + 0x0C00; // the current batch item (≤ 255 + 77 bytes)
export const DMSG: u32 = SCRATCH + 0x0E00; // the current delayed message (≤ 29 + 256 + 1 bytes)
export const HBUF: u32 = SCRATCH + 0x1000; // keccak input (≤ 512 bytes)
export const HOUT: u32 = SCRATCH + 0x1200; // keccak output
export const SIGNER: u32 = SCRATCH + 0x1240; // recovered signer / L1 sender (20 bytes)
export const ADDR_TMP: u32 = SCRATCH + 0x1260; // address argument of a query
export const TMP: u32 = SCRATCH + 0x1280; // 128-bit arithmetic remainder
export const MARGIN_EQUITY: u32 = SCRATCH + 0x1290; // i64, written by computeMargin
export const MARGIN_REQUIRED: u32 = SCRATCH + 0x1298; // i64 initial margin, written by computeMargin
export const MARGIN_MAINT: u32 = SCRATCH + 0x12A0; // i64 maintenance margin, written by computeMargin
export const MARKET_TMP: u32 = SCRATCH + 0x1300; // a parsed market config (ADMIN, genesis), MKT_SIZE bytes
export const ORDER_TMP: u32 = SCRATCH + 0x1500; // the order being checked and executed (orders.ts)
export const MATCH_TMP: u32 = SCRATCH + 0x1540; // fills of the last match (trade.ts)
export const QUERY: u32 = SCRATCH + 0x2000; // query output and the genesis message (24 KiB)
export const QUERY_SIZE: u32 = SCRATCH + SCRATCH_SIZE - QUERY;

export const OUTBOX_ROOT: u32 = 0x10000;
export const OUTBOX_BRANCH: u32 = 0x10020;
export const OUTBOX_ZERO: u32 = 0x10420;

export const CFG: u32 = 0x10A00;
export const MKT: u32 = 0x11000;
export const WLOG: u32 = 0x19000;
export const HEAP_BASE: u32 = 0x29000;
/** Pages present at instantiation (build.ts passes it as --initialMemory). */
export const INITIAL_PAGES: u32 = 3;
export const MAX_PAGES: u32 = 4096;

// ---------------------------------------------------------------------------------------------
// Protocol constants (sdk/protocol.ts)

export const MAX_MARKETS: u32 = 64;
export const MKT_SIZE: u32 = 512;
export const MAX_ORACLES: u32 = 8;
export const MAX_FILLS: u32 = 64;
export const FILL_LEN: u32 = 44;
export const MAX_WITHDRAWALS: u32 = 1024;
export const WLOG_ENTRY: u32 = 60;
export const MAX_DELAYED_PAYLOAD: u32 = 256;
export const DELAYED_HEADER: u32 = 29;
export const MARKET_CONFIG_LEN: u32 = 130;
export const GENESIS_HEADER: u32 = 8 + 20 + 20 + 4 + 1; // chainId ‖ admin ‖ feeAccount ‖ maxOracleAge ‖ oracleCount
export const PPM: u64 = 1_000_000;
/** Funding rates are in parts per 10^9 per hour; the funding index in 10^-3 collateral quantums per whole base unit. */
export const PPB: u64 = 1_000_000_000;
export const FUNDING_INDEX_UNIT: u64 = 1_000;
export const FUNDING_PERIOD: u64 = 3600;
export const FUNDING_SAMPLE_EVERY: u64 = 60;
export const FUNDING_HISTORY: u32 = 7;
/** Cap on the worst-case exposure of one account in one market (keeps every sum in i64). */
export const EXPOSURE_LIMIT: i64 = 1 << 60;
/** Most resting orders one account may have (keeps CANCEL_ALL bounded). */
export const MAX_ORDERS_PER_ACCOUNT: u32 = 256;
/** Most trigger orders one market may hold (keeps an oracle update bounded). */
export const MAX_TRIGGERS_PER_MARKET: u32 = 4096;

export const T_ORDER: u32 = 1;
export const T_CANCEL: u32 = 2;
export const T_TRANSFER: u32 = 3;
export const T_WITHDRAW: u32 = 4;
export const T_ORACLE: u32 = 5;
export const T_DELAYED: u32 = 6;
export const T_CANCEL_ALL: u32 = 7;
export const T_REPLACE: u32 = 8;
export const T_LIQUIDATE: u32 = 9;
export const T_ADMIN: u32 = 10;

export const D_DEPOSIT: u32 = 1;
export const D_L2_TX: u32 = 2;

export const K_PERP: u32 = 0;
export const K_CALL: u32 = 1;
export const K_PUT: u32 = 2;

// Order options byte (docs/protocol.md §3)
export const OPT_BUY: u32 = 1;
export const OPT_TYPE_SHIFT: u32 = 1; // 2 bits: 0 limit, 1 market, 2 stop-market, 3 take-profit-market
export const OPT_TIF_SHIFT: u32 = 3; // 2 bits: 0 GTC (GTT with an expiry), 1 IOC, 2 FOK
export const OPT_POST_ONLY: u32 = 32;
export const OPT_REDUCE_ONLY: u32 = 64;
export const OPT_EXPIRY: u32 = 128;
export const OT_LIMIT: u32 = 0;
export const OT_MARKET: u32 = 1;
export const OT_STOP: u32 = 2;
export const OT_TAKE_PROFIT: u32 = 3;
export const TIF_GTC: u32 = 0;
export const TIF_IOC: u32 = 1;
export const TIF_FOK: u32 = 2;

export const ADMIN_ADD_MARKET: u32 = 1;
export const ADMIN_UPDATE_MARKET: u32 = 2;

export const OK: u32 = 0;
export const BAD_SIGNATURE: u32 = 1;
export const BAD_NONCE: u32 = 2;
export const UNKNOWN_MARKET: u32 = 3;
export const BAD_PRICE: u32 = 4;
export const BAD_SIZE: u32 = 5;
export const INSUFFICIENT_MARGIN: u32 = 6;
export const INSUFFICIENT_BALANCE: u32 = 7;
export const UNKNOWN_ORDER: u32 = 8;
export const NOT_ORDER_OWNER: u32 = 9;
export const NO_ORACLE_PRICE: u32 = 10;
export const STALE_ORACLE_PRICE: u32 = 11;
export const NOT_ORACLE: u32 = 12;
export const MALFORMED: u32 = 13;
export const UNKNOWN_ASSET: u32 = 14;
export const BAD_AMOUNT: u32 = 15;
export const CAPACITY: u32 = 16;
export const DELAYED_OVERFLOW: u32 = 17;
export const EXPIRED: u32 = 18;
export const POST_ONLY_WOULD_CROSS: u32 = 19;
export const FOK_NOT_FILLED: u32 = 20;
export const REDUCE_ONLY: u32 = 21;
export const OPEN_INTEREST_CAP: u32 = 22;
export const MARKET_CLOSED: u32 = 23;
export const NOT_LIQUIDATABLE: u32 = 24;
export const NOT_ADMIN: u32 = 25;
export const BAD_MARKET_CONFIG: u32 = 26;
export const BAD_TRIGGER: u32 = 27;

/** Encoded length of a signed item from its type and, for ORDER and ADMIN, its first bytes at `p` (the type byte); 0 = unknown. */
export function itemLength(t: u32, p: u32): u32 {
  switch (t) {
    case T_ORDER: {
      const opts = <u32>load<u8>(p + 5);
      const ot = (opts >> OPT_TYPE_SHIFT) & 3;
      return 95 + (ot >= OT_STOP ? 8 : 0) + ((opts & OPT_EXPIRY) != 0 ? 8 : 0);
    }
    case T_CANCEL: return 82;
    case T_TRANSFER: return 106;
    case T_WITHDRAW: return 106;
    case T_ORACLE: return 86;
    case T_DELAYED: return 5;
    case T_CANCEL_ALL: return 78;
    case T_REPLACE: return 98;
    case T_LIQUIDATE: return 21;
    case T_ADMIN: return 1 + 1 + MARKET_CONFIG_LEN + 8 + 65;
  }
  return 0;
}

/** Bytes of an item needed before itemLength can tell its length. */
export function itemPrefix(t: u32): u32 {
  return t == T_ORDER ? 6 : 1;
}

// ---------------------------------------------------------------------------------------------
// CFG fields (offsets from CFG)

export const C_CHAIN_ID: u32 = 0; // u64
export const C_ADMIN: u32 = 8; // address (20)
export const C_ORACLE_COUNT: u32 = 28; // u32
export const C_DOMAIN: u32 = 32; // bytes32
export const C_MARKET_COUNT: u32 = 64; // u32
export const C_FLAGS: u32 = 68; // u32: bit0 initialized, bit1 current batch carries items
export const C_CLOCK: u32 = 72; // u64
export const C_BATCH_COUNT: u32 = 80; // u64
export const C_DELAYED_READ: u32 = 88; // u64
export const C_AFTER_DELAYED: u32 = 96; // u64 (current batch)
export const C_NEXT_ORDER_ID: u32 = 104; // u64
export const C_OUTBOX_COUNT: u32 = 112; // u64
export const C_HEAP_TOP: u32 = 120; // u32
export const C_MAX_ORACLE_AGE: u32 = 124; // u32 seconds
export const C_ACCT_TAB: u32 = 128; // u32 hash slots (acct idx + 1)
export const C_ACCT_TAB_CAP: u32 = 132; // u32 power of two
export const C_ACCT_COUNT: u32 = 136; // u32
export const C_ACCT_ARR: u32 = 140; // u32 account records
export const C_ACCT_ARR_CAP: u32 = 144; // u32
export const C_FEE_ACCT: u32 = 148; // u32 account id of the fee account
export const C_ORD_POOL: u32 = 152; // u32 order records
export const C_ORD_CAP: u32 = 156;
export const C_ORD_USED: u32 = 160; // high-water mark
export const C_ORD_FREE: u32 = 164; // free list head (idx + 1)
export const C_OIX_TAB: u32 = 168; // u32 slots (order idx + 1) keyed by orderId
export const C_OIX_CAP: u32 = 172;
export const C_OIX_COUNT: u32 = 176;
export const C_LVL_POOL: u32 = 180; // price-level records
export const C_LVL_CAP: u32 = 184;
export const C_LVL_USED: u32 = 188;
export const C_LVL_FREE: u32 = 192;
export const C_POS_POOL: u32 = 196; // position records
export const C_POS_CAP: u32 = 200;
export const C_POS_USED: u32 = 204;
export const C_POS_FREE: u32 = 208;
export const C_INSURANCE: u32 = 216; // i64 insurance fund (collateral quantums)
export const C_DEPOSITED: u32 = 224; // i64 collateral ever deposited
export const C_WITHDRAWN: u32 = 232; // i64 collateral ever withdrawn
export const C_ORACLES: u32 = 240; // MAX_ORACLES addresses (160 bytes)
export const C_LIQUIDATIONS: u32 = 400; // u64 liquidations executed
export const C_DELEVERAGES: u32 = 408; // u64 positions deleveraged
export const C_FEES: u32 = 416; // i64 fees ever charged
export const C_INSURANCE_PAID: u32 = 424; // i64 deficits the insurance fund covered

export const FLAG_INIT: u32 = 1;
export const FLAG_ITEMS: u32 = 2;

@inline export function cfg32(off: u32): u32 { return load<u32>(CFG + off); }
@inline export function setCfg32(off: u32, v: u32): void { store<u32>(CFG + off, v); }
@inline export function cfg64(off: u32): u64 { return load<u64>(CFG + off); }
@inline export function setCfg64(off: u32, v: u64): void { store<u64>(CFG + off, v); }

// ---------------------------------------------------------------------------------------------
// Market records (MKT + index * MKT_SIZE), native byte order. Perpetuals and option series
// share the record; fields marked (perp) or (option) are zero for the other kind.

export const M_ID: u32 = 0; // u32
export const M_DECIMALS: u32 = 4; // u32
export const M_TICK: u32 = 8; // u64
export const M_STEP: u32 = 16;
export const M_MIN_SIZE: u32 = 24;
export const M_MAX_SIZE: u32 = 32;
export const M_MAX_PRICE: u32 = 40;
export const M_IMF: u32 = 48; // u32 ppm (option: short-option rate of the underlying)
export const M_MMF: u32 = 52; // u32 ppm
export const M_SCALE: u32 = 56; // u64 10^decimals
export const M_MARK: u32 = 64; // u64 index price, the oracle median (perp; 0 = none yet)
export const M_MARK_TS: u32 = 72; // u64 newest oracle timestamp in the median
export const M_BID_ROOT: u32 = 80; // u32 level idx + 1
export const M_ASK_ROOT: u32 = 84; // u32 level idx + 1
export const M_KIND: u32 = 88; // u32 K_PERP / K_CALL / K_PUT
export const M_UNDERLYING: u32 = 92; // u32 market index of the underlying perpetual (self for a perp)
export const M_STRIKE: u32 = 96; // u64 (option)
export const M_EXPIRY: u32 = 104; // u64 unix seconds (option)
export const M_TIER_NOTIONAL: u32 = 112; // u64 notional per margin tier (0 = one tier)
export const M_TIER_IMF: u32 = 120; // u32 ppm added to the IMF per tier
export const M_TIER_MMF: u32 = 124; // u32 ppm added to the MMF per tier
export const M_MAX_OI: u32 = 128; // u64 open interest cap, base quantums (0 = none)
export const M_OI: u32 = 136; // u64 open interest (sum of long positions)
export const M_MAKER_FEE: u32 = 144; // u32 ppm
export const M_TAKER_FEE: u32 = 148; // u32 ppm
export const M_LIQ_FEE: u32 = 152; // u32 ppm of closed notional, to the insurance fund
export const M_LIQ_BAND: u32 = 156; // u32 ppm: liquidation fills stay within index × (1 ± band)
export const M_IMPACT: u32 = 160; // u64 impact notional for funding premiums (perp)
export const M_MAX_FUNDING: u32 = 168; // u32 ppb per hour (perp)
export const M_STATUS: u32 = 172; // u32 0 trading, 1 settled (option)
export const M_FUND_IDX: u32 = 176; // i64 cumulative funding per whole base unit, 10^-3 quantums
export const M_FUND_EPOCH: u32 = 184; // u64 end of the current funding hour
export const M_PREM_SUM: u32 = 192; // i64 premium samples of this hour, ppb
export const M_PREM_N: u32 = 200; // u32 samples this hour
export const M_HOLDERS: u32 = 204; // u32 first position record of the market's holder list
export const M_NEXT_SAMPLE: u32 = 208; // u64 clock of the next premium sample
export const M_POOL: u32 = 216; // i64 funding and settlement pool (collateral quantums)
export const M_SETTLE: u32 = 224; // u64 settlement index price (option, once settled)
export const M_LAST_RATE: u32 = 232; // i64 last hourly funding rate, ppb
export const M_TRIG_HEAD: u32 = 240; // u32 first trigger order (stop / take-profit)
export const M_HOLDER_COUNT: u32 = 244; // u32
export const M_OPT_MIN: u32 = 248; // u32 ppm floor of a short option's rate (option)
export const M_FUND_N: u32 = 252; // u32 funding events so far (history ring index)
export const M_ORACLE: u32 = 256; // MAX_ORACLES × (price u64 ‖ timestamp u64)
export const M_FUND_HIST: u32 = 384; // FUNDING_HISTORY × (time u64 ‖ rate i64)
export const M_TRIG_COUNT: u32 = 496; // u32 trigger orders resting

@inline export function mkt(i: u32): u32 { return MKT + i * MKT_SIZE; }

/** Index of the market with id `id`, or -1. */
export function marketIndex(id: u32): i32 {
  const n = cfg32(C_MARKET_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(mkt(i) + M_ID) == id) return <i32>i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Big-endian wire access

@inline export function be64(p: u32): u64 { return bswap<u64>(load<u64>(p)); }
@inline export function be32(p: u32): u32 { return bswap<u32>(load<u32>(p)); }
@inline export function u8at(p: u32): u32 { return <u32>load<u8>(p); }
@inline export function putBe64(p: u32, v: u64): void { store<u64>(p, bswap<u64>(v)); }
@inline export function putBe32(p: u32, v: u32): void { store<u32>(p, bswap<u32>(v)); }

export function copy20(dst: u32, src: u32): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst + 8, load<u64>(src + 8));
  store<u32>(dst + 16, load<u32>(src + 16));
}

export function eq20(a: u32, b: u32): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a + 8) == load<u64>(b + 8) && load<u32>(a + 16) == load<u32>(b + 16);
}

export function copy32(dst: u32, src: u32): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst + 8, load<u64>(src + 8));
  store<u64>(dst + 16, load<u64>(src + 16));
  store<u64>(dst + 24, load<u64>(src + 24));
}

export function zero32(dst: u32): void {
  store<u64>(dst, 0);
  store<u64>(dst + 8, 0);
  store<u64>(dst + 16, 0);
  store<u64>(dst + 24, 0);
}

/** Writes `v` as a 32-byte big-endian ABI word. */
export function putWord(dst: u32, v: u64): void {
  store<u64>(dst, 0);
  store<u64>(dst + 8, 0);
  store<u64>(dst + 16, 0);
  putBe64(dst + 24, v);
}

/** Writes the address at `src` as a 32-byte left-padded ABI word. */
export function putAddressWord(dst: u32, src: u32): void {
  store<u64>(dst, 0);
  store<u32>(dst + 8, 0);
  copy20(dst + 12, src);
}

// ---------------------------------------------------------------------------------------------
// Integer helpers (no floats; every rounding explicit)

export const I64_MAX: i64 = 0x7FFFFFFFFFFFFFFF;
export const I64_MIN: i64 = -0x7FFFFFFFFFFFFFFF - 1;
export const U64_MAX: u64 = 0xFFFFFFFFFFFFFFFF;

/** a + b, clamped to the i64 range. */
export function satAdd(a: i64, b: i64): i64 {
  const r = a + b;
  if (((a ^ r) & (b ^ r)) < 0) return a < 0 ? I64_MIN : I64_MAX;
  return r;
}

/** a - b, clamped to the i64 range. */
export function satSub(a: i64, b: i64): i64 {
  const r = a - b;
  if (((a ^ b) & (a ^ r)) < 0) return a < 0 ? I64_MIN : I64_MAX;
  return r;
}

/** a + b would leave the i64 range. */
export function addOverflows(a: i64, b: i64): bool {
  const r = a + b;
  return ((a ^ r) & (b ^ r)) < 0;
}

/**
 * floor(a * b / d) (or the ceiling when `up`) with a 128-bit intermediate; returns U64_MAX when
 * the quotient does not fit in 64 bits. `d` must be non-zero. Stores the remainder at TMP.
 */
export function mulDiv(a: u64, b: u64, d: u64, up: bool): u64 {
  const M: u64 = 0xFFFFFFFF;
  const a0 = a & M, a1 = a >> 32, b0 = b & M, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & M) + (p10 & M);
  const lo = (mid << 32) | (p00 & M);
  let hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  if (hi >= d) return U64_MAX;
  let q: u64 = 0;
  let rem = hi;
  if (hi == 0) {
    q = lo / d;
    rem = lo % d;
  } else {
    for (let i: i32 = 63; i >= 0; i--) {
      const carry = rem >> 63;
      rem = (rem << 1) | ((lo >> <u64>i) & 1);
      q = q << 1;
      if (carry != 0 || rem >= d) {
        rem -= d;
        q |= 1;
      }
    }
  }
  store<u64>(TMP, rem);
  if (up && rem != 0) {
    if (q == U64_MAX) return U64_MAX;
    q += 1;
  }
  return q;
}

/** (a * b) mod d with a 128-bit intermediate; `d` must be non-zero. */
export function mulMod(a: u64, b: u64, d: u64): u64 {
  const M: u64 = 0xFFFFFFFF;
  const a0 = a & M, a1 = a >> 32, b0 = b & M, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & M) + (p10 & M);
  const lo = (mid << 32) | (p00 & M);
  const hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  let rem = hi % d;
  for (let i: i32 = 63; i >= 0; i--) {
    const carry = rem >> 63;
    rem = (rem << 1) | ((lo >> <u64>i) & 1);
    if (carry != 0 || rem >= d) rem -= d;
  }
  return rem;
}

/** a * b < 2^63 (computed without overflow). */
export function productBelow2p63(a: u64, b: u64): bool {
  if (a == 0 || b == 0) return true;
  return a <= <u64>I64_MAX / b;
}

/** Clamps an unsigned value into the non-negative i64 range. */
@inline export function clampI64(v: u64): i64 {
  return v > <u64>I64_MAX ? I64_MAX : <i64>v;
}

/** 10^n for n <= 19. */
export function pow10(n: u32): u64 {
  let r: u64 = 1;
  for (let i: u32 = 0; i < n; i++) r *= 10;
  return r;
}
