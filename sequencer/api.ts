/**
 * The sequencer's public JSON-RPC methods (docs/api.md). Handlers parse and check params, then
 * call the Sequencer; they hold no state of their own.
 */
import { type Address, getAddress, isAddress, bytesToHex } from 'viem'
import type { RpcHandler } from './rpc/server.js'
import { RpcError } from './rpc/errors.js'
import { INVALID_PARAMS, engineError, parseSignedParams } from './validate.js'
import type { Sequencer } from './sequencer.js'
import { ResultCode, type TxKind } from '../sdk/protocol.js'

/** Subscription topics served over WebSocket. */
export const TOPICS = ['fills', 'batches'] as const

/** JSON-safe copy: bigint → decimal string, Uint8Array → hex. */
export function jsonify(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return bytesToHex(v)
  if (Array.isArray(v)) return v.map(jsonify)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, jsonify(x)]))
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

export interface ApiExtensions {
  /** Extra methods (e.g. the verifier's withdrawal proofs when run in the same process). */
  [method: string]: RpcHandler
}

export function sequencerApi(seq: Sequencer, info: () => Record<string, unknown>, extra: ApiExtensions = {}): Record<string, RpcHandler> {
  const send = (kind: TxKind) => async (params: unknown) => {
    const { tx, signature } = parseSignedParams(kind, params)
    const { signer, batch, result, resting } = await seq.submit(tx, signature)
    const base = { status: 'accepted', signer, batch }
    switch (kind) {
      case 'Order':
        return jsonify({ ...base, orderId: result.orderId, filledSize: result.filledSize, remaining: resting, fills: result.fills })
      case 'Withdraw':
        return jsonify({ ...base, withdrawalIndex: result.orderId })
      default:
        return jsonify(base)
    }
  }

  return {
    vdx_chainId: () => seq.genesis.chainId,
    vdx_getMarkets: () =>
      jsonify(seq.genesis.markets.map((m) => ({ ...m, markPrice: seq.engine.markPrice(m.id) }))),
    vdx_placeOrder: send('Order'),
    vdx_cancelOrder: send('Cancel'),
    vdx_transfer: send('Transfer'),
    vdx_withdraw: send('Withdraw'),
    vdx_submitOraclePrice: send('OraclePrice'),
    vdx_getNonce: (params) => seq.engine.nonce(addressParam(params)).toString(),
    vdx_getAccount: (params) => jsonify(seq.engine.account(addressParam(params))),
    vdx_getOrder: (params) => {
      const v = param(params, 0, 'orderId')
      if (typeof v !== 'string' && typeof v !== 'number') throw new RpcError(INVALID_PARAMS, 'orderId must be a decimal string', { param: 'orderId' })
      let id: bigint
      try {
        id = BigInt(v)
      } catch {
        throw new RpcError(INVALID_PARAMS, 'orderId must be a decimal string', { param: 'orderId' })
      }
      return jsonify(seq.engine.order(id) ?? null)
    },
    vdx_getOrderBook: (params) => {
      const market = intParam(params, 0, 'market', undefined, 0xffffffff)
      if (!seq.markets.has(market)) throw engineError(ResultCode.UNKNOWN_MARKET, { market })
      return jsonify(seq.engine.book(market, intParam(params, 1, 'depth', 20, 500)))
    },
    vdx_getBatch: (params) => {
      const b = seq.batch(intParam(params, 0, 'index'))
      if (!b) return null
      const { data, ...rest } = b
      return jsonify({ ...rest, bytes: data?.length, items: seq.journal.itemCount(b.index) })
    },
    vdx_getWithdrawals: (params) => jsonify(seq.journal.withdrawalsOf(addressParam(params))),
    vdx_getStatus: () => {
      const last = seq.journal.lastBatch()
      const posted = seq.journal.batches('posted').at(-1)
      return jsonify({
        l2ChainId: seq.genesis.chainId,
        openBatch: seq.openBatch ?? null,
        latestBatch: last ? { index: last.index, status: last.status, stateRoot: last.stateRoot } : null,
        latestPostedBatch: posted ? { index: posted.index, l1Tx: posted.l1Tx, l1Block: posted.l1Block } : null,
        delayedMessagesSeen: seq.delayedCount,
        ...info(),
      })
    },
    ...extra,
  }
}
