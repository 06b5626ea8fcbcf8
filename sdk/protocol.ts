/**
 * Veridex wire protocol: EIP-712 types, batch item encodings, inbox and delayed message layouts,
 * result codes. docs/protocol.md is the prose version of this file; change both together.
 */
import { type Address, type Hex, bytesToHex, getAddress, hexToBytes } from 'viem'

export const ASSET_COLLATERAL = 0
export const ASSET_ETH = 1
export const ASSETS = [ASSET_COLLATERAL, ASSET_ETH] as const
/** Wei per ETH quantum (1 gwei). */
export const ETH_QUANTUM_WEI = 1_000_000_000n

export const MEMORY_MAX_PAGES = 4096
export const MEMORY_TREE_DEPTH = 23
export const OUTBOX_TREE_DEPTH = 32
export const MAX_FILLS_PER_ORDER = 64
export const MAX_WITHDRAWALS_PER_BATCH = 1024
export const WITHDRAWAL_LOG_ENTRY_LEN = 60
export const MAX_DELAYED_PAYLOAD = 256
export const BATCH_HEADER_LEN = 16
export const BATCH_FORMAT_RAW = 0
export const KECCAK_MAX_LEN = 1024

export const ITEM_ORDER = 0x01
export const ITEM_CANCEL = 0x02
export const ITEM_TRANSFER = 0x03
export const ITEM_WITHDRAW = 0x04
export const ITEM_ORACLE = 0x05
export const ITEM_DELAYED = 0x06
export const ITEM_CANCEL_ALL = 0x07
export const ITEM_REPLACE = 0x08
export const ITEM_LIQUIDATE = 0x09
export const ITEM_ADMIN = 0x0a

/** Bytes of a market config (genesis and ADMIN, docs/protocol.md §4). */
export const MARKET_CONFIG_LEN = 130

/** Encoded length of each fixed-length item type, including the type byte (ORDER: see itemLength). */
export const ITEM_LENGTH: Record<number, number> = {
  [ITEM_ORDER]: 95,
  [ITEM_CANCEL]: 82,
  [ITEM_TRANSFER]: 106,
  [ITEM_WITHDRAW]: 106,
  [ITEM_ORACLE]: 86,
  [ITEM_DELAYED]: 5,
  [ITEM_CANCEL_ALL]: 78,
  [ITEM_REPLACE]: 98,
  [ITEM_LIQUIDATE]: 21,
  [ITEM_ADMIN]: 1 + 1 + MARKET_CONFIG_LEN + 8 + 65,
}

// The ORDER options byte (docs/protocol.md §3)
export const OPT_BUY = 0x01
export const OPT_POST_ONLY = 0x20
export const OPT_REDUCE_ONLY = 0x40
export const OPT_EXPIRY = 0x80
export const OrderType = { LIMIT: 0, MARKET: 1, STOP_MARKET: 2, TAKE_PROFIT_MARKET: 3 } as const
export const TimeInForce = { GTC: 0, IOC: 1, FOK: 2 } as const

/**
 * Length of the item whose first bytes are `prefix` (the type byte, and for ORDER its options
 * byte at offset 5), or undefined for an unknown type or a prefix too short to tell.
 */
export function itemLength(prefix: Uint8Array): number | undefined {
  const t = prefix[0]
  if (t === undefined) return undefined
  if (t !== ITEM_ORDER) return ITEM_LENGTH[t]
  const opts = prefix[5]
  if (opts === undefined) return undefined
  const type = (opts >> 1) & 3
  return 95 + (type >= OrderType.STOP_MARKET ? 8 : 0) + (opts & OPT_EXPIRY ? 8 : 0)
}

/** The 65-byte v ‖ r ‖ s signature of a signed item: its last 65 bytes. */
export const itemSignature = (item: Uint8Array): Uint8Array => item.subarray(item.length - 65)

export const DELAYED_DEPOSIT = 1
export const DELAYED_L2_TX = 2

export const eip712Domain = (chainId: number | bigint) =>
  ({ name: 'Veridex', version: '1', chainId: BigInt(chainId) }) as const

export const eip712Types = {
  Order: [
    { name: 'market', type: 'uint32' },
    { name: 'isBuy', type: 'bool' },
    { name: 'price', type: 'uint64' },
    { name: 'size', type: 'uint64' },
    { name: 'orderType', type: 'uint8' },
    { name: 'timeInForce', type: 'uint8' },
    { name: 'postOnly', type: 'bool' },
    { name: 'reduceOnly', type: 'bool' },
    { name: 'triggerPrice', type: 'uint64' },
    { name: 'expiry', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  Cancel: [
    { name: 'orderId', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  CancelAll: [
    { name: 'market', type: 'uint32' },
    { name: 'nonce', type: 'uint64' },
  ],
  Replace: [
    { name: 'orderId', type: 'uint64' },
    { name: 'price', type: 'uint64' },
    { name: 'size', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  AdminAction: [
    { name: 'action', type: 'uint8' },
    { name: 'config', type: 'bytes' },
    { name: 'nonce', type: 'uint64' },
  ],
  Transfer: [
    { name: 'to', type: 'address' },
    { name: 'asset', type: 'uint32' },
    { name: 'amount', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  Withdraw: [
    { name: 'to', type: 'address' },
    { name: 'asset', type: 'uint32' },
    { name: 'amount', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
  OraclePrice: [
    { name: 'market', type: 'uint32' },
    { name: 'price', type: 'uint64' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const

export type TxKind = keyof typeof eip712Types

/**
 * An order. `price` is the limit (for MARKET, STOP_MARKET and TAKE_PROFIT_MARKET the worst
 * price accepted). Omitted options default to a good-till-cancelled limit order: orderType
 * LIMIT, timeInForce GTC, no post-only, no reduce-only, triggerPrice 0, expiry 0 (none).
 */
export interface OrderMsg {
  market: number
  isBuy: boolean
  price: bigint
  size: bigint
  orderType?: number
  timeInForce?: number
  postOnly?: boolean
  reduceOnly?: boolean
  triggerPrice?: bigint
  /** Unix seconds: the order is rejected after it, and a resting order expires then (GTT). */
  expiry?: bigint
  nonce: bigint
}
export interface CancelMsg { orderId: bigint; nonce: bigint }
/** `market` 0xFFFFFFFF (ALL_MARKETS) cancels in every market. */
export interface CancelAllMsg { market: number; nonce: bigint }
export interface ReplaceMsg { orderId: bigint; price: bigint; size: bigint; nonce: bigint }
export interface AdminActionMsg { action: number; config: Hex; nonce: bigint }
export const ALL_MARKETS = 0xffffffff
export const AdminAction = { ADD_MARKET: 1, UPDATE_MARKET: 2 } as const
export interface TransferMsg { to: Address; asset: number; amount: bigint; nonce: bigint }
export interface WithdrawMsg { to: Address; asset: number; amount: bigint; nonce: bigint }
export interface OraclePriceMsg { market: number; price: bigint; timestamp: bigint }

export type TxMessage =
  | { kind: 'Order'; message: OrderMsg }
  | { kind: 'Cancel'; message: CancelMsg }
  | { kind: 'CancelAll'; message: CancelAllMsg }
  | { kind: 'Replace'; message: ReplaceMsg }
  | { kind: 'AdminAction'; message: AdminActionMsg }
  | { kind: 'Transfer'; message: TransferMsg }
  | { kind: 'Withdraw'; message: WithdrawMsg }
  | { kind: 'OraclePrice'; message: OraclePriceMsg }

export const ITEM_TYPE_OF: Record<TxKind, number> = {
  Order: ITEM_ORDER,
  Cancel: ITEM_CANCEL,
  CancelAll: ITEM_CANCEL_ALL,
  Replace: ITEM_REPLACE,
  AdminAction: ITEM_ADMIN,
  Transfer: ITEM_TRANSFER,
  Withdraw: ITEM_WITHDRAW,
  OraclePrice: ITEM_ORACLE,
}

/** The complete EIP-712 message of `tx` (an Order with its defaults spelled out), for viem's signTypedData. */
export function typedMessage(tx: TxMessage): Record<string, unknown> {
  if (tx.kind !== 'Order') return tx.message as unknown as Record<string, unknown>
  const m = tx.message
  return {
    market: m.market,
    isBuy: m.isBuy,
    price: m.price,
    size: m.size,
    orderType: m.orderType ?? OrderType.LIMIT,
    timeInForce: m.timeInForce ?? TimeInForce.GTC,
    postOnly: m.postOnly ?? false,
    reduceOnly: m.reduceOnly ?? false,
    triggerPrice: m.triggerPrice ?? 0n,
    expiry: m.expiry ?? 0n,
    nonce: m.nonce,
  }
}

/** The ORDER options byte of `m`. */
export function orderOptions(m: OrderMsg): number {
  const type = m.orderType ?? OrderType.LIMIT
  const tif = m.timeInForce ?? TimeInForce.GTC
  if (!Number.isInteger(type) || type < 0 || type > 3) throw new RangeError(`orderType must be 0..3, got ${type}`)
  // 3 would encode (the field has 2 bits) but means nothing: the engine refuses it as MALFORMED
  if (!Number.isInteger(tif) || tif < 0 || tif > 2) throw new RangeError(`timeInForce must be 0..2, got ${tif}`)
  return (m.isBuy ? OPT_BUY : 0) | (type << 1) | (tif << 3) | (m.postOnly ? OPT_POST_ONLY : 0) | (m.reduceOnly ? OPT_REDUCE_ONLY : 0) | ((m.expiry ?? 0n) !== 0n ? OPT_EXPIRY : 0)
}

export const MarketKind = { PERPETUAL: 0, CALL: 1, PUT: 2 } as const

/**
 * A market: a perpetual, or a European cash-settled option series on a perpetual's index.
 * Optional fields default to 0 (no tiers, no open-interest cap, no fees, no liquidation fee or
 * band, no funding) and, for the kind, to a perpetual. docs/protocol.md §4 and §10.
 */
export interface MarketConfig {
  id: number
  symbol: string
  /** MarketKind: 0 perpetual (default), 1 call, 2 put. */
  kind?: number
  /** Options: the id of the perpetual whose index they settle on (a perpetual: its own id). */
  underlying?: number
  /** Options: strike price, collateral quantums per whole unit. */
  strike?: bigint
  /** Options: expiry, unix seconds. */
  expiry?: bigint
  tickSize: bigint
  stepSize: bigint
  minSize: bigint
  maxSize: bigint
  maxPrice: bigint
  sizeDecimals: number
  /** Initial margin fraction (ppm); for options, the short option's rate of the index (Deribit: 0.15). */
  initialMarginPpm: number
  /** Maintenance margin fraction (ppm); for options the short's maintenance rate (Deribit: 0.075). */
  maintenanceMarginPpm: number
  /** Notional (collateral quantums) per margin tier: the fractions rise once per full tier. */
  tierNotional?: bigint
  tierInitialMarginPpm?: number
  tierMaintenanceMarginPpm?: number
  /** Cap on open interest (base quantums; 0 = none). */
  maxOpenInterest?: bigint
  makerFeePpm?: number
  takerFeePpm?: number
  /** Liquidation fee on the closed notional, to the insurance fund. */
  liquidationFeePpm?: number
  /** Liquidation fills stay within index × (1 ± band). */
  liquidationBandPpm?: number
  /** Perpetuals: the notional whose average fill price sets the impact bid and ask for funding. */
  impactNotional?: bigint
  /** Perpetuals: cap on the hourly funding rate, parts per 10^9. */
  maxFundingPpbPerHour?: number
  /** Options: floor of a short option's rate of the index (Deribit: 0.10). */
  optionMinPpm?: number
}

export interface GenesisConfig {
  chainId: number
  /** The oracle key (used when `oracles` is absent). */
  oracle: Address
  /** Oracle keys (1 to 8); the index is the median of their fresh prices. Default [oracle]. */
  oracles?: Address[]
  /** Signs ADMIN transactions (market additions and updates). Default: the first oracle key. */
  admin?: Address
  /** Receives trading fees. Default: the admin. */
  feeAccount?: Address
  /** Oracle prices older than this (seconds, against the batch clock) no longer count. Default 86,400. */
  maxOracleAgeSeconds?: number
  markets: MarketConfig[]
}

export const DEFAULT_MAX_ORACLE_AGE_SECONDS = 86_400

/** Result codes returned by the engine. JSON-RPC error code = -32000 - code. */
export const ResultCode = {
  OK: 0,
  BAD_SIGNATURE: 1,
  BAD_NONCE: 2,
  UNKNOWN_MARKET: 3,
  BAD_PRICE: 4,
  BAD_SIZE: 5,
  INSUFFICIENT_MARGIN: 6,
  INSUFFICIENT_BALANCE: 7,
  UNKNOWN_ORDER: 8,
  NOT_ORDER_OWNER: 9,
  NO_ORACLE_PRICE: 10,
  STALE_ORACLE_PRICE: 11,
  NOT_ORACLE: 12,
  MALFORMED: 13,
  UNKNOWN_ASSET: 14,
  BAD_AMOUNT: 15,
  CAPACITY: 16,
  DELAYED_OVERFLOW: 17,
  EXPIRED: 18,
  POST_ONLY_WOULD_CROSS: 19,
  FOK_NOT_FILLED: 20,
  REDUCE_ONLY: 21,
  OPEN_INTEREST_CAP: 22,
  MARKET_CLOSED: 23,
  NOT_LIQUIDATABLE: 24,
  NOT_ADMIN: 25,
  BAD_MARKET_CONFIG: 26,
  BAD_TRIGGER: 27,
} as const
export type ResultCodeName = keyof typeof ResultCode
export const resultCodeName = (code: number): ResultCodeName | 'UNKNOWN' =>
  (Object.keys(ResultCode) as ResultCodeName[]).find((k) => ResultCode[k] === code) ?? 'UNKNOWN'

// ---------------------------------------------------------------------------------------------
// Byte helpers

class Writer {
  private buf: Uint8Array
  private view: DataView
  len = 0
  constructor(capacity = 128) {
    this.buf = new Uint8Array(capacity)
    this.view = new DataView(this.buf.buffer)
  }
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n))
    next.set(this.buf)
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  u8(v: number) { this.ensure(1); this.view.setUint8(this.len, v); this.len += 1; return this }
  u32(v: number) { this.ensure(4); this.view.setUint32(this.len, v); this.len += 4; return this }
  u64(v: bigint) { this.ensure(8); this.view.setBigUint64(this.len, v); this.len += 8; return this }
  bytes(b: Uint8Array) { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; return this }
  address(a: Address) { return this.bytes(hexToBytes(a)) }
  finish(): Uint8Array { return this.buf.slice(0, this.len) }
}

export class Reader {
  private view: DataView
  pos = 0
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  get remaining() { return this.buf.length - this.pos }
  private need(n: number) {
    if (this.pos + n > this.buf.length) throw new RangeError(`truncated: need ${n} bytes at ${this.pos}, have ${this.remaining}`)
  }
  u8() { this.need(1); return this.view.getUint8(this.pos++) }
  u32() { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v }
  u64() { this.need(8); const v = this.view.getBigUint64(this.pos); this.pos += 8; return v }
  bytes(n: number) { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b }
  address(): Address { return getAddress(bytesToHex(this.bytes(20))) }
}

/** Splits a 65-byte hex signature (r ‖ s ‖ v, as viem returns it) into the v ‖ r ‖ s wire order. */
/** A 65-byte signature as 0x-hex (r ‖ s ‖ v), as viem's signTypedData returns it. */
export const SIGNATURE_HEX = /^0x[0-9a-fA-F]{130}$/

export function signatureToWire(signature: Hex): Uint8Array {
  if (!SIGNATURE_HEX.test(signature)) throw new Error(`signature must be 65 bytes of 0x-hex (130 hex digits), got ${String(signature).length - 2} characters after 0x`)
  // On the request path: Buffer's hex decoding, for input the pattern has checked, is several
  // times faster than viem's hexToBytes (test/signature-wire checks it against viem).
  const b = Buffer.from(signature.slice(2), 'hex')
  let v = b[64]!
  if (v < 27) v += 27
  const out = new Uint8Array(65)
  out[0] = v
  out.set(b.subarray(0, 64), 1)
  return out
}

/** Inverse of {@link signatureToWire}: v ‖ r ‖ s bytes to the r ‖ s ‖ v hex viem expects. */
export function wireToSignature(wire: Uint8Array): Hex {
  const out = new Uint8Array(65)
  out.set(wire.subarray(1, 65), 0)
  out[64] = wire[0]!
  return bytesToHex(out)
}

function writeFields(w: Writer, tx: TxMessage) {
  switch (tx.kind) {
    case 'Order': {
      const m = tx.message
      const opts = orderOptions(m)
      w.u32(m.market).u8(opts).u64(m.price).u64(m.size)
      if (((opts >> 1) & 3) >= OrderType.STOP_MARKET) w.u64(m.triggerPrice ?? 0n)
      else if ((m.triggerPrice ?? 0n) !== 0n) throw new RangeError('triggerPrice is only for STOP_MARKET and TAKE_PROFIT_MARKET orders')
      if (opts & OPT_EXPIRY) w.u64(m.expiry!)
      w.u64(m.nonce)
      break
    }
    case 'Cancel':
      w.u64(tx.message.orderId).u64(tx.message.nonce)
      break
    case 'CancelAll':
      w.u32(tx.message.market).u64(tx.message.nonce)
      break
    case 'Replace':
      w.u64(tx.message.orderId).u64(tx.message.price).u64(tx.message.size).u64(tx.message.nonce)
      break
    case 'AdminAction': {
      const config = hexToBytes(tx.message.config)
      if (config.length !== MARKET_CONFIG_LEN) throw new RangeError(`AdminAction.config must be ${MARKET_CONFIG_LEN} bytes (encodeMarketConfig), got ${config.length}`)
      w.u8(tx.message.action).bytes(config).u64(tx.message.nonce)
      break
    }
    case 'Transfer':
    case 'Withdraw': {
      const m = tx.message
      w.address(m.to).u32(m.asset).u64(m.amount).u64(m.nonce)
      break
    }
    case 'OraclePrice': {
      const m = tx.message
      w.u32(m.market).u64(m.price).u64(m.timestamp)
      break
    }
  }
}

/** Encodes a signed transaction as a batch item (docs/protocol.md §3). */
export function encodeItem(tx: TxMessage, signature: Hex): Uint8Array {
  const w = new Writer(110)
  w.u8(ITEM_TYPE_OF[tx.kind])
  writeFields(w, tx)
  w.bytes(signatureToWire(signature))
  return w.finish()
}

/** Encodes an L1-originated transaction (no signature) as a DELAYED L2_TX payload. */
export function encodeUnsignedItem(tx: TxMessage): Uint8Array {
  if (tx.kind === 'OraclePrice' || tx.kind === 'AdminAction') throw new Error(`${tx.kind} cannot be sent from L1: it must be signed`)
  const w = new Writer(64)
  w.u8(ITEM_TYPE_OF[tx.kind])
  writeFields(w, tx)
  return w.finish()
}

export const encodeDelayedItem = (count: number) => new Writer(5).u8(ITEM_DELAYED).u32(count).finish()

/** LIQUIDATE(account): permissionless and unsigned (docs/protocol.md §3). */
export const encodeLiquidateItem = (account: Address) => new Writer(21).u8(ITEM_LIQUIDATE).address(account).finish()

/** Decodes one signed batch item starting at `offset`. Throws on unknown type or truncation. */
export function decodeItem(buf: Uint8Array, offset = 0): { tx: TxMessage; signature: Hex; length: number } | { delayed: number; length: number } | { liquidate: Address; length: number } {
  const r = new Reader(buf.subarray(offset))
  const type = r.u8()
  let tx: TxMessage
  switch (type) {
    case ITEM_ORDER: {
      const market = r.u32()
      const opts = r.u8()
      const price = r.u64()
      const size = r.u64()
      const orderType = (opts >> 1) & 3
      const triggerPrice = orderType >= OrderType.STOP_MARKET ? r.u64() : 0n
      const expiry = opts & OPT_EXPIRY ? r.u64() : 0n
      tx = {
        kind: 'Order',
        message: {
          market, isBuy: (opts & OPT_BUY) !== 0, price, size, orderType, timeInForce: (opts >> 3) & 3,
          postOnly: (opts & OPT_POST_ONLY) !== 0, reduceOnly: (opts & OPT_REDUCE_ONLY) !== 0, triggerPrice, expiry, nonce: r.u64(),
        },
      }
      break
    }
    case ITEM_CANCEL:
      tx = { kind: 'Cancel', message: { orderId: r.u64(), nonce: r.u64() } }
      break
    case ITEM_CANCEL_ALL:
      tx = { kind: 'CancelAll', message: { market: r.u32(), nonce: r.u64() } }
      break
    case ITEM_REPLACE:
      tx = { kind: 'Replace', message: { orderId: r.u64(), price: r.u64(), size: r.u64(), nonce: r.u64() } }
      break
    case ITEM_ADMIN:
      tx = { kind: 'AdminAction', message: { action: r.u8(), config: bytesToHex(r.bytes(MARKET_CONFIG_LEN)), nonce: r.u64() } }
      break
    case ITEM_LIQUIDATE:
      return { liquidate: r.address(), length: 21 }
    case ITEM_TRANSFER:
    case ITEM_WITHDRAW:
      tx = {
        kind: type === ITEM_TRANSFER ? 'Transfer' : 'Withdraw',
        message: { to: r.address(), asset: r.u32(), amount: r.u64(), nonce: r.u64() },
      } as TxMessage
      break
    case ITEM_ORACLE:
      tx = { kind: 'OraclePrice', message: { market: r.u32(), price: r.u64(), timestamp: r.u64() } }
      break
    case ITEM_DELAYED:
      return { delayed: r.u32(), length: 5 }
    default:
      throw new RangeError(`unknown item type 0x${type.toString(16)} at offset ${offset}`)
  }
  const signature = wireToSignature(r.bytes(65))
  return { tx, signature, length: r.pos }
}

export interface BatchHeader { afterDelayedCount: bigint; timestamp: bigint }

export const encodeBatchHeader = (h: BatchHeader) => new Writer(16).u64(h.afterDelayedCount).u64(h.timestamp).finish()

/** A batch message as the engine reads it: header ‖ data. */
export function batchMessage(h: BatchHeader, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(BATCH_HEADER_LEN + data.length)
  out.set(encodeBatchHeader(h))
  out.set(data, BATCH_HEADER_LEN)
  return out
}

/** The 130-byte market config of docs/protocol.md §4 (genesis and ADMIN). */
export function encodeMarketConfig(m: MarketConfig): Uint8Array {
  const kind = m.kind ?? MarketKind.PERPETUAL
  const w = new Writer(MARKET_CONFIG_LEN)
  w.u32(m.id).u8(kind).u32(m.underlying ?? m.id).u64(m.strike ?? 0n).u64(m.expiry ?? 0n)
  w.u64(m.tickSize).u64(m.stepSize).u64(m.minSize).u64(m.maxSize).u64(m.maxPrice)
  w.u8(m.sizeDecimals).u32(m.initialMarginPpm).u32(m.maintenanceMarginPpm)
  w.u64(m.tierNotional ?? 0n).u32(m.tierInitialMarginPpm ?? 0).u32(m.tierMaintenanceMarginPpm ?? 0)
  w.u64(m.maxOpenInterest ?? 0n).u32(m.makerFeePpm ?? 0).u32(m.takerFeePpm ?? 0)
  w.u32(m.liquidationFeePpm ?? 0).u32(m.liquidationBandPpm ?? 0)
  w.u64(m.impactNotional ?? 0n).u32(m.maxFundingPpbPerHour ?? 0).u32(m.optionMinPpm ?? 0)
  return w.finish()
}

/** Decodes a market config (the first 130 bytes of `b`); `symbol` is not on the wire. */
export function decodeMarketConfig(b: Uint8Array, symbol = ''): MarketConfig {
  const r = new Reader(b)
  return {
    id: r.u32(), symbol, kind: r.u8(), underlying: r.u32(), strike: r.u64(), expiry: r.u64(),
    tickSize: r.u64(), stepSize: r.u64(), minSize: r.u64(), maxSize: r.u64(), maxPrice: r.u64(),
    sizeDecimals: r.u8(), initialMarginPpm: r.u32(), maintenanceMarginPpm: r.u32(),
    tierNotional: r.u64(), tierInitialMarginPpm: r.u32(), tierMaintenanceMarginPpm: r.u32(),
    maxOpenInterest: r.u64(), makerFeePpm: r.u32(), takerFeePpm: r.u32(),
    liquidationFeePpm: r.u32(), liquidationBandPpm: r.u32(),
    impactNotional: r.u64(), maxFundingPpbPerHour: r.u32(), optionMinPpm: r.u32(),
  }
}

/** The oracle keys, admin and fee account of a genesis config, with defaults applied. */
export function genesisKeys(g: GenesisConfig): { oracles: Address[]; admin: Address; feeAccount: Address; maxOracleAgeSeconds: number } {
  const oracles = g.oracles && g.oracles.length > 0 ? g.oracles : [g.oracle]
  const admin = g.admin ?? oracles[0]!
  return { oracles, admin, feeAccount: g.feeAccount ?? admin, maxOracleAgeSeconds: g.maxOracleAgeSeconds ?? DEFAULT_MAX_ORACLE_AGE_SECONDS }
}

/**
 * The genesis message (docs/protocol.md §4): chainId u64 ‖ admin ‖ feeAccount ‖ maxOracleAge u32
 * ‖ oracleCount u8 ‖ oracles ‖ marketCount u8 ‖ market configs.
 */
export function encodeGenesis(g: GenesisConfig): Uint8Array {
  const k = genesisKeys(g)
  if (k.oracles.length > 8) throw new RangeError(`at most 8 oracle keys, got ${k.oracles.length}`)
  const w = new Writer(64 + 20 * k.oracles.length + MARKET_CONFIG_LEN * g.markets.length)
  w.u64(BigInt(g.chainId)).address(k.admin).address(k.feeAccount).u32(k.maxOracleAgeSeconds).u8(k.oracles.length)
  for (const o of k.oracles) w.address(o)
  w.u8(g.markets.length)
  for (const m of g.markets) w.bytes(encodeMarketConfig(m))
  return w.finish()
}

/** Checks the market invariants of docs/protocol.md §4 (as the engine does); returns a reason or undefined. */
export function marketConfigError(m: MarketConfig, others: MarketConfig[] = []): string | undefined {
  const scale = 10n ** BigInt(m.sizeDecimals)
  const kind = m.kind ?? MarketKind.PERPETUAL
  if (kind > MarketKind.PUT) return `market ${m.id}: kind must be 0 (perpetual), 1 (call) or 2 (put)`
  if (kind === MarketKind.PERPETUAL) {
    if ((m.underlying ?? m.id) !== m.id || (m.strike ?? 0n) !== 0n || (m.expiry ?? 0n) !== 0n)
      return `market ${m.id}: a perpetual has no underlying, strike or expiry`
  } else {
    const u = others.find((o) => o.id === m.underlying)
    if (!u || (u.kind ?? 0) !== MarketKind.PERPETUAL) return `market ${m.id}: an option's underlying must be a perpetual market listed before it`
    if (!m.strike || !m.expiry) return `market ${m.id}: an option needs a strike and an expiry`
    if (!m.optionMinPpm || m.optionMinPpm > m.initialMarginPpm) return `market ${m.id}: an option needs 0 < optionMinPpm <= initialMarginPpm`
  }
  if (m.tickSize <= 0n || m.stepSize <= 0n) return `market ${m.id}: tickSize and stepSize must be positive`
  if (m.sizeDecimals > 15) return `market ${m.id}: sizeDecimals must be <= 15`
  if ((m.tickSize * m.stepSize) % scale !== 0n) return `market ${m.id}: tickSize*stepSize must be a multiple of 10^sizeDecimals`
  if (m.maxPrice * m.maxSize >= 1n << 63n) return `market ${m.id}: maxPrice*maxSize must be below 2^63`
  if (m.minSize < m.stepSize || m.minSize > m.maxSize || m.minSize % m.stepSize !== 0n) return `market ${m.id}: need stepSize <= minSize <= maxSize, minSize a multiple of stepSize`
  if (m.maintenanceMarginPpm <= 0 || m.maintenanceMarginPpm > m.initialMarginPpm || m.initialMarginPpm > 1_000_000)
    return `market ${m.id}: need 0 < maintenanceMarginPpm <= initialMarginPpm <= 1e6`
  for (const [k, v] of [['tierInitialMarginPpm', m.tierInitialMarginPpm], ['tierMaintenanceMarginPpm', m.tierMaintenanceMarginPpm], ['makerFeePpm', m.makerFeePpm], ['takerFeePpm', m.takerFeePpm], ['liquidationFeePpm', m.liquidationFeePpm], ['liquidationBandPpm', m.liquidationBandPpm]] as const)
    if ((v ?? 0) < 0 || (v ?? 0) > 1_000_000) return `market ${m.id}: ${k} must be 0..1e6`
  if ((m.maxFundingPpbPerHour ?? 0) < 0 || (m.maxFundingPpbPerHour ?? 0) > 1_000_000_000) return `market ${m.id}: maxFundingPpbPerHour must be 0..1e9`
  if (others.some((o) => o.id === m.id && o !== m)) return `market ${m.id}: duplicate market id`
  return undefined
}

export interface DelayedMessage {
  kind: number
  sender: Address
  timestamp: bigint
  payload: Uint8Array
}

export function encodeDelayedMessage(m: DelayedMessage): Uint8Array {
  return new Writer(29 + m.payload.length).u8(m.kind).address(m.sender).u64(m.timestamp).bytes(m.payload).finish()
}

export const encodeDepositPayload = (to: Address, asset: number, amount: bigint) =>
  new Writer(32).address(to).u32(asset).u64(amount).finish()

export interface FillRecord { makerOrderId: bigint; maker: Address; price: bigint; size: bigint }
export interface ItemResult { code: number; orderId: bigint; filledSize: bigint; fills: FillRecord[] }

/** Decodes the result record the engine leaves at RESULT_PTR (docs/protocol.md §8). */
export function decodeResult(buf: Uint8Array): ItemResult {
  const r = new Reader(buf)
  const code = r.u32()
  const orderId = r.u64()
  const filledSize = r.u64()
  const n = Math.min(r.u32(), MAX_FILLS_PER_ORDER)
  const fills: FillRecord[] = []
  for (let i = 0; i < n; i++) fills.push({ makerOrderId: r.u64(), maker: r.address(), price: r.u64(), size: r.u64() })
  return { code, orderId, filledSize, fills }
}

/** Largest possible result record. */
export const RESULT_MAX_LEN = 24 + 44 * MAX_FILLS_PER_ORDER

/** The outbox leaf of a withdrawal (docs/protocol.md §7): the 52 bytes that are hashed. */
export const outboxLeafPreimage = (l2Sender: Address, to: Address, asset: number, amount: bigint) =>
  new Writer(52).address(l2Sender).address(to).u32(asset).u64(amount).finish()
