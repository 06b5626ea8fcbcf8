/**
 * Request validation for signed transactions: schema, signature, nonce, market and size. Every
 * failure is an RpcError with a stable code and a message that says what to fix, raised before
 * anything reaches the engine or the journal.
 */
import { type Address, type Hex, getAddress, hexToBytes, isAddress, isHex, bytesToHex } from 'viem'
import { RpcError } from './rpc/errors.js'
import { ecrecover } from '../executor/vm/ecrecover.js'
import type { TxDigester } from './digest.js'
import {
  ASSETS, ResultCode, eip712Types, signatureToWire, resultCodeName,
  type GenesisConfig, type MarketConfig, type TxKind, type TxMessage,
} from '../sdk/protocol.js'

export const INVALID_PARAMS = -32602

/** JSON-RPC error code for an engine result code. */
export const engineErrorCode = (code: number) => -32000 - code

const UINT64_MAX = (1n << 64n) - 1n

const invalid = (message: string, data?: unknown) => new RpcError(INVALID_PARAMS, message, data)

function uint(value: unknown, name: string, max: bigint): bigint {
  let v: bigint
  if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value)
  else if (typeof value === 'string' && /^(0|[1-9][0-9]{0,19}|0x[0-9a-fA-F]{1,16})$/.test(value)) v = BigInt(value)
  else if (typeof value === 'bigint') v = value
  else throw invalid(`${name} must be an unsigned integer (a decimal string, or a number below 2^53)`, { param: name, got: value ?? null })
  if (v < 0n || v > max) throw invalid(`${name} must be between 0 and ${max}`, { param: name, got: String(value) })
  return v
}

function address(value: unknown, name: string): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) throw invalid(`${name} must be a 20-byte hex address`, { param: name, got: value ?? null })
  return getAddress(value)
}

function bool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalid(`${name} must be true or false`, { param: name, got: value ?? null })
  return value
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${name} must be an object`, { param: name })
  return value as Record<string, unknown>
}

function onlyKeys(obj: Record<string, unknown>, keys: readonly string[], name: string) {
  const extra = Object.keys(obj).filter((k) => !keys.includes(k))
  if (extra.length) throw invalid(`${name} has unknown field(s) ${extra.join(', ')}; expected ${keys.join(', ')}`, { param: name })
}

/** Parses the `message` of a typed transaction per the EIP-712 types in sdk/protocol.ts. */
export function parseMessage(kind: TxKind, raw: unknown): TxMessage {
  const m = object(raw, 'message')
  onlyKeys(m, eip712Types[kind].map((f) => f.name), 'message')
  switch (kind) {
    case 'Order':
      return { kind, message: { market: Number(uint(m.market, 'message.market', 0xffffffffn)), isBuy: bool(m.isBuy, 'message.isBuy'), price: uint(m.price, 'message.price', UINT64_MAX), size: uint(m.size, 'message.size', UINT64_MAX), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    case 'Cancel':
      return { kind, message: { orderId: uint(m.orderId, 'message.orderId', UINT64_MAX), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    case 'Transfer':
    case 'Withdraw':
      return { kind, message: { to: address(m.to, 'message.to'), asset: Number(uint(m.asset, 'message.asset', 0xffffffffn)), amount: uint(m.amount, 'message.amount', UINT64_MAX), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } } as TxMessage
    case 'OraclePrice':
      return { kind, message: { market: Number(uint(m.market, 'message.market', 0xffffffffn)), price: uint(m.price, 'message.price', UINT64_MAX), timestamp: uint(m.timestamp, 'message.timestamp', UINT64_MAX) } }
  }
}

/** Parses `{ message, signature }` params of a vdx_send* method. */
export function parseSignedParams(kind: TxKind, params: unknown): { tx: TxMessage; signature: Hex } {
  const p = object(Array.isArray(params) && params.length === 1 ? params[0] : params, 'params')
  onlyKeys(p, ['message', 'signature'], 'params')
  const signature = p.signature
  if (typeof signature !== 'string' || !isHex(signature) || hexToBytes(signature).length !== 65)
    throw invalid('signature must be a 65-byte hex string (as returned by viem signTypedData)', { param: 'signature' })
  return { tx: parseMessage(kind, p.message), signature: signature as Hex }
}

/**
 * Recovers the signer with libsecp256k1 over the fast digest (the hot path); undefined for an
 * invalid signature. The engine's ecrecover host call for the same item then hits the memo.
 */
export function recoverSigner(digester: TxDigester, tx: TxMessage, signature: Hex): Address | undefined {
  const signer = ecrecover(digester.digest(tx), signatureToWire(signature))
  return signer && getAddress(bytesToHex(signer))
}

/** What each engine result code tells the caller to fix. */
export const RESULT_HINTS: Record<number, string> = {
  [ResultCode.BAD_SIGNATURE]: 'the signature does not match the message: sign the exact EIP-712 message with the Veridex domain and L2 chain id',
  [ResultCode.BAD_NONCE]: 'wrong nonce: use the account\'s current nonce (vdx_getNonce)',
  [ResultCode.UNKNOWN_MARKET]: 'unknown market: list markets with vdx_getMarkets',
  [ResultCode.BAD_PRICE]: 'price must be a positive multiple of the market tickSize, at most maxPrice',
  [ResultCode.BAD_SIZE]: 'size must be a multiple of the market stepSize, between minSize and maxSize',
  [ResultCode.INSUFFICIENT_MARGIN]: 'not enough equity for the initial margin: deposit collateral or reduce the size',
  [ResultCode.INSUFFICIENT_BALANCE]: 'balance too low for this amount: check vdx_getAccount',
  [ResultCode.UNKNOWN_ORDER]: 'no open order with this id: it was filled, cancelled or never existed',
  [ResultCode.NOT_ORDER_OWNER]: 'this order belongs to another account: sign with the key that placed it',
  [ResultCode.NO_ORACLE_PRICE]: 'the market has no oracle price yet: wait for the oracle to publish one',
  [ResultCode.STALE_ORACLE_PRICE]: 'the oracle timestamp must be later than the last one',
  [ResultCode.NOT_ORACLE]: 'only the configured oracle key may publish prices',
  [ResultCode.MALFORMED]: 'malformed transaction',
  [ResultCode.UNKNOWN_ASSET]: `unknown asset: use ${ASSETS.join(' (collateral) or ')} (ETH)`,
  [ResultCode.BAD_AMOUNT]: 'amount must be positive, and a transfer must go to another account',
  [ResultCode.CAPACITY]: 'the exchange is at capacity for this operation: try again later',
  [ResultCode.DELAYED_OVERFLOW]: 'delayed messages exceed the batch header',
}

export function engineError(code: number, data?: Record<string, unknown>): RpcError {
  return new RpcError(engineErrorCode(code), `${resultCodeName(code)}: ${RESULT_HINTS[code] ?? 'rejected'}`, { reason: resultCodeName(code), ...data })
}

/**
 * Checks what can be checked without the engine (market, tick, step, range, asset, amount) so
 * the caller gets a precise message; the engine re-checks all of it deterministically.
 */
export function precheck(tx: TxMessage, markets: Map<number, MarketConfig>, genesis: GenesisConfig, signer: Address) {
  switch (tx.kind) {
    case 'Order': {
      const m = markets.get(tx.message.market)
      if (!m) throw engineError(ResultCode.UNKNOWN_MARKET, { market: tx.message.market, markets: [...markets.keys()] })
      const { price, size } = tx.message
      if (price === 0n || price % m.tickSize !== 0n || price > m.maxPrice)
        throw engineError(ResultCode.BAD_PRICE, { price: price.toString(), tickSize: m.tickSize.toString(), maxPrice: m.maxPrice.toString() })
      if (size % m.stepSize !== 0n || size < m.minSize || size > m.maxSize)
        throw engineError(ResultCode.BAD_SIZE, { size: size.toString(), stepSize: m.stepSize.toString(), minSize: m.minSize.toString(), maxSize: m.maxSize.toString() })
      return
    }
    case 'Transfer':
    case 'Withdraw':
      if (!(ASSETS as readonly number[]).includes(tx.message.asset)) throw engineError(ResultCode.UNKNOWN_ASSET, { asset: tx.message.asset })
      if (tx.message.amount === 0n || (tx.kind === 'Transfer' && tx.message.to === signer)) throw engineError(ResultCode.BAD_AMOUNT)
      return
    case 'OraclePrice': {
      const m = markets.get(tx.message.market)
      if (!m) throw engineError(ResultCode.UNKNOWN_MARKET, { market: tx.message.market })
      if (signer !== getAddress(genesis.oracle)) throw engineError(ResultCode.NOT_ORACLE, { signer })
      if (tx.message.price === 0n || tx.message.price > m.maxPrice) throw engineError(ResultCode.BAD_PRICE, { maxPrice: m.maxPrice.toString() })
      return
    }
    case 'Cancel':
      return
  }
}
