/**
 * The native engine's TypeScript face: what the sequencer, the executor and the tests call.
 * Implemented by `NativeEngine` in ./host.ts over Node's WebAssembly (docs/protocol.md §8).
 */
import type { Address, Hex } from 'viem'
import type { BatchHeader, ItemResult, MarketConfig } from '../../sdk/protocol.js'

/** Supplies delayed (L1 → L2) message bytes by index, as the L1 delayed inbox holds them. */
export type DelayedSource = (index: bigint) => Uint8Array

export interface WithdrawalRecord {
  /** Leaf index in the outbox tree: the withdrawal's id. */
  index: bigint
  l2Sender: Address
  to: Address
  asset: number
  amount: bigint
}

/** An account's standing in one market: its position and its open orders there. */
export interface PositionView {
  market: number
  /** Signed size in base quantums (0 if the account only has open orders there). */
  size: bigint
  openBuys: bigint
  openSells: bigint
  /** Signed cost basis: what opening the position cost (long > 0) less what closing took out. */
  entryNotional: bigint
  /** Funding not yet settled into the balance (> 0: owed by the account). */
  pendingFunding: bigint
  /** Value at the index (options: intrinsic value; expired: the settlement value). */
  value: bigint
  unrealizedPnl: bigint
}

export interface AccountView {
  address: Address
  exists: boolean
  nonce: bigint
  /**
   * Balances by asset id, in quantums. Collateral is a quote balance: buying moves the notional
   * out of it, selling in, so it may be negative while a long position is open.
   */
  balances: Record<number, bigint>
  /** Markets where the account has a position or open orders. */
  positions: PositionView[]
  /** collateral + Σ position values − pending funding. */
  equity: bigint
  /** Initial margin of positions plus open orders at the index. */
  initialMarginRequired: bigint
  /** Maintenance margin of the positions: below it the account can be liquidated. */
  maintenanceMarginRequired: bigint
}

export interface OrderView {
  orderId: bigint
  owner: Address
  market: number
  isBuy: boolean
  orderType: number
  timeInForce: number
  postOnly: boolean
  reduceOnly: boolean
  price: bigint
  /** Size still open. */
  remaining: bigint
  /** Stop / take-profit: the index price that fires it (0 for an order on the book). */
  triggerPrice: bigint
  /** Unix seconds after which it no longer trades (0 = none). */
  expiry: bigint
}

export interface MarketView {
  config: MarketConfig
  /** Index price (an option: its underlying's), the median of fresh oracle prices. */
  index: bigint
  indexTimestamp: bigint
  /** Sum of long positions; shortOpenInterest (sum of shorts) always equals it. */
  openInterest: bigint
  shortOpenInterest: bigint
  /** Cumulative funding per whole base unit, in 10^-3 collateral quantums. */
  fundingIndex: bigint
  lastFundingRatePpb: bigint
  nextFundingTime: bigint
  premiumSamples: number
  premiumSumPpb: bigint
  /** Options: expired and settled at settlementPrice. */
  settled: boolean
  settlementPrice: bigint
  /** Funding and settlement flows not yet claimed by accounts, plus rounding dust. */
  pool: bigint
  holders: number
  triggerOrders: number
}

export interface FundingEvent { time: bigint; ratePpb: bigint }

export interface LedgerView {
  insuranceFund: bigint
  deposited: bigint
  withdrawn: bigint
  fees: bigint
  insurancePaid: bigint
  liquidations: bigint
  deleverages: bigint
  pools: bigint
  /** Σ collateral balances of every account (the fee account included). */
  balances: bigint
  accounts: number
}

export interface BookLevel { price: bigint; size: bigint; orders: number }
export interface BookView { market: number; bids: BookLevel[]; asks: BookLevel[] }

export interface Engine {
  /** Runs `init` on the genesis message. Call once, on a fresh instance. */
  init(genesis: Uint8Array): void

  /**
   * Opens a batch whose message is `header ‖ 0x00` and grows as items are executed. An open batch
   * that holds no item yet may be opened again with a header no earlier in time: the state is
   * then as if only the last header had been used.
   */
  beginBatch(header: BatchHeader): void
  /**
   * Appends one encoded item to the open batch and executes it. If the engine rejects it
   * (code ≠ OK) the item is removed again, so the batch data holds only accepted items.
   * DELAYED items are kept whatever their outcome, since they never change state on failure.
   */
  execItem(item: Uint8Array): ItemResult
  /** Closes the open batch (`end_batch`); returns the batch data (format byte + accepted items). */
  endBatch(): { data: Uint8Array; withdrawals: WithdrawalRecord[] }

  /** Executes a whole batch message (`header ‖ data`) through `run_batch`, as the VM will. */
  runBatch(message: Uint8Array): { withdrawals: WithdrawalRecord[] }

  /** Engine memory; the state root code Merkle-izes it. */
  readonly memory: WebAssembly.Memory
  /** Every mutable global, in index order. */
  globals(): { type: 'i32' | 'i64'; value: bigint }[]
  /** The 32 bytes at OUTBOX_ROOT_PTR. */
  outboxRoot(): Hex
  /** The VM's commitment to the module (executor/vm/module.ts; docs/protocol.md §9). */
  readonly moduleRoot: Hex

  // Read-only queries. They never change the state root.
  nonce(account: Address): bigint
  account(account: Address): AccountView
  order(orderId: bigint): OrderView | undefined
  book(market: number, depth: number): BookView
  markPrice(market: number): bigint
  /** Number of withdrawals ever appended to the outbox. */
  outboxCount(): bigint
  batchCount(): bigint
  delayedRead(): bigint
}
