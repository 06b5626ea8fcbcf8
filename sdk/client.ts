/**
 * A small viem-based client for the Veridex sequencer: signs EIP-712 transactions with any viem
 * account (or wallet) and sends them over JSON-RPC. docs/api.md documents the methods it wraps.
 */
import { type Address, type Hex, type LocalAccount, bytesToHex } from 'viem'
import {
  ALL_MARKETS, AdminAction, encodeMarketConfig,
  type TxKind, type TxMessage, type OrderMsg, type CancelMsg, type CancelAllMsg, type ReplaceMsg, type AdminActionMsg,
  type MarketConfig, type TransferMsg, type WithdrawMsg, type OraclePriceMsg,
} from './protocol.js'
import { signTx } from './sign.js'

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

/** Amounts are decimal strings on the wire (docs/api.md). */
type S = string

export interface AcceptedResult { status: 'accepted'; signer: Address; batch: number }

export interface PositionJson {
  market: number; size: S; openBuys: S; openSells: S; entryNotional: S; pendingFunding: S; value: S; unrealizedPnl: S
}

export interface AccountJson {
  address: Address
  exists: boolean
  nonce: S
  balances: Record<string, S>
  positions: PositionJson[]
  equity: S
  initialMarginRequired: S
  maintenanceMarginRequired: S
  /** equity − initial margin: what new orders and withdrawals may use. */
  availableMargin: S
  liquidatable: boolean
}

export interface OrderJson {
  orderId: S; owner: Address; market: number; isBuy: boolean; orderType: number; timeInForce: number
  postOnly: boolean; reduceOnly: boolean; price: S; remaining: S; triggerPrice: S; expiry: S
}

/** A market's configuration (bigints as strings) and its live state, as vdx_getMarket returns it. */
export interface MarketJson {
  id: number; symbol: string; kind: number; kindName: string; underlying: number; strike: S; expiry: S
  tickSize: S; stepSize: S; minSize: S; maxSize: S; maxPrice: S; sizeDecimals: number
  initialMarginPpm: number; maintenanceMarginPpm: number; tierNotional: S; tierInitialMarginPpm: number; tierMaintenanceMarginPpm: number
  maxOpenInterest: S; makerFeePpm: number; takerFeePpm: number; liquidationFeePpm: number; liquidationBandPpm: number
  impactNotional: S; maxFundingPpbPerHour: number; optionMinPpm: number
  markPrice: S; index: S; indexTimestamp: S; indexFresh: boolean; openInterest: S; shortOpenInterest: S
  fundingIndex: S; lastFundingRatePpb: S; nextFundingTime: S; premiumSamples: number; premiumSumPpb: S
  settled: boolean; settlementPrice: S; pool: S; holders: number; triggerOrders: number
}

export interface FundingJson {
  market: number; fundingIndex: S; lastFundingRatePpb: S; nextFundingTime: S; premiumSamples: number; premiumSumPpb: S
  events: { time: S; ratePpb: S }[]
}

export interface LedgerJson {
  insuranceFund: S; deposited: S; withdrawn: S; fees: S; insurancePaid: S; liquidations: S; deleverages: S
  pools: S; balances: S; accounts: number
  /** Σ balances + insurance fund + pools = deposited − withdrawn. */
  conserved: boolean
}

export interface BookJson { market: number; bids: { price: S; size: S; orders: number }[]; asks: { price: S; size: S; orders: number }[] }

type WithNonce<T extends { nonce: bigint }> = Omit<T, 'nonce'> & { nonce?: bigint }

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
    return signTx(account, await this.l2ChainId(), { kind, message } as TxMessage)
  }

  async nonce(address: Address): Promise<bigint> {
    return BigInt(await this.request<string>('vdx_getNonce', [address]))
  }

  private async send<T>(method: string, account: LocalAccount, kind: TxKind, message: object): Promise<T> {
    const signature = await this.sign(account, kind, message)
    return this.request<T>(method, { message: toWire(message), signature })
  }

  /**
   * Places an order (a GTC limit order unless orderType / timeInForce / postOnly / reduceOnly /
   * triggerPrice / expiry say otherwise); the nonce is fetched when omitted.
   */
  async placeOrder(account: LocalAccount, order: Omit<OrderMsg, 'nonce'> & { nonce?: bigint }): Promise<OrderResult> {
    const nonce = order.nonce ?? (await this.nonce(account.address))
    return this.send('vdx_placeOrder', account, 'Order', { ...order, nonce } satisfies OrderMsg)
  }

  async cancelOrder(account: LocalAccount, orderId: bigint, nonce?: bigint) {
    const m: CancelMsg = { orderId, nonce: nonce ?? (await this.nonce(account.address)) }
    return this.send<{ status: string; batch: number }>('vdx_cancelOrder', account, 'Cancel', m)
  }

  /** Cancels every open order of the account, in one market or (default) all of them. */
  async cancelAll(account: LocalAccount, market: number = ALL_MARKETS, nonce?: bigint) {
    const m: CancelAllMsg = { market, nonce: nonce ?? (await this.nonce(account.address)) }
    return this.send<AcceptedResult & { cancelled: number }>('vdx_cancelAll', account, 'CancelAll', m)
  }

  /** Replaces a resting limit order by one at a new price and size (a new order id, same options). */
  async replaceOrder(account: LocalAccount, r: WithNonce<ReplaceMsg>): Promise<OrderResult & { replacedOrderId: string }> {
    const m: ReplaceMsg = { ...r, nonce: r.nonce ?? (await this.nonce(account.address)) }
    return this.send('vdx_replaceOrder', account, 'Replace', m)
  }

  /**
   * Adds (AdminAction.ADD_MARKET) or updates (UPDATE_MARKET) a market; signed by the genesis
   * admin key. `symbol` labels an added market in the queries (it is not part of the signed data).
   */
  async adminAction(admin: LocalAccount, a: { action: number; market: MarketConfig | Hex; symbol?: string; nonce?: bigint }) {
    const config = typeof a.market === 'string' ? a.market : bytesToHex(encodeMarketConfig(a.market))
    const m: AdminActionMsg = { action: a.action, config, nonce: a.nonce ?? (await this.nonce(admin.address)) }
    const signature = await this.sign(admin, 'AdminAction', m)
    const symbol = a.symbol ?? (typeof a.market === 'string' || a.action !== AdminAction.ADD_MARKET ? undefined : a.market.symbol || undefined)
    return this.request<AcceptedResult & { action: number; market: MarketJson }>('vdx_sendAdminAction', { message: toWire(m), signature, ...(symbol ? { symbol } : {}) })
  }

  addMarket(admin: LocalAccount, market: MarketConfig, nonce?: bigint) {
    return this.adminAction(admin, { action: AdminAction.ADD_MARKET, market, nonce })
  }

  updateMarket(admin: LocalAccount, market: MarketConfig, nonce?: bigint) {
    return this.adminAction(admin, { action: AdminAction.UPDATE_MARKET, market, nonce })
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

  /** Balances, equity, initial and maintenance margin, and positions with PnL and pending funding. */
  account(address: Address) {
    return this.request<AccountJson>('vdx_getAccount', [address])
  }

  /** The account's open orders (resting and untriggered stops), newest first; optionally in one market. */
  openOrders(address: Address, market?: number) {
    return this.request<OrderJson[]>('vdx_getOpenOrders', market === undefined ? [address] : [address, market])
  }

  /** An open order, or null once it is filled, cancelled or expired. */
  order(orderId: bigint) {
    return this.request<OrderJson | null>('vdx_getOrder', [orderId.toString()])
  }

  orderBook(market: number, depth = 20) {
    return this.request<BookJson>('vdx_getOrderBook', [market, depth])
  }

  markets() {
    return this.request<MarketJson[]>('vdx_getMarkets')
  }

  market(market: number) {
    return this.request<MarketJson>('vdx_getMarket', [market])
  }

  fundingHistory(market: number) {
    return this.request<FundingJson>('vdx_getFundingHistory', [market])
  }

  /** Exchange-wide totals: insurance fund, fees, deposits, withdrawals, liquidations. */
  ledger() {
    return this.request<LedgerJson>('vdx_getLedger')
  }

  /** Accounts under maintenance margin right now (the keeper liquidates them). */
  liquidatable() {
    return this.request<Address[]>('vdx_getLiquidatable')
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
