/**
 * A small viem-based client for the Veridex sequencer: signs EIP-712 transactions with any viem
 * account (or wallet) and sends them over JSON-RPC. docs/api.md documents the methods it wraps.
 */
import type { Address, Hex, LocalAccount } from 'viem'
import { eip712Domain, eip712Types, type TxKind, type OrderMsg, type CancelMsg, type TransferMsg, type WithdrawMsg, type OraclePriceMsg } from './protocol.js'

/** A JSON-RPC error returned by the sequencer, with its stable code and data. */
export class VeridexRpcError extends Error {
  override name = 'VeridexRpcError'
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message)
  }
}

type Wire<T> = { [K in keyof T]: T[K] extends bigint ? string : T[K] }

const toWire = <T extends object>(m: T): Wire<T> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])) as Wire<T>

export interface OrderResult {
  status: 'accepted'
  signer: Address
  batch: number
  orderId: string
  filledSize: string
  remaining: string
  fills: { makerOrderId: string; maker: Address; price: string; size: string }[]
}

export class VeridexClient {
  private id = 0
  private chainId?: number

  constructor(readonly url: string) {}

  /** Sends one JSON-RPC request; throws VeridexRpcError on an error reply. */
  async request<T = unknown>(method: string, params: unknown = []): Promise<T> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
    })
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string; data?: unknown } }
    if (body.error) throw new VeridexRpcError(body.error.code, body.error.message, body.error.data)
    return body.result as T
  }

  async l2ChainId(): Promise<number> {
    this.chainId ??= await this.request<number>('vdx_chainId')
    return this.chainId
  }

  /** Signs `message` as EIP-712 typed data of `kind` with the Veridex domain. */
  async sign<K extends TxKind>(account: LocalAccount, kind: K, message: object): Promise<Hex> {
    return account.signTypedData({ domain: eip712Domain(await this.l2ChainId()), types: eip712Types, primaryType: kind, message } as Parameters<LocalAccount['signTypedData']>[0])
  }

  async nonce(address: Address): Promise<bigint> {
    return BigInt(await this.request<string>('vdx_getNonce', [address]))
  }

  private async send<T>(method: string, account: LocalAccount, kind: TxKind, message: object): Promise<T> {
    const signature = await this.sign(account, kind, message)
    return this.request<T>(method, { message: toWire(message), signature })
  }

  /** Places a limit order; the nonce is fetched when omitted. */
  async placeOrder(account: LocalAccount, order: Omit<OrderMsg, 'nonce'> & { nonce?: bigint }): Promise<OrderResult> {
    const nonce = order.nonce ?? (await this.nonce(account.address))
    return this.send('vdx_placeOrder', account, 'Order', { ...order, nonce } satisfies OrderMsg)
  }

  async cancelOrder(account: LocalAccount, orderId: bigint, nonce?: bigint) {
    const m: CancelMsg = { orderId, nonce: nonce ?? (await this.nonce(account.address)) }
    return this.send<{ status: string; batch: number }>('vdx_cancelOrder', account, 'Cancel', m)
  }

  async transfer(account: LocalAccount, t: Omit<TransferMsg, 'nonce'> & { nonce?: bigint }) {
    const m: TransferMsg = { ...t, nonce: t.nonce ?? (await this.nonce(account.address)) }
    return this.send<{ status: string; batch: number }>('vdx_transfer', account, 'Transfer', m)
  }

  /** Requests a withdrawal to `to` on L1; returns its outbox index. */
  async withdraw(account: LocalAccount, w: Omit<WithdrawMsg, 'nonce'> & { nonce?: bigint }) {
    const m: WithdrawMsg = { ...w, nonce: w.nonce ?? (await this.nonce(account.address)) }
    return this.send<{ status: string; batch: number; withdrawalIndex: string }>('vdx_withdraw', account, 'Withdraw', m)
  }

  async submitOraclePrice(oracle: LocalAccount, p: OraclePriceMsg) {
    return this.send<{ status: string; batch: number }>('vdx_submitOraclePrice', oracle, 'OraclePrice', p)
  }

  account(address: Address) {
    return this.request<{
      address: Address
      nonce: string
      balances: Record<string, string>
      positions: { market: number; size: string }[]
      equity: string
      initialMarginRequired: string
    }>('vdx_getAccount', [address])
  }

  orderBook(market: number, depth = 20) {
    return this.request<{ market: number; bids: { price: string; size: string; orders: number }[]; asks: { price: string; size: string; orders: number }[] }>(
      'vdx_getOrderBook',
      [market, depth],
    )
  }

  status() {
    return this.request<Record<string, unknown>>('vdx_getStatus')
  }

  withdrawalProof(index: bigint, assertionId?: bigint) {
    return this.request<{ assertionId: string; index: string; l2Sender: Address; to: Address; asset: number; amount: string; outboxRoot: Hex; proof: Hex[] }>(
      'vdx_getWithdrawalProof',
      [{ index: index.toString(), ...(assertionId === undefined ? {} : { assertionId: assertionId.toString() }) }],
    )
  }
}
