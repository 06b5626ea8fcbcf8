/**
 * The sequencer's core: orders transactions, executes them on the native engine for a soft
 * confirmation, journals them durably, and cuts batches. Transport (JSON-RPC), L1 watching and
 * posting live in their own modules and drive this one.
 *
 * The invariant: the engine state equals the replay of the journal, item for item. An item is
 * executed, then journaled (group commit: one transaction for all items of an event-loop turn),
 * then acknowledged; a rejected item leaves the engine untouched and is never journaled. A crash
 * before the commit loses only unacknowledged items, and the items after them.
 */
import { EventEmitter } from 'node:events'
import { type Address, type Hex, bytesToHex } from 'viem'
import { NativeEngine } from '../executor/engine/host.js'
import type { WithdrawalRecord } from '../executor/engine/types.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import {
  ITEM_DELAYED, ResultCode, encodeDelayedItem, encodeGenesis, encodeItem,
  type BatchHeader, type GenesisConfig, type ItemResult, type MarketConfig, type TxMessage,
} from '../sdk/protocol.js'
import { Journal, type BatchRow } from './journal.js'
import { engineError, precheck, recoverSigner } from './validate.js'
import { TxDigester } from './digest.js'

export interface SequencerOptions {
  journalPath: string
  genesis: GenesisConfig
  /** Close the open batch once its data reaches this many bytes. */
  batchMaxBytes?: number
  /** Close the open batch once it is this old. */
  batchMaxAgeMs?: number
  /** Unix seconds for new batch headers; the L1 head's time is used when it is later. */
  now?: () => bigint
  log?: (line: string) => void
}

export interface Accepted {
  signer: Address
  batch: number
  result: ItemResult
  /** For an order: its size left resting on the book right after it executed. */
  resting?: bigint
}

export interface ClosedBatch {
  index: number
  stateRoot: Hex
  machineRoot: Hex
  outboxRoot: Hex
  itemCount: number
  bytes: number
  withdrawals: WithdrawalRecord[]
}

/** Events: 'accepted' (Accepted & {tx}), 'batchClosed' (ClosedBatch). */
export class Sequencer extends EventEmitter {
  readonly markets: Map<number, MarketConfig>
  private readonly digester: TxDigester
  private delayed: Uint8Array[]
  private open?: { index: number; openedAt: number; bytes: number; items: number; header: BatchHeader }
  /** Items executed but not yet committed to the journal (group commit), in order. */
  private unjournaled: { batch: number; item: Uint8Array; opens?: BatchHeader }[] = []
  /** Replies waiting for the next commit. */
  private durable: (() => void)[] = []
  private flushScheduled = false
  private lastTimestamp = 0n
  private l1Timestamp = 0n
  private readonly maxBytes: number
  private readonly maxAgeMs: number
  private readonly now: () => bigint
  private readonly log: (line: string) => void

  private constructor(
    readonly journal: Journal,
    readonly engine: NativeEngine,
    private readonly tracker: StateRootTracker,
    readonly genesis: GenesisConfig,
    opts: SequencerOptions,
    delayed: Uint8Array[],
  ) {
    super()
    this.markets = new Map(genesis.markets.map((m) => [m.id, m]))
    this.digester = new TxDigester(genesis.chainId)
    this.delayed = delayed
    this.maxBytes = opts.batchMaxBytes ?? 100_000
    this.maxAgeMs = opts.batchMaxAgeMs ?? 1_000
    this.now = opts.now ?? (() => BigInt(Math.floor(Date.now() / 1000)))
    this.log = opts.log ?? (() => {})
  }

  /** Opens (or creates) the journal and rebuilds the engine state by replaying it. */
  static async open(opts: SequencerOptions): Promise<Sequencer> {
    const journal = new Journal(opts.journalPath)
    const genesisHex = bytesToHex(encodeGenesis(opts.genesis))
    const stored = journal.meta('genesis')
    if (stored === undefined) journal.setMeta('genesis', genesisHex)
    else if (stored !== genesisHex)
      throw new Error(`journal ${opts.journalPath} belongs to another genesis: use a fresh --data-dir for this deployment`)
    const delayed = journal.delayedMessages()
    const engine = await NativeEngine.load({
      delayed: (i) => {
        const m = delayed[Number(i)]
        if (!m) throw new Error(`engine asked for delayed message ${i} but only ${delayed.length} are known`)
        return m
      },
    })
    engine.init(encodeGenesis(opts.genesis))
    const tracker = new StateRootTracker(engine)
    const seq = new Sequencer(journal, engine, tracker, opts.genesis, opts, delayed)
    seq.replay()
    return seq
  }

  private replay() {
    const started = Date.now()
    let items = 0
    for (const b of this.journal.batches()) {
      this.engine.beginBatch({ afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp })
      this.lastTimestamp = b.timestamp
      let bytes = 1
      const rows = this.journal.items(b.index)
      for (const { item, seq } of rows) {
        const r = this.engine.execItem(item)
        if (r.code !== ResultCode.OK && item[0] !== ITEM_DELAYED)
          throw new Error(`journal replay diverged at item ${seq} of batch ${b.index}: engine says ${r.code}; the journal or engine.wasm changed`)
        bytes += item.length
      }
      items += rows.length
      if (b.status === 'open') {
        this.open = { index: b.index, openedAt: Date.now(), bytes, items: rows.length, header: { afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp } }
        continue
      }
      this.engine.endBatch()
      const roots = this.tracker.compute(BigInt(b.index + 1))
      if (roots.stateRoot !== b.stateRoot)
        throw new Error(`journal replay diverged at batch ${b.index}: state root ${roots.stateRoot} but the journal recorded ${b.stateRoot}`)
    }
    if (items) this.log(`sequencer: replayed ${items} journaled items in ${Date.now() - started} ms`)
  }

  /** Delayed messages known so far (all seen on L1). */
  get delayedCount(): number {
    return this.delayed.length
  }

  /** Records delayed messages seen on L1 (in index order) so the next batch includes them. */
  addDelayed(messages: { index: number; bytes: Uint8Array }[], l1Timestamp?: bigint) {
    if (l1Timestamp !== undefined && l1Timestamp > this.l1Timestamp) this.l1Timestamp = l1Timestamp
    for (const m of messages) {
      if (m.index < this.delayed.length) continue
      if (m.index !== this.delayed.length) throw new Error(`delayed message ${m.index} arrived before ${this.delayed.length}`)
      this.journal.putDelayed(m.index, m.bytes)
      this.delayed.push(m.bytes)
    }
  }

  /** Notes the L1 head's time, so batch timestamps stay inside the inbox's allowed window. */
  setL1Time(timestamp: bigint) {
    if (timestamp > this.l1Timestamp) this.l1Timestamp = timestamp
  }

  /** The batch being filled, once it holds an item. */
  get openBatch(): { index: number; items: number; bytes: number } | undefined {
    return this.open && this.open.items > 0 ? { index: this.open.index, items: this.open.items, bytes: this.open.bytes } : undefined
  }

  private nextBatchIndex(): number {
    return (this.journal.lastBatch()?.index ?? -1) + 1
  }

  /**
   * Opens a batch whose header reads every delayed message seen so far, and consumes them first.
   * The batch reaches the journal with its first item, so a batch that only ever saw rejected
   * items leaves no trace: it is re-headed here (same index, fresh time and delayed count; the
   * engine's begin_batch simply overwrites the header) the next time something arrives.
   */
  private openNewBatch() {
    const index = this.open?.index ?? this.nextBatchIndex()
    let timestamp = this.now()
    if (this.l1Timestamp > timestamp) timestamp = this.l1Timestamp
    if (this.lastTimestamp > timestamp) timestamp = this.lastTimestamp
    const afterDelayedCount = BigInt(this.delayed.length)
    const pending = Number(afterDelayedCount - this.engine.delayedRead())
    this.engine.beginBatch({ afterDelayedCount, timestamp })
    this.lastTimestamp = timestamp
    this.open = { index, openedAt: Date.now(), bytes: 1, items: 0, header: { afterDelayedCount, timestamp } }
    if (pending > 0) {
      this.append(encodeDelayedItem(pending))
      this.log(`sequencer: batch ${index} includes ${pending} delayed message(s)`)
    }
  }

  /**
   * Executes an item in the open batch and queues it for the journal if accepted (DELAYED items
   * always are: they never change state on failure). Returns the engine's result.
   */
  private append(item: Uint8Array): ItemResult {
    const open = this.open!
    const result = this.engine.execItem(item)
    if (result.code !== ResultCode.OK && item[0] !== ITEM_DELAYED) return result
    this.unjournaled.push({ batch: open.index, item, opens: open.items === 0 ? open.header : undefined })
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => this.flush())
    }
    open.bytes += item.length
    open.items++
    return result
  }

  /**
   * Group commit: writes every item executed since the last flush in one SQLite transaction (one
   * fsync), then releases the replies waiting on it. Items executed in the same event-loop turn
   * share a commit; none is acknowledged before it is durable.
   */
  flush() {
    this.flushScheduled = false
    if (this.unjournaled.length === 0) return
    const items = this.unjournaled
    const waiters = this.durable
    this.unjournaled = []
    this.durable = []
    try {
      this.journal.db.transaction(() => {
        for (const u of items) {
          if (u.opens) this.journal.openBatch(u.batch, u.opens.afterDelayedCount, u.opens.timestamp)
          this.journal.appendItem(u.batch, u.item)
        }
      })()
    } catch (e) {
      // The engine already applied items the journal could not record: the in-memory state is
      // ahead of the durable one, and going on would acknowledge state that a restart forgets.
      this.log(`sequencer: FATAL journal append failed (${(e as Error).message}); exiting so a restart replays the journal`)
      process.exit(70)
    }
    for (const w of waiters) w()
  }

  /**
   * Validates, executes and journals one signed transaction. Throws an RpcError for bad input or
   * an engine rejection (then nothing was executed or journaled); resolves once durable.
   */
  async submit(tx: TxMessage, signature: Hex): Promise<Accepted> {
    const signer = recoverSigner(this.digester, tx, signature)
    if (!signer) throw engineError(ResultCode.BAD_SIGNATURE)
    if (tx.kind !== 'OraclePrice') {
      const expected = this.engine.nonce(signer)
      if (tx.message.nonce !== expected)
        throw engineError(ResultCode.BAD_NONCE, { signer, expected: expected.toString(), got: tx.message.nonce.toString() })
    }
    precheck(tx, this.markets, this.genesis, signer)
    const item = encodeItem(tx, signature)
    if (this.open && this.open.bytes + item.length > this.maxBytes) this.closeBatch()
    if (!this.open || this.open.items === 0) this.openNewBatch()
    const open = this.open!
    const result = this.append(item)
    if (result.code !== ResultCode.OK) throw engineError(result.code, { signer })
    // Read now: later items of the same commit group may trade against this order.
    const resting = tx.kind === 'Order' ? (this.engine.order(result.orderId)?.remaining ?? 0n) : undefined
    await new Promise<void>((resolve) => this.durable.push(resolve))
    const accepted: Accepted = { signer, batch: open.index, result, resting }
    this.emit('accepted', { ...accepted, tx })
    return accepted
  }

  /** Closes the batch by age, and opens one for delayed messages nobody has included yet. */
  tick() {
    if (this.open && this.open.items > 0 && Date.now() - this.open.openedAt >= this.maxAgeMs) this.closeBatch()
    if ((!this.open || this.open.items === 0) && BigInt(this.delayed.length) > this.engine.delayedRead()) this.openNewBatch()
  }

  /**
   * Closes the open batch: end_batch, state root, journal. Returns undefined if no batch holds
   * an item (an empty batch is never posted).
   */
  closeBatch(): ClosedBatch | undefined {
    const open = this.open
    if (!open || open.items === 0) return undefined
    this.flush() // the batch's items are durable before the batch is closed
    const { data, withdrawals } = this.engine.endBatch()
    const roots = this.tracker.compute(BigInt(open.index + 1))
    this.journal.closeBatch(open.index, data, roots, withdrawals)
    this.open = undefined
    const closed: ClosedBatch = {
      index: open.index,
      stateRoot: roots.stateRoot,
      machineRoot: roots.machineRoot,
      outboxRoot: roots.outboxRoot,
      itemCount: open.items,
      bytes: data.length,
      withdrawals,
    }
    this.log(`sequencer: closed batch ${open.index}: ${open.items} item(s), ${data.length} bytes, state root ${roots.stateRoot}`)
    this.emit('batchClosed', closed)
    return closed
  }

  batch(index: number): BatchRow | undefined {
    return this.journal.batch(index)
  }

  close() {
    this.flush()
    this.journal.close()
  }
}

