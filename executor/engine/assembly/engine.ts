// The state transition: genesis, batches, items, delayed messages (docs/protocol.md §3-§8).
//
// Every handler validates everything first and mutates only after the last check that can
// fail, so a rejected item writes nothing outside the scratch region. Capacity (table growth)
// is reserved as the last check.

import {
  A_BAL0, A_BAL1, A_MASK, A_MKT, A_NONCE, P_BUYS, P_POS, P_SELLS, P_SIZE,
  acct, acctMkt, createAccount, findAccount, initAccounts, reserveAccount, updateMask,
} from "./accounts";
import {
  L_HEAD, L_PRICE, O_ID, O_OWNER, O_REM, bestLevel, findOrder, initBook, lvl, ord,
  reduceOrder, removeOrder, reserveOrder, restOrder,
} from "./book";
import { initDomain, recoverSigner } from "./eip712";
import { delayed_read, inbox_read } from "./env";
import {
  BAD_AMOUNT, BAD_NONCE, BAD_PRICE, BAD_SIGNATURE, BAD_SIZE, C_AFTER_DELAYED, C_BATCH_COUNT,
  C_CHAIN_ID, C_CLOCK, C_DELAYED_READ, C_FLAGS, C_HEAP_TOP, C_MARKET_COUNT, C_NEXT_ORDER_ID,
  C_ORACLE, C_OUTBOX_COUNT, CAPACITY, CFG, D_DEPOSIT, D_L2_TX, DELAYED_HEADER, DELAYED_OVERFLOW,
  DMSG, EXPOSURE_LIMIT, FILL_LEN, FLAG_INIT, FLAG_ITEMS, GENESIS_MARKET_LEN, HBUF, HEAP_BASE,
  I64_MAX, INSUFFICIENT_BALANCE, INSUFFICIENT_MARGIN, ITEM, M_DECIMALS, M_ID, M_IMF, M_MARK,
  M_MARK_TS, M_MAX_PRICE, M_MAX_SIZE, M_MIN_SIZE, M_MMF, M_SCALE, M_STEP, M_TICK, MALFORMED,
  MARGIN_EQUITY, MARGIN_REQUIRED, MAX_DELAYED_PAYLOAD, MAX_FILLS, MAX_MARKETS, MAX_WITHDRAWALS,
  MKT_SIZE, NO_ORACLE_PRICE, NOT_ORACLE, NOT_ORDER_OWNER, OK, PPM, QUERY, RESULT, RESULT_FILLS,
  SCRATCH, SCRATCH_SIZE, SIGNER, STALE_ORACLE_PRICE, T_CANCEL, T_DELAYED, T_ORACLE, T_ORDER,
  T_TRANSFER, T_WITHDRAW, U64_MAX, UNKNOWN_ASSET, UNKNOWN_MARKET, UNKNOWN_ORDER, WLOG,
  addOverflows, be32, be64, cfg32, cfg64, clampI64, copy20, eq20, itemLength, mkt, marketIndex,
  mulDiv, mulMod, pow10, productBelow2p63, putBe32, putBe64, satAdd, satSub, setCfg32, setCfg64,
  u8at,
} from "./layout";
import { OUTBOX_CAPACITY, appendWithdrawal, clearWithdrawalLog, computeOutboxRoot, initOutbox } from "./outbox";

// ---------------------------------------------------------------------------------------------
// Result record

function writeResult(code: u32, orderId: u64, filled: u64, fills: u32): void {
  putBe32(RESULT, code);
  putBe64(RESULT + 4, orderId);
  putBe64(RESULT + 12, filled);
  putBe32(RESULT + 20, fills);
}

@inline function reject(code: u32): void { writeResult(code, 0, 0, 0); }

// ---------------------------------------------------------------------------------------------
// Margin

/**
 * Equity and initial margin of account `id` at the mark prices, with an optional new order
 * (market index `newM` >= 0, side, size) counted as open. Writes MARGIN_EQUITY and
 * MARGIN_REQUIRED; returns false if the new order would push the worst-case exposure in its
 * market past EXPOSURE_LIMIT.
 *
 *   exposure_m = max(|pos + openBuys|, |pos - openSells|)            (new order included)
 *   required   = Σ_m ceil(ceil(exposure_m × mark_m / 10^dec_m) × imfPpm_m / 1e6)
 *   equity     = collateral + Σ_m floor(pos_m × mark_m / 10^dec_m)    (floor toward −∞)
 *
 * Sums saturate at the i64 range; nothing here can overflow or trap.
 */
export function computeMargin(id: u32, newM: i32, isBuy: bool, size: u64): bool {
  let equity: i64 = 0;
  let required: i64 = 0;
  let mask: u32 = 0;
  let ok = true;
  if (id != 0) {
    const a = acct(id);
    equity = load<i64>(a + A_BAL0);
    mask = load<u32>(a + A_MASK);
  }
  if (newM >= 0) {
    mask |= <u32>1 << <u32>newM;
    if (size > <u64>EXPOSURE_LIMIT) ok = false;
  }
  while (mask != 0) {
    const m = ctz<u32>(mask);
    mask &= mask - 1;
    let pos: i64 = 0, buys: i64 = 0, sells: i64 = 0;
    if (id != 0) {
      const p = acctMkt(id, m);
      pos = load<i64>(p + P_POS);
      buys = load<i64>(p + P_BUYS);
      sells = load<i64>(p + P_SELLS);
    }
    if (<i32>m == newM && ok) {
      if (isBuy) buys += <i64>size;
      else sells += <i64>size;
    }
    const long = pos + buys;
    const short = pos - sells;
    const l: u64 = long < 0 ? <u64>(-long) : <u64>long;
    const s: u64 = short < 0 ? <u64>(-short) : <u64>short;
    const exposure = l > s ? l : s;
    if (<i32>m == newM && exposure > <u64>EXPOSURE_LIMIT) ok = false;
    const mp = mkt(m);
    const mark = load<u64>(mp + M_MARK);
    const scale = load<u64>(mp + M_SCALE);
    const notional = mulDiv(exposure, mark, scale, true);
    const im = notional == U64_MAX ? U64_MAX : mulDiv(notional, <u64>load<u32>(mp + M_IMF), PPM, true);
    required = satAdd(required, clampI64(im));
    if (pos > 0) equity = satAdd(equity, clampI64(mulDiv(<u64>pos, mark, scale, false)));
    else if (pos < 0) equity = satSub(equity, clampI64(mulDiv(<u64>(-pos), mark, scale, true)));
  }
  store<i64>(MARGIN_EQUITY, equity);
  store<i64>(MARGIN_REQUIRED, required);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Item handlers. `f` points at the fields after the type byte; `sender` at the 20-byte address
// the item acts for (the recovered signer, or the L1 sender of a delayed L2_TX, which carries
// no signature and whose nonce field is ignored and not consumed).

function nonceOk(id: u32, nonce: u64, signed: bool): bool {
  if (!signed) return true;
  const cur: u64 = id == 0 ? 0 : load<u64>(acct(id) + A_NONCE);
  return nonce == cur;
}

function bumpNonce(id: u32, signed: bool): void {
  if (signed) store<u64>(acct(id) + A_NONCE, load<u64>(acct(id) + A_NONCE) + 1);
}

function applyFill(buyer: u32, seller: u32, m: u32, size: u64, notional: u64): void {
  const b = acctMkt(buyer, m);
  store<i64>(b + P_POS, load<i64>(b + P_POS) + <i64>size);
  store<i64>(acct(buyer) + A_BAL0, satSub(load<i64>(acct(buyer) + A_BAL0), <i64>notional));
  updateMask(buyer, m);
  const s = acctMkt(seller, m);
  store<i64>(s + P_POS, load<i64>(s + P_POS) - <i64>size);
  store<i64>(acct(seller) + A_BAL0, satAdd(load<i64>(acct(seller) + A_BAL0), <i64>notional));
  updateMask(seller, m);
}

/** Whether the best opposite level would still trade with a `price` order on side `isBuy`. */
function crosses(m: u32, isBuy: bool, price: u64): bool {
  const l = bestLevel(m, !isBuy);
  if (l == 0) return false;
  const lp = load<u64>(lvl(l) + L_PRICE);
  return isBuy ? lp <= price : lp >= price;
}

function doOrder(f: u32, sender: u32, signed: bool): u32 {
  const marketId = be32(f);
  const side = u8at(f + 4);
  const price = be64(f + 5);
  const size = be64(f + 13);
  const nonce = be64(f + 21);
  if (side > 1) return MALFORMED;
  const isBuy = side == 1;
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  const mi = marketIndex(marketId);
  if (mi < 0) return UNKNOWN_MARKET;
  const m = <u32>mi;
  const mp = mkt(m);
  if (price == 0 || price > load<u64>(mp + M_MAX_PRICE) || price % load<u64>(mp + M_TICK) != 0) return BAD_PRICE;
  if (size % load<u64>(mp + M_STEP) != 0 || size < load<u64>(mp + M_MIN_SIZE) || size > load<u64>(mp + M_MAX_SIZE)) return BAD_SIZE;
  if (load<u64>(mp + M_MARK) == 0) return NO_ORACLE_PRICE;
  if (id == 0) return INSUFFICIENT_MARGIN;
  if (!computeMargin(id, mi, isBuy, size)) return INSUFFICIENT_MARGIN;
  if (load<i64>(MARGIN_EQUITY) < load<i64>(MARGIN_REQUIRED)) return INSUFFICIENT_MARGIN;
  if (!reserveOrder()) return CAPACITY;

  // --- accepted: mutate from here on ---
  const orderId = cfg64(C_NEXT_ORDER_ID);
  setCfg64(C_NEXT_ORDER_ID, orderId + 1);
  const scale = load<u64>(mp + M_SCALE);
  let remaining = size;
  let filled: u64 = 0;
  let fills: u32 = 0;
  while (remaining > 0 && fills < MAX_FILLS) {
    const l = bestLevel(m, !isBuy);
    if (l == 0) break;
    const lp = load<u64>(lvl(l) + L_PRICE);
    if (isBuy ? lp > price : lp < price) break;
    const o = load<u32>(lvl(l) + L_HEAD);
    const owner = load<u32>(ord(o) + O_OWNER);
    if (owner == id) {
      // self-trade prevention: cancel the resting order, keep matching
      removeOrder(o);
      continue;
    }
    const orem = load<u64>(ord(o) + O_REM);
    const fsz = remaining < orem ? remaining : orem;
    const notional = lp * fsz / scale; // exact and < 2^63 by the market invariants
    if (isBuy) applyFill(id, owner, m, fsz, notional);
    else applyFill(owner, id, m, fsz, notional);
    const rec = RESULT_FILLS + fills * FILL_LEN;
    putBe64(rec, load<u64>(ord(o) + O_ID));
    copy20(rec + 8, acct(owner));
    putBe64(rec + 28, lp);
    putBe64(rec + 36, fsz);
    if (fsz == orem) removeOrder(o);
    else reduceOrder(o, fsz);
    remaining -= fsz;
    filled += fsz;
    fills++;
  }
  // A remainder still crossing after MAX_FILLS is cancelled, never rested: a crossed book would
  // let the next taker trade through prices that should have filled first.
  if (remaining > 0 && !crosses(m, isBuy, price)) restOrder(orderId, id, m, isBuy, price, remaining);
  bumpNonce(id, signed);
  writeResult(OK, orderId, filled, fills);
  return OK;
}

function doCancel(f: u32, sender: u32, signed: bool): u32 {
  const orderId = be64(f);
  const nonce = be64(f + 8);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  const o = findOrder(orderId);
  if (o == 0) return UNKNOWN_ORDER;
  if (id == 0 || load<u32>(ord(o) + O_OWNER) != id) return NOT_ORDER_OWNER;
  removeOrder(o);
  bumpNonce(id, signed);
  writeResult(OK, orderId, 0, 0);
  return OK;
}

function doTransfer(f: u32, sender: u32, signed: bool, withdraw: bool): u32 {
  const to = f;
  const asset = be32(f + 20);
  const amount = be64(f + 24);
  const nonce = be64(f + 32);
  const id = findAccount(sender);
  if (!nonceOk(id, nonce, signed)) return BAD_NONCE;
  if (asset > 1) return UNKNOWN_ASSET;
  if (amount == 0) return BAD_AMOUNT;
  if (!withdraw && eq20(to, sender)) return BAD_AMOUNT;
  const balOff = asset == 0 ? A_BAL0 : A_BAL1;
  if (id == 0) return INSUFFICIENT_BALANCE;
  const bal = load<i64>(acct(id) + balOff);
  if (bal < 0 || <u64>bal < amount) return INSUFFICIENT_BALANCE;
  if (asset == 0) {
    computeMargin(id, -1, false, 0);
    if (satSub(load<i64>(MARGIN_EQUITY), <i64>amount) < load<i64>(MARGIN_REQUIRED)) return INSUFFICIENT_MARGIN;
  }
  if (withdraw) {
    if (be32(WLOG) >= MAX_WITHDRAWALS) return CAPACITY;
    if (cfg64(C_OUTBOX_COUNT) >= OUTBOX_CAPACITY) return CAPACITY;
    store<i64>(acct(id) + balOff, bal - <i64>amount);
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
  store<i64>(acct(id) + balOff, load<i64>(acct(id) + balOff) - <i64>amount);
  store<i64>(acct(toId) + balOff, load<i64>(acct(toId) + balOff) + <i64>amount);
  bumpNonce(id, signed);
  writeResult(OK, 0, 0, 0);
  return OK;
}

function doOracle(f: u32, sender: u32): u32 {
  const marketId = be32(f);
  const price = be64(f + 4);
  const ts = be64(f + 12);
  const mi = marketIndex(marketId);
  if (mi < 0) return UNKNOWN_MARKET;
  if (!eq20(sender, CFG + C_ORACLE)) return NOT_ORACLE;
  const mp = mkt(<u32>mi);
  if (ts <= load<u64>(mp + M_MARK_TS)) return STALE_ORACLE_PRICE;
  if (price == 0 || price > load<u64>(mp + M_MAX_PRICE)) return BAD_PRICE;
  store<u64>(mp + M_MARK, price);
  store<u64>(mp + M_MARK_TS, ts);
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
    case T_ORACLE: if (signed) code = doOracle(f, sender); break;
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
  } else if (kind == D_L2_TX) {
    if (plen < 1) return;
    const t = u8at(payload);
    if (t < T_ORDER || t > T_WITHDRAW) return;
    if (plen != itemLength(t) - 65) return;
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
  const n = inbox_read(0, g, 29 + GENESIS_MARKET_LEN * MAX_MARKETS + 1);
  if (n < 29) abort("genesis: truncated");
  const count = u8at(g + 28);
  if (count > MAX_MARKETS) abort("genesis: too many markets");
  if (n != 29 + GENESIS_MARKET_LEN * count) abort("genesis: bad length");
  setCfg64(C_CHAIN_ID, be64(g));
  copy20(CFG + C_ORACLE, g + 8);
  for (let i: u32 = 0; i < count; i++) {
    const r = g + 29 + i * GENESIS_MARKET_LEN;
    const id = be32(r);
    const tick = be64(r + 4);
    const step = be64(r + 12);
    const minSize = be64(r + 20);
    const maxSize = be64(r + 28);
    const maxPrice = be64(r + 36);
    const dec = u8at(r + 44);
    const imf = be32(r + 45);
    const mmf = be32(r + 49);
    if (marketIndex(id) >= 0) abort("genesis: duplicate market id");
    if (tick == 0 || step == 0) abort("genesis: tickSize and stepSize must be positive");
    if (dec > 18) abort("genesis: sizeDecimals must be <= 18");
    const scale = pow10(dec);
    if (mulMod(tick, step, scale) != 0) abort("genesis: tickSize*stepSize must be a multiple of 10^sizeDecimals");
    if (!productBelow2p63(maxPrice, maxSize)) abort("genesis: maxPrice*maxSize must be below 2^63");
    if (minSize < step || minSize > maxSize) abort("genesis: need stepSize <= minSize <= maxSize");
    if (mmf == 0 || mmf > imf || <u64>imf > PPM) abort("genesis: need 0 < mmf <= imf <= 1e6");
    const mp = mkt(i);
    memory.fill(mp, 0, MKT_SIZE);
    store<u32>(mp + M_ID, id);
    store<u32>(mp + M_DECIMALS, dec);
    store<u64>(mp + M_TICK, tick);
    store<u64>(mp + M_STEP, step);
    store<u64>(mp + M_MIN_SIZE, minSize);
    store<u64>(mp + M_MAX_SIZE, maxSize);
    store<u64>(mp + M_MAX_PRICE, maxPrice);
    store<u32>(mp + M_IMF, imf);
    store<u32>(mp + M_MMF, mmf);
    store<u64>(mp + M_SCALE, scale);
    setCfg32(C_MARKET_COUNT, i + 1);
  }
  setCfg32(C_HEAP_TOP, HEAP_BASE);
  initAccounts(A_MKT + P_SIZE * count);
  initBook();
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
  const len = itemLength(t);
  if (len == 0) return 0;
  if (inbox_read(offset, ITEM, len) != len) return 0;
  if (t == T_DELAYED) {
    execDelayed(<u64>be32(ITEM + 1));
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
