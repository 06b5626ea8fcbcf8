/**
 * The native engine's TypeScript face: what the sequencer, the executor and the tests call.
 * Implemented by `NativeEngine` in ./host.ts over Node's WebAssembly (docs/protocol.md §8).
 */
import type { Address, Hex } from 'viem'
import type { BatchHeader, ItemResult } from '../../sdk/protocol.js'

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

export interface PositionView { market: number; size: bigint }

export interface AccountView {
  address: Address
  nonce: bigint
  /** Balances by asset id, in quantums (collateral may go negative only through PnL). */
  balances: Record<number, bigint>
  positions: PositionView[]
  /** collateral + Σ size × mark / 10^sizeDecimals. */
  equity: bigint
  /** Initial margin of positions plus open orders at the mark price. */
  initialMarginRequired: bigint
}

export interface OrderView {
  orderId: bigint
  owner: Address
  market: number
  isBuy: boolean
  price: bigint
  /** Size still resting. */
  remaining: bigint
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
