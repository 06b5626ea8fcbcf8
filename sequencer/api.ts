/**
 * The sequencer's public JSON-RPC methods (docs/api.md). Handlers parse and check params, then
 * call the Sequencer; they hold no state of their own.
 */
import { type Address, type Hex, getAddress, isAddress, bytesToHex } from 'viem'
import type { RpcContext, RpcHandler } from './rpc/server.js'
import { RpcError } from './rpc/errors.js'
import type { RateLimits } from './rpc/rateLimit.js'
import { INVALID_PARAMS, engineError, parseSignedParams } from './validate.js'
import type { Sequencer } from './sequencer.js'
import { AdminAction, MarketKind, ResultCode, decodeMarketConfig, genesisKeys, type TxKind, type TxMessage } from '../sdk/protocol.js'
import { hexToBytes } from 'viem'

/** Subscription topics served over WebSocket. */
export const TOPICS = ['fills', 'batches'] as const

/** JSON-safe copy: bigint → decimal string, Uint8Array → hex. */
export function jsonify(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return bytesToHex(v)
  if (Array.isArray(v)) return v.map(jsonify)
  if (v && typeof v === 'object') {
    // A plain loop over own keys: every reply goes through here, and entries/filter/map/
    // fromEntries allocated four arrays per object (2.8% of the request thread in a profile).
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = jsonify(x)
    }
    return out
  }
  return v
}

/** The first positional param, or the named one from an object. */
function param(params: unknown, index: number, name: string): unknown {
  if (Array.isArray(params)) return params[index]
  if (params && typeof params === 'object') return (params as Record<string, unknown>)[name]
  return undefined
}

function addressParam(params: unknown): Address {
  const v = param(params, 0, 'address')
  if (typeof v !== 'string' || !isAddress(v, { strict: false }))
    throw new RpcError(INVALID_PARAMS, 'address must be a 20-byte hex address', { param: 'address', example: '["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]' })
  return getAddress(v)
}

function intParam(params: unknown, index: number, name: string, fallback?: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = param(params, index, name)
  if (v === undefined && fallback !== undefined) return fallback
  const n = typeof v === 'string' && /^[0-9]{1,16}$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max)
    throw new RpcError(INVALID_PARAMS, `${name} must be an integer between 0 and ${max}`, { param: name })
  return n
}

function orderIdParam(params: unknown): bigint {
  const v = param(params, 0, 'orderId')
  if ((typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    const id = BigInt(v)
    if (id < 1n << 64n) return id
  }
  throw new RpcError(INVALID_PARAMS, 'orderId must be a decimal string (an id returned by vdx_placeOrder)', { param: 'orderId', example: '["12"]' })
}

const KIND_NAMES: Record<number, string> = { [MarketKind.PERPETUAL]: 'perpetual', [MarketKind.CALL]: 'call', [MarketKind.PUT]: 'put' }

/** An ADMIN-added market's label: letters, digits, '-', '_', '.', at most 32. */
const SYMBOL = /^[A-Za-z0-9._-]{1,32}$/

export interface ApiExtensions {
  /** Extra methods (e.g. the verifier's withdrawal proofs when run in the same process). */
  [method: string]: RpcHandler
}

export interface ApiOptions {
  /** Per-signer and invalid-signature limits (the per-IP request budget is the RpcServer's). */
  rateLimits?: RateLimits
}

export function sequencerApi(seq: Sequencer, info: () => Record<string, unknown>, extra: ApiExtensions = {}, opts: ApiOptions = {}): Record<string, RpcHandler> {
  const limits = opts.rateLimits
  /**
   * Signature recovery and the engine run only for clients with budget left (rpc/rateLimit.ts).
   * An IP that has spent its invalid-signature budget is refused before recovery. Requests already
   * in flight are recovered on the pool's threads, and their charges land in arrival order when
   * each is admitted, so the budget is checked again there: an invalid signature over budget is
   * answered as rate limited, and the entries of one batch still see each other's charges.
   */
  const submit = (tx: TxMessage, signature: Hex, ctx: RpcContext) => {
    if (!limits) return seq.submit(tx, signature)
    const ip = ctx.remoteAddress
    limits.checkInvalidSignatures(ip)
    return seq.submit(tx, signature, (signer) => {
      // A signer the exchange holds no account for (it never deposited nor was paid) can only be
      // refused by the engine, like a signature that recovers no one: both spend the same budgets,
      // so a botnet of fresh keys with valid signatures is bounded like one of bad signatures.
      // The oracle's prices need no account.
      if (signer && (tx.kind === 'OraclePrice' || seq.engine.hasAccount(signer))) return limits.chargeSigner(signer, ip)
      limits.checkInvalidSignatures(ip)
      limits.noteInvalidSignature(ip)
      if (signer) limits.chargeSigner(signer, ip)
    })
  }
  const send = (kind: TxKind) => async (params: unknown, ctx: RpcContext) => {
    const { tx, signature } = parseSignedParams(kind, params)
    const { signer, batch, result, resting } = await submit(tx, signature, ctx)
    const base = { status: 'accepted', signer, batch }
    switch (kind) {
      case 'Order':
        return jsonify({ ...base, orderId: result.orderId, filledSize: result.filledSize, remaining: resting, fills: result.fills })
      case 'Replace':
        return jsonify({ ...base, replacedOrderId: tx.kind === 'Replace' ? tx.message.orderId : undefined, orderId: result.orderId, filledSize: result.filledSize, remaining: resting, fills: result.fills })
      case 'CancelAll':
        return jsonify({ ...base, cancelled: Number(result.filledSize) })
      case 'Withdraw':
        return jsonify({ ...base, withdrawalIndex: result.orderId })
      default:
        return jsonify(base)
    }
  }

  const maxOracleAge = BigInt(genesisKeys(seq.genesis).maxOracleAgeSeconds)
  const marketParam = (params: unknown, index = 0) => {
    const market = intParam(params, index, 'market', undefined, 0xffffffff)
    if (!seq.markets.has(market)) throw engineError(ResultCode.UNKNOWN_MARKET, { market, markets: [...seq.markets.keys()] })
    return market
  }
  /** A market's config (with its symbol) and live state, flat. */
  const marketView = (id: number) => {
    const v = seq.engine.market(id)
    const config = seq.markets.get(id)
    if (!v || !config) throw engineError(ResultCode.UNKNOWN_MARKET, { market: id, markets: [...seq.markets.keys()] })
    const { config: _, ...state } = v
    const now = BigInt(Math.floor(Date.now() / 1000))
    const clock = seq.engine.clock() > now ? seq.engine.clock() : now
    return {
      ...config,
      kindName: KIND_NAMES[config.kind ?? 0],
      markPrice: v.index,
      ...state,
      // Whether an order sent now would find a fresh index (the next batch's clock is at least now).
      indexFresh: v.index > 0n && v.indexTimestamp + maxOracleAge >= clock,
    }
  }

  return {
    vdx_chainId: () => seq.genesis.chainId,
    vdx_getMarkets: () => jsonify([...seq.markets.keys()].map(marketView)),
    vdx_getMarket: (params) => jsonify(marketView(marketParam(params))),
    vdx_placeOrder: send('Order'),
    vdx_cancelOrder: send('Cancel'),
    vdx_cancelAll: send('CancelAll'),
    vdx_replaceOrder: send('Replace'),
    vdx_transfer: send('Transfer'),
    vdx_withdraw: send('Withdraw'),
    vdx_submitOraclePrice: send('OraclePrice'),
    vdx_sendAdminAction: async (params) => {
      // `symbol` (a label for an added market) travels beside the signed message: it is not on the wire.
      const p = Array.isArray(params) && params.length === 1 ? params[0] : params
      let symbol: string | undefined
      let signed = p
      if (p && typeof p === 'object' && !Array.isArray(p) && 'symbol' in p) {
        const { symbol: s, ...rest } = p as Record<string, unknown>
        if (typeof s !== 'string' || !SYMBOL.test(s)) throw new RpcError(INVALID_PARAMS, 'symbol must be 1 to 32 letters, digits, ".", "_" or "-", e.g. "SOL-PERP"', { param: 'symbol' })
        symbol = s
        signed = rest
      }
      const { tx, signature } = parseSignedParams('AdminAction', signed)
      if (tx.kind !== 'AdminAction') throw new Error('unreachable')
      const market = decodeMarketConfig(hexToBytes(tx.message.config)).id
      const { signer, batch } = await seq.submit(tx, signature)
      if (symbol && tx.message.action === AdminAction.ADD_MARKET) seq.setSymbol(market, symbol)
      return jsonify({ status: 'accepted', signer, batch, action: tx.message.action, market: marketView(market) })
    },
    vdx_getNonce: (params) => seq.engine.nonce(addressParam(params)).toString(),
    vdx_getAccount: (params) => {
      const a = seq.engine.account(addressParam(params))
      const open = a.positions.some((p) => p.size !== 0n)
      return jsonify({
        ...a,
        availableMargin: a.equity - a.initialMarginRequired,
        liquidatable: open && a.equity < a.maintenanceMarginRequired,
      })
    },
    vdx_getOpenOrders: (params) => {
      const address = addressParam(params)
      const market = param(params, 1, 'market') === undefined ? undefined : marketParam(params, 1)
      return jsonify(seq.engine.orders(address).filter((o) => market === undefined || o.market === market))
    },
    vdx_getOrder: (params) => jsonify(seq.engine.order(orderIdParam(params)) ?? null),
    vdx_getOrderBook: (params) => jsonify(seq.engine.book(marketParam(params), intParam(params, 1, 'depth', 20, 500))),
    vdx_getBook: (params) => jsonify(seq.engine.book(marketParam(params), intParam(params, 1, 'depth', 20, 500))),
    vdx_getFundingHistory: (params) => {
      const market = marketParam(params)
      const v = seq.engine.market(market)!
      return jsonify({
        market,
        fundingIndex: v.fundingIndex,
        lastFundingRatePpb: v.lastFundingRatePpb,
        nextFundingTime: v.nextFundingTime,
        premiumSamples: v.premiumSamples,
        premiumSumPpb: v.premiumSumPpb,
        events: seq.engine.fundingHistory(market),
      })
    },
    vdx_getLedger: () => {
      const l = seq.engine.ledger()
      return jsonify({ ...l, conserved: l.balances + l.insuranceFund + l.pools === l.deposited - l.withdrawn })
    },
    vdx_getLiquidatable: () => jsonify(seq.engine.liquidatable()),
    vdx_getBatch: (params) => {
      const b = seq.batch(intParam(params, 0, 'index'))
      if (!b) return null
      const { data, ...rest } = b
      return jsonify({ ...rest, bytes: data?.length, items: seq.journal.itemCount(b.index) })
    },
    vdx_getWithdrawals: (params) => jsonify(seq.journal.withdrawalsOf(addressParam(params))),
    vdx_getStatus: () => {
      const last = seq.journal.lastBatch()
      const posted = seq.journal.lastPosted()
      return jsonify({
        l2ChainId: seq.genesis.chainId,
        openBatch: seq.openBatch ?? null,
        latestBatch: last ? { index: last.index, status: last.status, stateRoot: last.stateRoot } : null,
        latestPostedBatch: posted ? { index: posted.index, l1Tx: posted.l1Tx, l1Block: posted.l1Block } : null,
        // Inside the sequencer, over the last one to two minutes (sequencer/ackLatency.ts).
        ackLatency: seq.ackLatency.recent(),
        delayedMessagesSeen: seq.delayedCount,
        engineClock: seq.engine.clock(),
        ...genesisKeys(seq.genesis),
        ...info(),
      })
    },
    ...extra,
  }
}
