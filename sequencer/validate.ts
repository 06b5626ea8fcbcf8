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
  ALL_MARKETS, ASSETS, AdminAction, MARKET_CONFIG_LEN, MarketKind, OrderType, ResultCode, TimeInForce, decodeMarketConfig,
  eip712Types, genesisKeys, marketConfigError, signatureToWire, resultCodeName, SIGNATURE_HEX,
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
    case 'Order': {
      // The order options are optional (a GTC limit order by default); present ones are checked.
      const opt = <T>(v: unknown, f: (v: unknown) => T): T | undefined => (v === undefined ? undefined : f(v))
      return {
        kind,
        message: {
          market: Number(uint(m.market, 'message.market', 0xffffffffn)),
          isBuy: bool(m.isBuy, 'message.isBuy'),
          price: uint(m.price, 'message.price', UINT64_MAX),
          size: uint(m.size, 'message.size', UINT64_MAX),
          orderType: opt(m.orderType, (v) => Number(uint(v, 'message.orderType', 3n))),
          timeInForce: opt(m.timeInForce, (v) => Number(uint(v, 'message.timeInForce', 2n))),
          postOnly: opt(m.postOnly, (v) => bool(v, 'message.postOnly')),
          reduceOnly: opt(m.reduceOnly, (v) => bool(v, 'message.reduceOnly')),
          triggerPrice: opt(m.triggerPrice, (v) => uint(v, 'message.triggerPrice', UINT64_MAX)),
          expiry: opt(m.expiry, (v) => uint(v, 'message.expiry', UINT64_MAX)),
          nonce: uint(m.nonce, 'message.nonce', UINT64_MAX),
        },
      }
    }
    case 'Cancel':
      return { kind, message: { orderId: uint(m.orderId, 'message.orderId', UINT64_MAX), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    case 'CancelAll':
      return { kind, message: { market: Number(uint(m.market, 'message.market', 0xffffffffn)), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    case 'Replace':
      return { kind, message: { orderId: uint(m.orderId, 'message.orderId', UINT64_MAX), price: uint(m.price, 'message.price', UINT64_MAX), size: uint(m.size, 'message.size', UINT64_MAX), nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    case 'AdminAction': {
      const config = m.config
      if (typeof config !== 'string' || !isHex(config) || hexToBytes(config).length !== MARKET_CONFIG_LEN)
        throw invalid(`message.config must be the ${MARKET_CONFIG_LEN}-byte market config as hex (sdk encodeMarketConfig)`, { param: 'message.config' })
      return { kind, message: { action: Number(uint(m.action, 'message.action', 255n)), config: config as Hex, nonce: uint(m.nonce, 'message.nonce', UINT64_MAX) } }
    }
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
  if (typeof signature !== 'string' || !SIGNATURE_HEX.test(signature))
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
  [ResultCode.STALE_ORACLE_PRICE]: 'stale oracle price: an oracle timestamp must be later than that key\'s last one and within maxOracleAgeSeconds of the batch clock; orders need a fresh index',
  [ResultCode.NOT_ORACLE]: 'only the configured oracle key may publish prices',
  [ResultCode.MALFORMED]: 'malformed transaction',
  [ResultCode.UNKNOWN_ASSET]: `unknown asset: use ${ASSETS.join(' (collateral) or ')} (ETH)`,
  [ResultCode.BAD_AMOUNT]: 'amount must be positive, and a transfer must go to another account',
  [ResultCode.CAPACITY]: 'the exchange is at capacity for this operation: try again later',
  [ResultCode.DELAYED_OVERFLOW]: 'delayed messages exceed the batch header',
  [ResultCode.EXPIRED]: 'the order expiry has passed: sign it again with a later expiry (unix seconds)',
  [ResultCode.POST_ONLY_WOULD_CROSS]: 'a post-only order would take liquidity: move the price away from the opposite best price',
  [ResultCode.FOK_NOT_FILLED]: 'fill-or-kill: the book cannot fill the whole size at this price; use IOC or a better price',
  [ResultCode.REDUCE_ONLY]: 'reduce-only: the account has no position this order would reduce',
  [ResultCode.OPEN_INTEREST_CAP]: 'the market is at its open interest cap: only orders that reduce a position are taken',
  [ResultCode.MARKET_CLOSED]: 'the market is closed: the option series has expired',
  [ResultCode.NOT_LIQUIDATABLE]: 'the account is at or above maintenance margin (or has no open position)',
  [ResultCode.NOT_ADMIN]: 'only the genesis admin key may change markets',
  [ResultCode.BAD_MARKET_CONFIG]: 'invalid market config: see docs/protocol.md §4 (sdk marketConfigError names the problem)',
  [ResultCode.BAD_TRIGGER]: 'trigger price must be positive, at most maxPrice, for a perpetual, and not already reached by the index',
}

export function engineError(code: number, data?: Record<string, unknown>): RpcError {
  return new RpcError(engineErrorCode(code), `${resultCodeName(code)}: ${RESULT_HINTS[code] ?? 'rejected'}`, { reason: resultCodeName(code), ...data })
}

/** What precheck needs to know about an open order (NativeEngine.order). */
export type OrderLookup = (orderId: bigint) => { owner: Address; market: number; triggerPrice: bigint; orderType: number } | undefined

function checkPriceSize(m: MarketConfig, price: bigint, size: bigint) {
  if (price === 0n || price % m.tickSize !== 0n || price > m.maxPrice)
    throw engineError(ResultCode.BAD_PRICE, { market: m.id, price: price.toString(), tickSize: m.tickSize.toString(), maxPrice: m.maxPrice.toString() })
  if (size % m.stepSize !== 0n || size < m.minSize || size > m.maxSize)
    throw engineError(ResultCode.BAD_SIZE, { market: m.id, size: size.toString(), stepSize: m.stepSize.toString(), minSize: m.minSize.toString(), maxSize: m.maxSize.toString() })
}

/**
 * Checks what can be checked without running the engine (market, tick, step, range, asset,
 * amount, order options, signer roles, market configs) so the caller gets a precise message;
 * the engine re-checks all of it deterministically. `markets` are the engine's current markets.
 */
export function precheck(tx: TxMessage, markets: Map<number, MarketConfig>, genesis: GenesisConfig, signer: Address, order?: OrderLookup) {
  switch (tx.kind) {
    case 'Order': {
      const m = markets.get(tx.message.market)
      if (!m) throw engineError(ResultCode.UNKNOWN_MARKET, { market: tx.message.market, markets: [...markets.keys()] })
      const { orderType = OrderType.LIMIT, timeInForce = TimeInForce.GTC, postOnly, triggerPrice = 0n } = tx.message
      const isTrigger = orderType === OrderType.STOP_MARKET || orderType === OrderType.TAKE_PROFIT_MARKET
      if (!isTrigger && triggerPrice !== 0n)
        throw invalid('message.triggerPrice is only for STOP_MARKET (2) and TAKE_PROFIT_MARKET (3) orders: omit it or set it to 0', { param: 'message.triggerPrice' })
      if (postOnly && (orderType !== OrderType.LIMIT || timeInForce !== TimeInForce.GTC))
        throw invalid('message.postOnly needs a LIMIT (0) order with timeInForce GTC (0)', { param: 'message.postOnly' })
      checkPriceSize(m, tx.message.price, tx.message.size)
      return
    }
    case 'Replace': {
      const o = order?.(tx.message.orderId)
      if (!o) return // the engine answers UNKNOWN_ORDER
      if (o.owner !== signer) throw engineError(ResultCode.NOT_ORDER_OWNER, { orderId: tx.message.orderId.toString(), owner: o.owner })
      if (o.orderType !== OrderType.LIMIT) throw engineError(ResultCode.UNKNOWN_ORDER, { orderId: tx.message.orderId.toString(), hint: 'stop and take-profit orders cannot be replaced: cancel them and place a new one' })
      const m = markets.get(o.market)
      if (m) checkPriceSize(m, tx.message.price, tx.message.size)
      return
    }
    case 'CancelAll':
      if (tx.message.market !== ALL_MARKETS && !markets.has(tx.message.market))
        throw engineError(ResultCode.UNKNOWN_MARKET, { market: tx.message.market, markets: [...markets.keys()], all: ALL_MARKETS })
      return
    case 'Transfer':
    case 'Withdraw':
      if (!(ASSETS as readonly number[]).includes(tx.message.asset)) throw engineError(ResultCode.UNKNOWN_ASSET, { asset: tx.message.asset })
      if (tx.message.amount === 0n || (tx.kind === 'Transfer' && tx.message.to === signer)) throw engineError(ResultCode.BAD_AMOUNT)
      return
    case 'OraclePrice': {
      const m = markets.get(tx.message.market)
      if (!m || (m.kind ?? MarketKind.PERPETUAL) !== MarketKind.PERPETUAL)
        throw engineError(ResultCode.UNKNOWN_MARKET, { market: tx.message.market, hint: 'oracle prices are for perpetual markets; options use their underlying\'s index' })
      if (!genesisKeys(genesis).oracles.some((o) => getAddress(o) === signer)) throw engineError(ResultCode.NOT_ORACLE, { signer })
      if (tx.message.price === 0n || tx.message.price > m.maxPrice) throw engineError(ResultCode.BAD_PRICE, { maxPrice: m.maxPrice.toString() })
      return
    }
    case 'AdminAction': {
      if (getAddress(genesisKeys(genesis).admin) !== signer) throw engineError(ResultCode.NOT_ADMIN, { signer, admin: genesisKeys(genesis).admin })
      const { action } = tx.message
      if (action !== AdminAction.ADD_MARKET && action !== AdminAction.UPDATE_MARKET)
        throw invalid(`message.action must be ${AdminAction.ADD_MARKET} (add a market) or ${AdminAction.UPDATE_MARKET} (update one)`, { param: 'message.action' })
      const config = decodeMarketConfig(hexToBytes(tx.message.config))
      const existing = markets.get(config.id)
      if (action === AdminAction.ADD_MARKET && existing) throw engineError(ResultCode.BAD_MARKET_CONFIG, { reason: `market ${config.id} exists: use action ${AdminAction.UPDATE_MARKET} to change it` })
      if (action === AdminAction.UPDATE_MARKET && !existing) throw engineError(ResultCode.BAD_MARKET_CONFIG, { reason: `no market ${config.id} to update: use action ${AdminAction.ADD_MARKET} to add it` })
      const others = [...markets.values()].filter((o) => o.id !== config.id)
      const problem = marketConfigError(config, others)
      if (problem) throw engineError(ResultCode.BAD_MARKET_CONFIG, { reason: problem })
      if (existing) {
        const same = <K extends keyof MarketConfig>(...keys: K[]) => keys.every((k) => (existing[k] ?? 0) === (config[k] ?? 0) || (k === 'underlying' && (existing.underlying ?? existing.id) === (config.underlying ?? config.id)))
        if (!same('kind', 'underlying', 'strike', 'expiry', 'tickSize', 'stepSize', 'sizeDecimals'))
          throw engineError(ResultCode.BAD_MARKET_CONFIG, { reason: `market ${config.id}: kind, underlying, strike, expiry, tickSize, stepSize and sizeDecimals cannot change` })
      }
      return
    }
    case 'Cancel':
      return
  }
}
