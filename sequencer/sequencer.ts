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
  ITEM_ADMIN, ITEM_DELAYED, ResultCode, encodeDelayedItem, itemSignature, encodeGenesis, encodeItem, encodeLiquidateItem,
  type BatchHeader, type GenesisConfig, type ItemResult, type MarketConfig, type TxMessage,
} from '../sdk/protocol.js'
import { RpcError } from './rpc/errors.js'
import { Journal, type BatchRow } from './journal.js'
import { INVALID_PARAMS, engineError, precheck, recoverSigner } from './validate.js'
import { TxDigester } from './digest.js'
import { RecoveryPool, type Recovered } from './recoveryPool.js'
import { type KnownRecoveries, RecoveryLog } from '../executor/vm/ecrecover.js'
import { RootThread } from './rootThread.js'
import { JournalWriter, type JournalWrite } from './journalWriter.js'
import { SnapshotRoots, snapshotState, type StateRoots, type StateSnapshot } from './stateSnapshot.js'
import { AckLatency } from './ackLatency.js'

export interface SequencerOptions {
  journalPath: string
  genesis: GenesisConfig
  /** Close the open batch once its data reaches this many bytes. */
  batchMaxBytes?: number
  /** Close the open batch once it is this old. */
  batchMaxAgeMs?: number
  /** Unix seconds for new batch headers; the L1 head's time is used when it is later. */
  now?: () => bigint
  /**
   * Worker threads that recover signers (sequencer/recoveryPool.ts); 0, the default, recovers on
   * the main thread. Items still execute one at a time, in arrival order.
   */
  recoveryThreads?: number
  /**
   * Compute the state roots of batches closed by size or age on a worker thread, from a copy of
   * the state, while the engine goes on with the next batch. The batch's journal row turns
   * 'closed' (with its roots) and 'batchClosed' is emitted when they arrive, in batch order.
   */
  rootThread?: boolean
  /**
   * Commit the journal on a worker thread (sequencer/journalWriter.ts), so the event loop never
   * waits for an fsync. Replies still wait for their commit.
   */
  journalThread?: boolean
  log?: (line: string) => void
}

/** A batch ended in the engine whose roots are being computed from `snapshot`. */
interface Closing {
  index: number
  items: number
  data: Uint8Array
  withdrawals: WithdrawalRecord[]
  snapshot: StateSnapshot
  roots?: StateRoots
}

/** A submission waiting for its signer, in arrival order. */
interface Arrival {
  /** performance.now() at submit, for ackLatency. */
  t0: number
  tx: TxMessage
  signature: Hex
  item: Uint8Array
  /** The caller's admission hook (rate limits), run when the arrival's turn comes. */
  hook?: (signer: Address | undefined) => void
  /** Set once the pool answered: the recovery (none for an item that is not signed), or its failure. */
  outcome?: { recovered?: Recovered } | { error: Error }
  resolve: (a: Accepted) => void
  reject: (e: Error) => void
}

export interface Accepted {
  signer: Address
  batch: number
  result: ItemResult
  /** For an order (or a replacement): its size left open right after it executed. */
  resting?: bigint
}

/**
 * The signature recoveries behind a batch's items, as the recovery pool computed them: a verifier
 * in the same process records them in its memo instead of recovering every signature again.
 */
export interface BatchRecoveries {
  index: number
  known: KnownRecoveries
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

/**
 * Events: 'accepted' (Accepted & {tx}), 'liquidated' ({ account, batch }), 'batchClosed'
 * (ClosedBatch), and 'batchRecoveries' (BatchRecoveries) when a batch is ended, before its roots.
 */
export class Sequencer extends EventEmitter {
  /** The engine's markets (genesis and ADMIN additions), rebuilt after every ADMIN item. */
  private marketCache?: Map<number, MarketConfig>
  private readonly digester: TxDigester
  private delayed: Uint8Array[]
  private open?: { index: number; openedAt: number; bytes: number; items: number; header: BatchHeader }
  /** Items executed but not yet committed to the journal (group commit), in order. */
  private unjournaled: { batch: number; item: Uint8Array; opens?: BatchHeader }[] = []
  /** Replies waiting for the next commit. */
  private durable: (() => void)[] = []
  private flushScheduled = false
  private lastTimestamp = 0n
  /** While re-sequencing (sequencer/reconcile.ts): new batches read delayed messages only this far. */
  private delayedCap?: bigint
  private l1Timestamp = 0n
  private readonly maxBytes: number
  private readonly maxAgeMs: number
  private readonly now: () => bigint
  private readonly log: (line: string) => void
  private readonly pool?: RecoveryPool
  /** Submissions whose signer is being recovered off-thread; executed strictly in this order. */
  private arrivals: Arrival[] = []
  private readonly rootThread?: RootThread
  /** Batches waiting for their roots, in order; recorded as closed only in that order. */
  private closing: Closing[] = []
  /** Roots of snapshots computed on this thread, when a batch cannot wait for the root thread. */
  private snapshotRoots?: SnapshotRoots
  private writer?: JournalWriter
  /** While set (withDirectJournal), journal writes bypass the journal thread. */
  private direct = false
  private nextIndex?: number
  private closed = false
  /** The recovery-pool answers of the open batch's items, handed on at its close ('batchRecoveries'). */
  private recoveries = new RecoveryLog()
  /** From submit to the durable reply, for each accepted transaction (sequencer/ackLatency.ts). */
  readonly ackLatency = new AckLatency()

  private constructor(
    readonly journal: Journal,
    public engine: NativeEngine,
    private tracker: StateRootTracker,
    readonly genesis: GenesisConfig,
    opts: SequencerOptions,
    delayed: Uint8Array[],
  ) {
    super()
    this.digester = new TxDigester(genesis.chainId)
    this.delayed = delayed
    this.maxBytes = opts.batchMaxBytes ?? 100_000
    this.maxAgeMs = opts.batchMaxAgeMs ?? 1_000
    this.now = opts.now ?? (() => BigInt(Math.floor(Date.now() / 1000)))
    this.log = opts.log ?? (() => {})
    if (opts.recoveryThreads) this.pool = new RecoveryPool({ chainId: genesis.chainId, threads: opts.recoveryThreads, log: this.log })
    if (opts.rootThread) this.rootThread = new RootThread()
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
    // Threads load their code in about a second: wait, so the first requests do not.
    await Promise.all([seq.pool?.ready(), seq.rootThread?.ready])
    if (opts.journalThread) {
      seq.writer = await JournalWriter.start(opts.journalPath, (why) => seq.fatal(why), seq.log)
      // The writer's checkpoint thread copies the WAL back; this connection's rare writes (a
      // reconcile, delayed messages) must not run a checkpoint on the event loop either.
      seq.journal.db.pragma('wal_autocheckpoint = 0')
    }
    return seq
  }

  /** A fresh engine at genesis for {@link reload} (loading is async, so it is made beforehand). */
  async freshEngine(): Promise<NativeEngine> {
    const engine = await NativeEngine.load({
      delayed: (i) => {
        const m = this.delayed[Number(i)]
        if (!m) throw new Error(`engine asked for delayed message ${i} but only ${this.delayed.length} are known`)
        return m
      },
    })
    engine.init(encodeGenesis(this.genesis))
    return engine
  }

  /**
   * Rebuilds the state by replaying the journal on `engine` (from {@link freshEngine}), after
   * sequencer/reconcile.ts rewrote the journal on top of L1. Synchronous: nothing runs meanwhile.
   */
  /**
   * Runs `fn` with every journal write on this thread's connection, so that they join the
   * transaction `fn` opens: a reconcile rewrites the journal in one transaction, which the journal
   * thread's own connection could not join (it would wait on the lock the transaction holds).
   * Everything sent to the journal thread before is committed first.
   */
  withDirectJournal<T>(fn: () => T): T {
    this.flush(true)
    this.writer?.drain()
    this.direct = true
    try {
      return fn()
    } finally {
      this.direct = false
    }
  }

  reload(engine: NativeEngine) {
    this.flush(true)
    this.engine = engine
    this.tracker = new StateRootTracker(engine)
    this.open = undefined
    // The journal was rewritten (sequencer/reconcile.ts): the next index comes from it again, and
    // the markets from the new engine (re-sequenced ADMIN items may differ).
    this.nextIndex = undefined
    this.marketCache = undefined
    this.lastTimestamp = 0n
    this.recoveries = new RecoveryLog()
    this.replay()
  }

  private replay() {
    const started = Date.now()
    let items = 0
    const batches = this.journal.batchesWithoutData()
    for (const [k, b] of batches.entries()) {
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
      if (b.status === 'open' && k === batches.length - 1) {
        this.open = { index: b.index, openedAt: Date.now(), bytes, items: rows.length, header: { afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp } }
        continue
      }
      if (b.status === 'open') {
        // Closed before a stop that came before its roots (computed off the request path)
        // reached the journal: a later batch has items. Close it now, as it would have been.
        const { data, withdrawals } = this.engine.endBatch()
        const roots = this.tracker.compute(BigInt(b.index + 1))
        this.journal.closeBatch(b.index, data, roots, withdrawals)
        this.log(`sequencer: closed batch ${b.index} on replay (its roots had not reached the journal): state root ${roots.stateRoot}`)
        continue
      }
      const { withdrawals } = this.engine.endBatch()
      const roots = this.tracker.compute(BigInt(b.index + 1))
      // A batch adopted from L1 (sequencer/reconcile.ts) gets its roots from its first replay.
      if (b.stateRoot === undefined) this.journal.setRoots(b.index, roots, withdrawals)
      else if (roots.stateRoot !== b.stateRoot)
        throw new Error(`journal replay diverged at batch ${b.index}: state root ${roots.stateRoot} but the journal recorded ${b.stateRoot}`)
    }
    if (items) this.log(`sequencer: replayed ${items} journaled items in ${Date.now() - started} ms`)
  }

  /**
   * Markets as the engine has them, with their symbols: the genesis one, the one given with the
   * ADMIN transaction that added it (journal meta), else `MARKET-<id>`.
   */
  get markets(): Map<number, MarketConfig> {
    if (!this.marketCache) {
      const symbols = new Map(this.genesis.markets.map((m) => [m.id, m.symbol]))
      this.marketCache = new Map(this.engine.marketIds().map((id) => {
        const config = this.engine.market(id)!.config
        return [id, { ...config, symbol: symbols.get(id) ?? this.journal.meta(`symbol:${id}`) ?? `MARKET-${id}` }]
      }))
    }
    return this.marketCache
  }

  /** Names a market added by ADMIN (a label only: symbols are not on the wire). */
  setSymbol(market: number, symbol: string) {
    if (this.genesis.markets.some((m) => m.id === market)) return
    this.journal.setMeta(`symbol:${market}`, symbol)
    this.marketCache = undefined
  }

  /** Delayed messages known so far (all seen on L1). */
  get delayedCount(): number {
    return this.delayed.length
  }

  /**
   * Records delayed messages seen on L1 (in index order) so the next batch includes them. One it
   * already has (read again after an L1 reorg) must be the same message: a different one means a
   * reorg deeper than --l1-confirmations replaced a message batches already read, an error.
   */
  addDelayed(messages: { index: number; bytes: Uint8Array }[], l1Timestamp?: bigint) {
    for (const m of messages) {
      const had = this.delayed[m.index]
      if (had && Buffer.compare(had, m.bytes) !== 0) {
        throw new Error(
          `L1's delayed message ${m.index} is no longer the one this sequencer included: an L1 reorg deeper than --l1-confirmations replaced it, so batches that read it cannot be posted. Run nodes with --l1-confirmations finalized, or a number of blocks at least as deep as this L1's reorgs go`,
        )
      }
    }
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

  /**
   * The index the next batch gets. Kept here rather than read from the journal, whose rows may
   * lag behind the engine when commits happen on the journal thread.
   */
  private nextBatchIndex(): number {
    if (this.nextIndex === undefined) this.nextIndex = (this.journal.lastBatch()?.index ?? -1) + 1
    return this.nextIndex
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
    let afterDelayedCount = BigInt(this.delayed.length)
    if (this.delayedCap !== undefined && this.delayedCap < afterDelayedCount) afterDelayedCount = this.delayedCap
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
    if (item[0] === ITEM_ADMIN) this.marketCache = undefined
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
   * share a commit; none is acknowledged before it is durable. With a journal thread the commit
   * happens there and the replies are released when it returns; `sync` then waits for it.
   */
  flush(sync = false) {
    this.flushScheduled = false
    const items = this.unjournaled
    const waiters = this.durable
    this.unjournaled = []
    this.durable = []
    const release = () => {
      for (const w of waiters) w()
    }
    try {
      if (this.writer && !this.direct) {
        if (items.length) this.writer.write(packItems(items), release)
        if (sync) this.writer.drain()
        return
      }
      if (items.length === 0) return
      this.journal.db.transaction(() => {
        for (const u of items) {
          if (u.opens) this.journal.openBatch(u.batch, u.opens.afterDelayedCount, u.opens.timestamp)
          this.journal.appendItem(u.batch, u.item)
        }
      })()
    } catch (e) {
      this.fatal(`journal append failed (${(e as Error).message})`)
    }
    release()
  }

  /**
   * The engine already applied items the journal could not record: the in-memory state is ahead
   * of the durable one, and going on would acknowledge state that a restart forgets.
   */
  private fatal(why: string): never {
    this.log(`sequencer: FATAL ${why}; exiting so a restart replays the journal`)
    process.exit(70)
  }

  /**
   * Validates, executes and journals one signed transaction. Throws an RpcError for bad input or
   * an engine rejection (then nothing was executed or journaled); resolves once durable.
   * `admit` sees the recovered signer (undefined: invalid signature) before anything else and may
   * throw to refuse it (the rate limits); it runs synchronously, in the order requests arrive.
   *
   * With recovery threads, the signer is recovered off the main thread and the transaction then
   * waits for every earlier submission to be admitted: a recovery that finishes early never
   * overtakes an earlier one, so arrival order (and each account's nonce order) is kept.
   */
  submit(tx: TxMessage, signature: Hex, admit?: (signer: Address | undefined) => void): Promise<Accepted> {
    const t0 = performance.now()
    let item: Uint8Array
    try {
      item = encodeItem(tx, signature)
    } catch (e) {
      return Promise.reject(new RpcError(INVALID_PARAMS, `message cannot be encoded: ${(e as Error).message}`, { param: 'message' }))
    }
    if (!this.pool) {
      try {
        return this.admit(t0, tx, signature, item, recoverSigner(this.digester, tx, signature), admit)
      } catch (e) {
        return Promise.reject(e)
      }
    }
    return new Promise<Accepted>((resolve, reject) => {
      const arrival: Arrival = { t0, tx, signature, item, hook: admit, resolve, reject }
      this.arrivals.push(arrival)
      this.pool!.recover(arrival.item).then(
        (r: Recovered | undefined) => {
          arrival.outcome = { recovered: r }
          this.admitArrivals()
        },
        (e: Error) => {
          arrival.outcome = { error: e }
          this.admitArrivals()
        },
      )
    })
  }

  /** Admits the recovered submissions at the head of the arrival queue, in order. */
  private admitArrivals() {
    while (this.arrivals[0]?.outcome) {
      const a = this.arrivals.shift()!
      const o = a.outcome!
      if ('error' in o) a.reject(o.error)
      else this.admit(a.t0, a.tx, a.signature, a.item, o.recovered?.signer, a.hook, o.recovered).then(a.resolve, a.reject)
    }
  }

  /**
   * Checks and executes a transaction whose signer is known (synchronously, up to the wait for
   * the group commit), then resolves once it is durable.
   */
  private async admit(t0: number, tx: TxMessage, signature: Hex, item: Uint8Array, signer: Address | undefined, hook?: (signer: Address | undefined) => void, recovered?: Recovered): Promise<Accepted> {
    const t1 = performance.now()
    hook?.(signer)
    if (!signer) throw engineError(ResultCode.BAD_SIGNATURE)
    if (tx.kind !== 'OraclePrice') {
      const expected = this.engine.nonce(signer)
      if (tx.message.nonce !== expected)
        throw engineError(ResultCode.BAD_NONCE, { signer, expected: expected.toString(), got: tx.message.nonce.toString() })
    }
    precheck(tx, this.markets, this.genesis, signer, (id) => this.engine.order(id))
    const { result, batch } = this.place(item, false, recovered)
    if (result.code !== ResultCode.OK) throw engineError(result.code, { signer })
    // Read now: later items of the same commit group may trade against this order.
    const resting = tx.kind === 'Order' || tx.kind === 'Replace' ? this.engine.orderRemaining(result.orderId) : undefined
    const t2 = performance.now()
    await this.whenDurable()
    const t3 = performance.now()
    this.ackLatency.record(t3 - t0, t1 - t0, t3 - t2)
    const accepted: Accepted = { signer, batch, result, resting }
    this.emit('accepted', { ...accepted, tx })
    return accepted
  }

  /**
   * Executes again an item acknowledged before a forced batch changed L1 (sequencer/reconcile.ts),
   * on today's state, in the open batch; journaled with the next flush. Returns the engine's
   * result: a rejected item is dropped, as for any submission.
   */
  resequence(item: Uint8Array): ItemResult {
    if (this.delayedCap !== undefined && this.open && this.open.header.afterDelayedCount < this.delayedCap && this.open.items > 0) this.closeBatch()
    return this.place(item, true).result
  }

  /**
   * Re-sequencing: the next items run after delayed messages up to `count` and no further (they
   * were acknowledged before the rest arrived); undefined lifts the cap. Synchronous callers only.
   */
  capDelayed(count: bigint | undefined) {
    this.delayedCap = count
  }

  /**
   * Executes LIQUIDATE(account) (unsigned, permissionless) in the open batch like any other item:
   * journaled and batched if the engine accepts it, dropped without a trace if not. Resolves with
   * the engine's result once durable (or at once for a refusal).
   */
  async liquidate(account: Address): Promise<{ result: ItemResult; batch?: number }> {
    const { result, batch } = this.place(encodeLiquidateItem(account), false)
    if (result.code !== ResultCode.OK) return { result }
    await this.whenDurable()
    this.emit('liquidated', { account, batch })
    return { result, batch }
  }

  /**
   * Executes `item` in the open batch: a batch it would overfill is closed first (`sync`: now, on
   * this thread, as a reconcile inside its transaction needs; else by closeBatchSoon, off the
   * request path), and a batch is opened if none holds items.
   */
  private place(item: Uint8Array, sync: boolean, recovered?: Recovered): { result: ItemResult; batch: number } {
    if (this.open && this.open.bytes + item.length > this.maxBytes) {
      if (sync) this.closeBatch()
      else this.closeBatchSoon()
    }
    if (!this.open || this.open.items === 0) this.openNewBatch()
    const batch = this.open!.index
    const result = this.append(item)
    if (recovered?.signerBytes && result.code === ResultCode.OK) this.recoveries.push(recovered.digest, itemSignature(item), recovered.signerBytes)
    return { result, batch }
  }

  /** Resolves once everything executed so far is committed (the next group commit). */
  private whenDurable(): Promise<void> {
    return new Promise<void>((resolve) => this.durable.push(resolve))
  }

  /** Closes the batch by age, and opens one for delayed messages nobody has included yet. */
  tick() {
    if (this.open && this.open.items > 0 && Date.now() - this.open.openedAt >= this.maxAgeMs) this.closeBatchSoon()
    if ((!this.open || this.open.items === 0) && BigInt(this.delayed.length) > this.engine.delayedRead()) this.openNewBatch()
  }

  /**
   * Closes the open batch now: end_batch, state root, journal. Batches still waiting for their
   * roots from the root thread are finished first, on this thread. Returns undefined if no batch
   * holds an item (an empty batch is never posted).
   */
  closeBatch(): ClosedBatch | undefined {
    this.finishClosing(true)
    const open = this.open
    if (!open || open.items === 0) return undefined
    this.flush(true) // the batch's items are durable before the batch is closed
    const { data, withdrawals } = this.engine.endBatch()
    this.handOnRecoveries(open.index)
    const roots = this.tracker.compute(BigInt(open.index + 1))
    this.open = undefined
    this.nextIndex = open.index + 1
    return this.recordClosed({ index: open.index, items: open.items, data, withdrawals }, roots, true)
  }

  /**
   * Closes the open batch by size or age. With a root thread, the engine ends the batch and goes
   * on at once; the batch is recorded as closed when its roots arrive (finishClosing).
   */
  private closeBatchSoon() {
    const open = this.open
    if (!this.rootThread) {
      this.closeBatch()
      return
    }
    if (!open || open.items === 0) return
    this.flush()
    const { data, withdrawals } = this.engine.endBatch()
    this.handOnRecoveries(open.index)
    const c: Closing = { index: open.index, items: open.items, data, withdrawals, snapshot: snapshotState(this.engine) }
    this.open = undefined
    this.nextIndex = open.index + 1
    this.closing.push(c)
    this.rootThread.compute(c.snapshot, BigInt(c.index + 1)).then(
      (roots) => {
        c.roots ??= roots
        if (!this.closed) this.finishClosing(false)
      },
      (e: Error) => {
        if (this.closed) return
        this.log(`sequencer: state-root thread failed (${e.message}); computing roots on the main thread`)
        this.finishClosing(true)
      },
    )
  }

  private handOnRecoveries(index: number) {
    if (this.recoveries.size === 0) return
    const known = this.recoveries.take()
    this.emit('batchRecoveries', { index, known } satisfies BatchRecoveries)
  }

  /** Records the waiting batches whose roots are known, in order; `now` computes missing ones here. */
  private finishClosing(now: boolean) {
    while (this.closing.length) {
      const c = this.closing[0]!
      if (!c.roots) {
        if (!now) return
        c.roots = (this.snapshotRoots ??= new SnapshotRoots()).compute(c.snapshot, BigInt(c.index + 1))
      }
      this.closing.shift()
      this.recordClosed(c, c.roots, now)
    }
  }

  /**
   * Writes the batch's roots to its journal row, then logs and emits 'batchClosed'. With a
   * journal thread and `sync` false, that happens once the thread has committed it (after the
   * batch's items, which were sent before); otherwise now, on this thread's connection.
   */
  private recordClosed(c: Omit<Closing, 'snapshot' | 'roots'>, roots: StateRoots, sync: boolean): ClosedBatch {
    const closed: ClosedBatch = {
      index: c.index,
      stateRoot: roots.stateRoot,
      machineRoot: roots.machineRoot,
      outboxRoot: roots.outboxRoot,
      itemCount: c.items,
      bytes: c.data.length,
      withdrawals: c.withdrawals,
    }
    const done = () => {
      this.log(`sequencer: closed batch ${c.index}: ${c.items} item(s), ${c.data.length} bytes, state root ${roots.stateRoot}`)
      this.emit('batchClosed', closed)
    }
    if (this.writer && !sync && !this.direct) {
      this.writer.write({ kind: 'close', index: c.index, data: c.data, roots, withdrawals: c.withdrawals }, done)
      return closed
    }
    this.writer?.drain() // earlier writes (and their 'batchClosed') come first
    this.journal.closeBatch(c.index, c.data, roots, c.withdrawals)
    done()
    return closed
  }

  /**
   * Records that batch `index` landed on L1 (the poster calls it). With a journal thread the
   * write commits there, like every other, and this resolves once it is durable: on this thread
   * it would wait for an fsync, and for the journal thread's write lock (SQLite's busy handler
   * sleeps), while requests wait behind it.
   */
  markPosted(index: number, l1Tx: Hex, l1Block: bigint): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`the sequencer is stopped: batch ${index} stays unposted in its journal, and the poster finds it on L1 after a restart`))
    if (this.writer && !this.direct) return new Promise((resolve) => this.writer!.write({ kind: 'posted', index, l1Tx, l1Block }, resolve))
    this.writer?.drain()
    this.journal.markPosted(index, l1Tx, l1Block)
    return Promise.resolve()
  }

  batch(index: number): BatchRow | undefined {
    return this.journal.batch(index)
  }

  /**
   * Stops after a last group commit. Batches still waiting for their roots stay open in the
   * journal, and the next open closes them while replaying (as after a crash).
   */
  close() {
    this.closed = true
    this.flush(true)
    void this.writer?.close()
    this.journal.close()
    void this.pool?.close()
    void this.rootThread?.close()
  }
}

/** Items of one group commit, packed for the journal thread. */
function packItems(items: { batch: number; item: Uint8Array; opens?: BatchHeader }[]): JournalWrite {
  const ends = new Uint32Array(items.length)
  let total = 0
  items.forEach((u, i) => (ends[i] = total += u.item.length))
  const bytes = new Uint8Array(total)
  let o = 0
  for (const u of items) {
    bytes.set(u.item, o)
    o += u.item.length
  }
  return {
    kind: 'items',
    opens: items.flatMap((u) => (u.opens ? [{ batch: u.batch, afterDelayedCount: u.opens.afterDelayedCount, timestamp: u.opens.timestamp }] : [])),
    batches: items.map((u) => u.batch),
    bytes,
    ends,
  }
}
