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

/** Encoded length of each item type, including the type byte. */
export const ITEM_LENGTH: Record<number, number> = {
  [ITEM_ORDER]: 95,
  [ITEM_CANCEL]: 82,
  [ITEM_TRANSFER]: 106,
  [ITEM_WITHDRAW]: 106,
  [ITEM_ORACLE]: 86,
  [ITEM_DELAYED]: 5,
}

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
    { name: 'nonce', type: 'uint64' },
  ],
  Cancel: [
    { name: 'orderId', type: 'uint64' },
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

export interface OrderMsg { market: number; isBuy: boolean; price: bigint; size: bigint; nonce: bigint }
export interface CancelMsg { orderId: bigint; nonce: bigint }
export interface TransferMsg { to: Address; asset: number; amount: bigint; nonce: bigint }
export interface WithdrawMsg { to: Address; asset: number; amount: bigint; nonce: bigint }
export interface OraclePriceMsg { market: number; price: bigint; timestamp: bigint }

export type TxMessage =
  | { kind: 'Order'; message: OrderMsg }
  | { kind: 'Cancel'; message: CancelMsg }
  | { kind: 'Transfer'; message: TransferMsg }
  | { kind: 'Withdraw'; message: WithdrawMsg }
  | { kind: 'OraclePrice'; message: OraclePriceMsg }

export const ITEM_TYPE_OF: Record<TxKind, number> = {
  Order: ITEM_ORDER,
  Cancel: ITEM_CANCEL,
  Transfer: ITEM_TRANSFER,
  Withdraw: ITEM_WITHDRAW,
  OraclePrice: ITEM_ORACLE,
}

export interface MarketConfig {
  id: number
  symbol: string
  tickSize: bigint
  stepSize: bigint
  minSize: bigint
  maxSize: bigint
  maxPrice: bigint
  sizeDecimals: number
  initialMarginPpm: number
  maintenanceMarginPpm: number
}

export interface GenesisConfig {
  chainId: number
  oracle: Address
  markets: MarketConfig[]
}

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
export function signatureToWire(signature: Hex): Uint8Array {
  const b = hexToBytes(signature)
  if (b.length !== 65) throw new Error(`signature must be 65 bytes, got ${b.length}`)
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
      w.u32(m.market).u8(m.isBuy ? 1 : 0).u64(m.price).u64(m.size).u64(m.nonce)
      break
    }
    case 'Cancel':
      w.u64(tx.message.orderId).u64(tx.message.nonce)
      break
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
  if (tx.kind === 'OraclePrice') throw new Error('oracle prices cannot be sent from L1')
  const w = new Writer(64)
  w.u8(ITEM_TYPE_OF[tx.kind])
  writeFields(w, tx)
  return w.finish()
}

export const encodeDelayedItem = (count: number) => new Writer(5).u8(ITEM_DELAYED).u32(count).finish()

/** Decodes one signed batch item starting at `offset`. Throws on unknown type or truncation. */
export function decodeItem(buf: Uint8Array, offset = 0): { tx: TxMessage; signature: Hex; length: number } | { delayed: number; length: number } {
  const r = new Reader(buf.subarray(offset))
  const type = r.u8()
  let tx: TxMessage
  switch (type) {
    case ITEM_ORDER:
      tx = { kind: 'Order', message: { market: r.u32(), isBuy: r.u8() === 1, price: r.u64(), size: r.u64(), nonce: r.u64() } }
      break
    case ITEM_CANCEL:
      tx = { kind: 'Cancel', message: { orderId: r.u64(), nonce: r.u64() } }
      break
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

export function encodeGenesis(g: GenesisConfig): Uint8Array {
  const w = new Writer(64 + 57 * g.markets.length)
  w.u64(BigInt(g.chainId)).address(g.oracle).u8(g.markets.length)
  for (const m of g.markets) {
    w.u32(m.id).u64(m.tickSize).u64(m.stepSize).u64(m.minSize).u64(m.maxSize).u64(m.maxPrice)
    w.u8(m.sizeDecimals).u32(m.initialMarginPpm).u32(m.maintenanceMarginPpm)
  }
  return w.finish()
}

/** Checks the market invariants of docs/protocol.md §1; returns a reason or undefined. */
export function marketConfigError(m: MarketConfig): string | undefined {
  const scale = 10n ** BigInt(m.sizeDecimals)
  if (m.tickSize <= 0n || m.stepSize <= 0n) return `market ${m.id}: tickSize and stepSize must be positive`
  if ((m.tickSize * m.stepSize) % scale !== 0n) return `market ${m.id}: tickSize*stepSize must be a multiple of 10^sizeDecimals`
  if (m.maxPrice * m.maxSize >= 1n << 63n) return `market ${m.id}: maxPrice*maxSize must be below 2^63`
  if (m.minSize < m.stepSize || m.minSize > m.maxSize) return `market ${m.id}: need stepSize <= minSize <= maxSize`
  if (m.maintenanceMarginPpm <= 0 || m.maintenanceMarginPpm > m.initialMarginPpm || m.initialMarginPpm > 1_000_000)
    return `market ${m.id}: need 0 < maintenanceMarginPpm <= initialMarginPpm <= 1e6`
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
