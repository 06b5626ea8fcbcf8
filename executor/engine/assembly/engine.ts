// The state transition: genesis, batches, items, delayed messages (docs/protocol.md §3-§10).
//
// Every handler validates everything first and mutates only after the last check that can
// fail, so a rejected item writes nothing outside the scratch region. Capacity (table growth)
// is reserved as the last check. Order entry lives in orders.ts, oracle prices and funding in
// oracle.ts, liquidation in liquidation.ts.

import { A_BAL0, A_BAL1, acct, createAccount, findAccount, initAccounts, reserveAccount } from "./accounts";
import { initBook } from "./book";
import { initDomain, recoverSigner } from "./eip712";
import { delayed_read, inbox_read } from "./env";
import {
  ADMIN_ADD_MARKET, ADMIN_UPDATE_MARKET, BAD_AMOUNT, BAD_MARKET_CONFIG, BAD_NONCE, BAD_SIGNATURE,
  C_ADMIN, C_AFTER_DELAYED, C_BATCH_COUNT, C_CHAIN_ID, C_CLOCK, C_DELAYED_READ, C_DEPOSITED,
  C_FEE_ACCT, C_FLAGS, C_HEAP_TOP, C_MARKET_COUNT, C_MAX_ORACLE_AGE, C_NEXT_ORDER_ID,
  C_ORACLE_COUNT, C_ORACLES, C_OUTBOX_COUNT, C_WITHDRAWN, CAPACITY, CFG, D_DEPOSIT, D_L2_TX,
  DELAYED_HEADER, DELAYED_OVERFLOW, DMSG, FLAG_INIT, FLAG_ITEMS, GENESIS_HEADER, HBUF, HEAP_BASE,
  I64_MAX, INSUFFICIENT_BALANCE, INSUFFICIENT_MARGIN, ITEM, K_PERP, K_PUT, M_DECIMALS, M_EXPIRY,
  M_ID, M_IMF, M_IMPACT, M_KIND, M_LIQ_BAND, M_LIQ_FEE, M_MAKER_FEE, M_MAX_FUNDING, M_MAX_OI,
  M_MAX_PRICE, M_MAX_SIZE, M_MIN_SIZE, M_MMF, M_OPT_MIN, M_SCALE, M_STEP, M_STRIKE, M_TAKER_FEE,
  M_TICK, M_TIER_IMF, M_TIER_MMF, M_TIER_NOTIONAL, M_UNDERLYING, MALFORMED, MARGIN_EQUITY,
  MARGIN_REQUIRED, MARKET_CONFIG_LEN, MAX_DELAYED_PAYLOAD, MAX_MARKETS, MAX_ORACLES,
  MAX_WITHDRAWALS, MKT_SIZE, NOT_ADMIN, OK, PPB, PPM, QUERY, SCRATCH, SCRATCH_SIZE, SIGNER,
  T_ADMIN, T_CANCEL, T_CANCEL_ALL, T_DELAYED, T_LIQUIDATE, T_ORACLE, T_ORDER, T_REPLACE, T_TRANSFER,
  T_WITHDRAW, UNKNOWN_ASSET, WLOG, addOverflows, be32, be64, cfg32, cfg64, copy20, eq20, itemLength,
  itemPrefix, marketIndex, mkt, mulMod, pow10, productBelow2p63, satSub, setCfg32, setCfg64, u8at,
} from "./layout";
import { doLiquidate } from "./liquidation";
import { computeMargin } from "./margin";
import { doOracle, runFunding } from "./oracle";
import { bumpNonce, doCancel, doCancelAll, doOrder, doReplace, nonceOk, writeResult } from "./orders";
import { OUTBOX_CAPACITY, appendWithdrawal, clearWithdrawalLog, computeOutboxRoot, initOutbox } from "./outbox";

@inline function reject(code: u32): void { writeResult(code, 0, 0, 0); }

// ---------------------------------------------------------------------------------------------
// Market configuration (genesis and ADMIN): docs/protocol.md §4

/**
 * Checks the 130-byte market config at `c` against the market invariants; `update` >= 0 is the
 * index of the market an UPDATE changes (its immutable fields must stay as they are). Returns 0
 * or a reason (a static string, for init's abort).
 */
function marketConfigError(c: u32, update: i32): string | null {
  const id = be32(c);
  const kind = u8at(c + 4);
  const underlying = be32(c + 5);
  const strike = be64(c + 9);
  const expiry = be64(c + 17);
  const tick = be64(c + 25);
  const step = be64(c + 33);
  const minSize = be64(c + 41);
  const maxSize = be64(c + 49);
  const maxPrice = be64(c + 57);
  const dec = u8at(c + 65);
  const imf = be32(c + 66);
  const mmf = be32(c + 70);
  if (update < 0 && marketIndex(id) >= 0) return "duplicate market id";
  if (kind > K_PUT) return "kind must be 0 (perpetual), 1 (call) or 2 (put)";
  if (kind == K_PERP) {
    if (underlying != id || strike != 0 || expiry != 0) return "a perpetual has underlying = its own id, strike 0, expiry 0";
  } else {
    const u = marketIndex(underlying);
    if (u < 0 || load<u32>(mkt(<u32>u) + M_KIND) != K_PERP) return "an option's underlying must be a perpetual market";
    if (strike == 0 || expiry == 0) return "an option needs a strike and an expiry";
    if (update < 0 && expiry <= cfg64(C_CLOCK)) return "the option's expiry has passed";
  }
  if (tick == 0 || step == 0) return "tickSize and stepSize must be positive";
  if (dec > 15) return "sizeDecimals must be <= 15";
  if (mulMod(tick, step, pow10(dec)) != 0) return "tickSize*stepSize must be a multiple of 10^sizeDecimals";
  if (!productBelow2p63(maxPrice, maxSize)) return "maxPrice*maxSize must be below 2^63";
  if (minSize < step || minSize > maxSize || minSize % step != 0) return "need stepSize <= minSize <= maxSize, minSize a multiple of stepSize";
  if (mmf == 0 || mmf > imf || <u64>imf > PPM) return "need 0 < mmf <= imf <= 1e6";
  if (<u64>be32(c + 82) > PPM || <u64>be32(c + 86) > PPM) return "tier steps must be <= 1e6";
  if (<u64>be32(c + 98) > PPM || <u64>be32(c + 102) > PPM) return "fees must be <= 1e6 ppm";
  if (<u64>be32(c + 106) > PPM || <u64>be32(c + 110) > PPM) return "liquidation fee and band must be <= 1e6 ppm";
  if (<u64>be32(c + 122) > PPB) return "max funding must be <= 1e9 ppb per hour";
  if (kind != K_PERP && (be32(c + 126) == 0 || be32(c + 126) > imf)) return "an option needs 0 < optionMinPpm <= imf";
  if (update >= 0) {
    const mp = mkt(<u32>update);
    if (load<u32>(mp + M_KIND) != kind || load<u64>(mp + M_STRIKE) != strike || load<u64>(mp + M_EXPIRY) != expiry) return "kind, strike and expiry cannot change";
    if (load<u64>(mp + M_TICK) != tick || load<u64>(mp + M_STEP) != step || load<u32>(mp + M_DECIMALS) != dec) return "tickSize, stepSize and sizeDecimals cannot change";
    const u = marketIndex(underlying);
    if (u < 0 || <u32>u != load<u32>(mp + M_UNDERLYING)) return "the underlying cannot change";
  }
  return null;
}

/** Writes the config at `c` into market record `i` (a new record is zeroed first). */
function storeMarket(i: u32, c: u32, fresh: bool): void {
  const mp = mkt(i);
  if (fresh) memory.fill(mp, 0, MKT_SIZE);
  store<u32>(mp + M_ID, be32(c));
  store<u32>(mp + M_KIND, u8at(c + 4));
  const u = marketIndex(be32(c + 5));
  store<u32>(mp + M_UNDERLYING, u < 0 ? i : <u32>u);
  store<u64>(mp + M_STRIKE, be64(c + 9));
  store<u64>(mp + M_EXPIRY, be64(c + 17));
  store<u64>(mp + M_TICK, be64(c + 25));
  store<u64>(mp + M_STEP, be64(c + 33));
  store<u64>(mp + M_MIN_SIZE, be64(c + 41));
  store<u64>(mp + M_MAX_SIZE, be64(c + 49));
  store<u64>(mp + M_MAX_PRICE, be64(c + 57));
  store<u32>(mp + M_DECIMALS, u8at(c + 65));
  store<u64>(mp + M_SCALE, pow10(u8at(c + 65)));
  store<u32>(mp + M_IMF, be32(c + 66));
  store<u32>(mp + M_MMF, be32(c + 70));
  store<u64>(mp + M_TIER_NOTIONAL, be64(c + 74));
  store<u32>(mp + M_TIER_IMF, be32(c + 82));
  store<u32>(mp + M_TIER_MMF, be32(c + 86));
  store<u64>(mp + M_MAX_OI, be64(c + 90));
  store<u32>(mp + M_MAKER_FEE, be32(c + 98));
  store<u32>(mp + M_TAKER_FEE, be32(c + 102));
  store<u32>(mp + M_LIQ_FEE, be32(c + 106));
  store<u32>(mp + M_LIQ_BAND, be32(c + 110));
  store<u64>(mp + M_IMPACT, be64(c + 114));
  store<u32>(mp + M_MAX_FUNDING, be32(c + 122));
  store<u32>(mp + M_OPT_MIN, be32(c + 126));
}

// ---------------------------------------------------------------------------------------------
// Item handlers. `f` points at the fields after the type byte; `sender` at the 20-byte address
// the item acts for (the recovered signer, or the L1 sender of a delayed L2_TX, which carries
// no signature and whose nonce field is ignored and not consumed).

function doTransfer(f: u32, sender: u32, signed: bool, withdraw: bool): u32 {
  const to = f;
  const asset = be32(f + 20);
  const amount = be64(f + 24);
  const nonce = be64(f + 32);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  if (asset > 1) return UNKNOWN_ASSET;
  if (amount == 0 || amount > <u64>I64_MAX) return BAD_AMOUNT;
  if (!withdraw && eq20(to, sender)) return BAD_AMOUNT;
  const balOff = asset == 0 ? A_BAL0 : A_BAL1;
  if (id == 0) return INSUFFICIENT_BALANCE;
  const bal = load<i64>(acct(id) + balOff);
  if (asset == 0) {
    // Collateral is a quote balance (negative while long), so what can leave is free
    // collateral: equity less the initial margin of positions and open orders.
    computeMargin(id, -1, 0, 0, 0);
    const equity = load<i64>(MARGIN_EQUITY);
    if (equity < 0 || <u64>equity < amount) return INSUFFICIENT_BALANCE;
    if (satSub(equity, <i64>amount) < load<i64>(MARGIN_REQUIRED)) return INSUFFICIENT_MARGIN;
  } else if (bal < 0 || <u64>bal < amount) {
    return INSUFFICIENT_BALANCE;
  }
  if (withdraw) {
    if (be32(WLOG) >= MAX_WITHDRAWALS) return CAPACITY;
    if (cfg64(C_OUTBOX_COUNT) >= OUTBOX_CAPACITY) return CAPACITY;
    store<i64>(acct(id) + balOff, satSub(bal, <i64>amount));
    if (asset == 0) setCfg64(C_WITHDRAWN, cfg64(C_WITHDRAWN) + amount);
    const index = appendWithdrawal(sender, to, asset, amount);
    bumpNonce(id, signed);
    writeResult(OK, index, 0, 0);
    return OK;
  }
  let toId = findAccount(to);
  if (toId != 0) {
    if (addOverflows(load<i64>(acct(toId) + balOff), <i64>amount)) return BAD_AMOUNT;
  } else if (!reserveAccount()) {
    return CAPACITY;
  }
  if (toId == 0) toId = createAccount(to);
  store<i64>(acct(id) + balOff, satSub(load<i64>(acct(id) + balOff), <i64>amount));
  store<i64>(acct(toId) + balOff, load<i64>(acct(toId) + balOff) + <i64>amount);
  bumpNonce(id, signed);
  writeResult(OK, 0, 0, 0);
  return OK;
}

/** ADMIN: action ‖ market config ‖ nonce, signed by the genesis admin key. */
function doAdmin(f: u32, sender: u32): u32 {
  const action = u8at(f);
  const c = f + 1;
  const nonce = be64(f + 1 + MARKET_CONFIG_LEN);
  if (!eq20(sender, CFG + C_ADMIN)) return NOT_ADMIN;
  let id = findAccount(sender);
  if (!nonceOk(id, nonce, true)) return BAD_NONCE;
  if (action == ADMIN_ADD_MARKET) {
    if (cfg32(C_MARKET_COUNT) >= MAX_MARKETS) return CAPACITY;
    if (marketConfigError(c, -1) != null) return BAD_MARKET_CONFIG;
    if (id == 0 && !reserveAccount()) return CAPACITY;
    const i = cfg32(C_MARKET_COUNT);
    storeMarket(i, c, true);
    setCfg32(C_MARKET_COUNT, i + 1);
  } else if (action == ADMIN_UPDATE_MARKET) {
    const i = marketIndex(be32(c));
    if (i < 0) return BAD_MARKET_CONFIG;
    if (marketConfigError(c, i) != null) return BAD_MARKET_CONFIG;
    if (id == 0 && !reserveAccount()) return CAPACITY;
    storeMarket(<u32>i, c, false);
  } else {
    return MALFORMED;
  }
  if (id == 0) id = createAccount(sender);
  bumpNonce(id, true);
  writeResult(OK, 0, 0, 0);
  return OK;
}

/** Runs one authenticated transaction; writes its result record; returns its code. */
function dispatch(t: u32, f: u32, sender: u32, signed: bool): u32 {
  let code: u32 = MALFORMED;
  switch (t) {
    case T_ORDER: code = doOrder(f, sender, signed); break;
    case T_CANCEL: code = doCancel(f, sender, signed); break;
    case T_TRANSFER: code = doTransfer(f, sender, signed, false); break;
    case T_WITHDRAW: code = doTransfer(f, sender, signed, true); break;
    case T_CANCEL_ALL: code = doCancelAll(f, sender, signed); break;
    case T_REPLACE: code = doReplace(f, sender, signed); break;
    case T_ORACLE: if (signed) code = doOracle(f, sender); break;
    case T_ADMIN: if (signed) code = doAdmin(f, sender); break;
  }
  if (code != OK) reject(code);
  return code;
}

// ---------------------------------------------------------------------------------------------
// Delayed messages (§5): never trap, never reject; malformed ones are skipped.

function processDelayed(index: u64): void {
  const n = delayed_read(index, 0, DMSG, DELAYED_HEADER + MAX_DELAYED_PAYLOAD + 1);
  if (n < DELAYED_HEADER || n > DELAYED_HEADER + MAX_DELAYED_PAYLOAD) return;
  const kind = u8at(DMSG);
  const sender = DMSG + 1;
  const payload = DMSG + DELAYED_HEADER;
  const plen = n - DELAYED_HEADER;
  if (kind == D_DEPOSIT) {
    if (plen != 32) return;
    const asset = be32(payload + 20);
    const amount = be64(payload + 24);
    if (asset > 1 || amount == 0 || amount > <u64>I64_MAX) return;
    const balOff = asset == 0 ? A_BAL0 : A_BAL1;
    let id = findAccount(payload);
    if (id != 0) {
      if (addOverflows(load<i64>(acct(id) + balOff), <i64>amount)) return;
    } else {
      if (!reserveAccount()) return;
      id = createAccount(payload);
    }
    store<i64>(acct(id) + balOff, load<i64>(acct(id) + balOff) + <i64>amount);
    if (asset == 0) setCfg64(C_DEPOSITED, cfg64(C_DEPOSITED) + amount);
  } else if (kind == D_L2_TX) {
    if (plen < 1) return;
    const t = u8at(payload);
    if (t != T_ORDER && t != T_CANCEL && t != T_TRANSFER && t != T_WITHDRAW && t != T_CANCEL_ALL && t != T_REPLACE) return;
    if (t == T_ORDER && plen < 6) return;
    if (plen != itemLength(t, payload) - 65) return;
    dispatch(t, payload + 1, sender, false);
  }
}

function execDelayed(count: u64): void {
  const read = cfg64(C_DELAYED_READ);
  const after = cfg64(C_AFTER_DELAYED);
  if (after < read || after - read < count) {
    reject(DELAYED_OVERFLOW);
    return;
  }
  for (let i: u64 = 0; i < count; i++) {
    processDelayed(read + i);
    setCfg64(C_DELAYED_READ, read + i + 1);
  }
  writeResult(OK, 0, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Entry points

export function init(): void {
  if ((cfg32(C_FLAGS) & FLAG_INIT) != 0) abort("init: already initialized");
  if (<u32>__heap_base > SCRATCH) abort("init: static data overlaps the scratch region");
  const g = QUERY;
  const cap = GENESIS_HEADER + 20 * MAX_ORACLES + 1 + MARKET_CONFIG_LEN * MAX_MARKETS + 1;
  const n = inbox_read(0, g, cap);
  if (n < GENESIS_HEADER) abort("genesis: truncated");
  const oracles = u8at(g + GENESIS_HEADER - 1);
  if (oracles == 0 || oracles > MAX_ORACLES) abort("genesis: need 1 to 8 oracle keys");
  const mc = g + GENESIS_HEADER + 20 * oracles;
  if (n < mc + 1 - g) abort("genesis: truncated");
  const count = u8at(mc);
  if (count > MAX_MARKETS) abort("genesis: too many markets");
  if (n != mc + 1 - g + MARKET_CONFIG_LEN * count) abort("genesis: bad length");
  setCfg64(C_CHAIN_ID, be64(g));
  copy20(CFG + C_ADMIN, g + 8);
  setCfg32(C_MAX_ORACLE_AGE, be32(g + 48));
  if (cfg32(C_MAX_ORACLE_AGE) == 0) abort("genesis: maxOracleAge must be positive");
  setCfg32(C_ORACLE_COUNT, oracles);
  for (let k: u32 = 0; k < oracles; k++) copy20(CFG + C_ORACLES + k * 20, g + GENESIS_HEADER + k * 20);
  for (let i: u32 = 0; i < count; i++) {
    const c = mc + 1 + i * MARKET_CONFIG_LEN;
    // (no string concatenation: it would pull in an allocator and a start function)
    const err = marketConfigError(c, -1);
    if (err != null) abort(err);
    storeMarket(i, c, true);
    setCfg32(C_MARKET_COUNT, i + 1);
  }
  setCfg32(C_HEAP_TOP, HEAP_BASE);
  initAccounts();
  initBook();
  reserveAccount();
  setCfg32(C_FEE_ACCT, createAccount(g + 28));
  setCfg64(C_NEXT_ORDER_ID, 1);
  initDomain(cfg64(C_CHAIN_ID));
  initOutbox();
  setCfg32(C_FLAGS, FLAG_INIT);
  memory.fill(SCRATCH, 0, SCRATCH_SIZE);
}

export function begin_batch(): void {
  memory.fill(HBUF, 0, 24);
  const n = inbox_read(0, HBUF, 17);
  setCfg64(C_AFTER_DELAYED, be64(HBUF));
  const ts = be64(HBUF + 8);
  if (ts > cfg64(C_CLOCK)) setCfg64(C_CLOCK, ts);
  const items = n == 17 && u8at(HBUF + 16) == 0;
  setCfg32(C_FLAGS, items ? cfg32(C_FLAGS) | FLAG_ITEMS : cfg32(C_FLAGS) & ~FLAG_ITEMS);
  clearWithdrawalLog();
}

export function exec_item(offset: u32): u32 {
  reject(MALFORMED);
  if (inbox_read(offset, ITEM, 1) != 1) return 0;
  const t = u8at(ITEM);
  const pre = itemPrefix(t);
  if (pre > 1 && inbox_read(offset, ITEM, pre) != pre) return 0;
  const len = itemLength(t, ITEM);
  if (len == 0) return 0;
  if (inbox_read(offset, ITEM, len) != len) return 0;
  if (t == T_DELAYED) {
    execDelayed(<u64>be32(ITEM + 1));
  } else if (t == T_LIQUIDATE) {
    const code = doLiquidate(ITEM + 1);
    if (code != OK) reject(code);
  } else if (!recoverSigner(t, ITEM + 1, ITEM + len - 65)) {
    reject(BAD_SIGNATURE);
  } else {
    dispatch(t, ITEM + 1, SIGNER, true);
  }
  return offset + len;
}

export function end_batch(): void {
  let read = cfg64(C_DELAYED_READ);
  const after = cfg64(C_AFTER_DELAYED);
  while (read < after) {
    processDelayed(read);
    read++;
    setCfg64(C_DELAYED_READ, read);
  }
  // Funding runs here, once per batch, so re-heading an empty open batch cannot repeat it.
  runFunding();
  computeOutboxRoot();
  memory.fill(SCRATCH, 0, SCRATCH_SIZE);
  setCfg64(C_BATCH_COUNT, cfg64(C_BATCH_COUNT) + 1);
  setCfg32(C_FLAGS, cfg32(C_FLAGS) & ~FLAG_ITEMS);
}

export function run_batch(): void {
  begin_batch();
  if ((cfg32(C_FLAGS) & FLAG_ITEMS) != 0) {
    let offset: u32 = 17;
    while ((offset = exec_item(offset)) != 0) {}
  }
  end_batch();
}
