/**
 * The verifier: derives the L2 state from L1 data only (batches and delayed messages read by
 * InboxReader), runs each batch through `run_batch` on the native engine, and records the state
 * root after every batch in its own SQLite file. It never talks to the sequencer.
 *
 * Every batch also runs once on the single-step VM, from the native state before it: that counts
 * the VM steps the batch takes (what an assertion claims and a dispute bisects, docs/disputes.md)
 * and checks that the VM ends in exactly the native state, so the state roots the proposer posts
 * are ones a one-step proof can defend.
 *
 * That compute lives in executor/batchExecutor.ts, on this thread or (option `thread`) on a worker
 * thread; this class keeps the records (SQLite, the states kept for dispute traces) and the API.
 *
 * An L1 reorg that takes back batches or delayed messages already derived (InboxReader's `reorg`)
 * takes this verifier back too: to the engine state it kept before the first batch taken back,
 * its records of later batches deleted, and it derives again from there.
 */
import Database from 'better-sqlite3'
import { EventEmitter } from 'node:events'
import { inflateRawSync } from 'node:zlib'
import type { Address, Hex } from 'viem'
import type { NativeEngine } from './engine/host.js'
import type { WithdrawalRecord } from './engine/types.js'
import { InboxReader, type L1Confirmations, type L1Reorg, l1BatchMessage } from './inboxReader.js'
import { PollLoop } from './pollLoop.js'
import { BatchExecutor, type BatchInput, type EngineState, type ExecuteResult } from './batchExecutor.js'
import { ExecutorThread } from './executorThread.js'
import { BACKGROUND_NICE } from './tsWorker.js'
import type { GlobalValue } from './vm/stateRoot.js'
import type { KnownRecoveries } from './vm/ecrecover.js'
import type { TraceTask } from '../prover/dispute/traceTask.js'
import type { L1Public } from '../contracts/l1.js'
import type { GenesisConfig } from '../sdk/protocol.js'

export interface VerifiedBatch {
  index: number
  stateRoot: Hex
  machineRoot: Hex
  outboxRoot: Hex
  /** Withdrawals in the outbox after this batch. */
  outboxCount: bigint
  l1Block: bigint
  /** VM steps from the Ready machine before this batch to the Ready machine after it. */
  steps: bigint
}

export interface VerifierOptions {
  l1: L1Public
  inbox: Address
  fromBlock: bigint
  genesis: GenesisConfig
  dbPath: string
  pollMs?: number
  /** Read L1 only this many blocks under its head, or up to its safe or finalized block (InboxReader); default 0. */
  confirmations?: L1Confirmations
  /**
   * The data a sequencer in this process wrote for batch `index` (InboxReader's knownData): used
   * instead of the batch's calldata when it matches L1's accumulator for that batch.
   */
  knownBatchData?: (index: number) => Uint8Array | undefined
  log?: (line: string) => void
  /**
   * Batch boundaries whose engine state is kept (compressed) for dispute traces; default 256.
   * A dispute over an assertion whose parent is older than that needs a node restarted with more.
   */
  keepStates?: number
  /**
   * Run the batches (VM, engine, roots) on a worker thread, so they never stall the caller's
   * event loop (the node, where the sequencer answers requests). `state` is then unavailable.
   */
  thread?: boolean
  /** Worker threads that recover a batch's signatures ahead of running it; default 0 (none). */
  recoveryThreads?: number
  /**
   * With `thread`: run that thread and its recovery threads at a low priority (nice 10, Linux),
   * for a verifier that shares its process with a sequencer serving requests.
   */
  background?: boolean
}

/** Batches whose known recoveries (addKnownRecoveries) are kept at most. */
const MAX_KNOWN_BATCHES = 256

/** The engine state before one batch, kept for dispute traces. */
interface KeptState { memory: Uint8Array; globals: GlobalValue[]; message: Uint8Array }

/** Time the executor spent running batches, wherever it runs. */
export interface VerifierStats {
  batches: number
  executeMs: number
  /** Batches run with the recoveries a sequencer in this process handed over (addKnownRecoveries). */
  knownRecoveryBatches: number
  /** Batches whose data came from knownBatchData, matched by L1's accumulator, not from calldata. */
  knownDataBatches: number
  /** L1 reorgs that took back batches or delayed messages this verifier had derived from. */
  reorgs: number
  /** Batches those reorgs took back (each derived again from whatever L1 then holds). */
  batchesTakenBack: number
}

/** A reorg the verifier went back for: the reader's report and the batches it had derived. */
export interface VerifierReorg extends L1Reorg {
  /** The batches derived before the reorg: those from `batch` on were taken back. */
  derivedBefore: number
}

/** Events: 'batch' (VerifiedBatch), 'reorg' (VerifierReorg). */
export class Verifier extends EventEmitter {
  private readonly db: Database.Database
  private readonly reader: InboxReader
  private delayed: Uint8Array[] = []
  /** Engine state at inbox position p (before batch p) and batch p's message, for trace tasks. */
  private readonly states = new Map<number, KeptState>()
  private readonly loop: PollLoop
  private readonly log: (line: string) => void
  private latest?: VerifiedBatch
  /** The genesis roots (inbox position 0). */
  readonly genesisRoots: { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex; moduleRoot: Hex }
  private readonly counts = { batches: 0, executeMs: 0, knownRecoveryBatches: 0, reorgs: 0, batchesTakenBack: 0 }
  /** Set when a reorg could not be followed: every later sync fails with it. */
  private broken?: Error
  /** Recoveries a sequencer in this process made for its batches, by batch index, until run. */
  private readonly known = new Map<number, KnownRecoveries>()

  private constructor(
    private readonly opts: VerifierOptions,
    private readonly executor: BatchExecutor | ExecutorThread,
  ) {
    super()
    this.genesisRoots = executor.genesisRoots
    this.log = opts.log ?? (() => {})
    this.loop = new PollLoop(() => this.sync(), opts.pollMs ?? 500, (e) => this.log(`verifier: L1 read failed, retrying: ${e.message.split('\n')[0]}`))
    this.reader = new InboxReader(opts.l1, opts.inbox, opts.fromBlock, { confirmations: opts.confirmations, knownData: opts.knownBatchData })
    this.db = new Database(opts.dbPath)
    this.db.pragma('journal_mode = WAL')
    // The verifier re-derives everything from L1 on start; its file is a record, not the truth:
    // no fsync per batch on the thread that runs this (in a node, the one answering requests).
    this.db.pragma('synchronous = OFF')
    this.db.exec(`
      DROP TABLE IF EXISTS verified; DROP TABLE IF EXISTS withdrawals;
      CREATE TABLE verified (idx INTEGER PRIMARY KEY, state_root TEXT, machine_root TEXT, outbox_root TEXT, outbox_count INTEGER, l1_block INTEGER, steps INTEGER NOT NULL);
      CREATE TABLE withdrawals (idx INTEGER PRIMARY KEY, batch INTEGER, l2_sender TEXT, recipient TEXT, asset INTEGER, amount TEXT);
    `)
  }

  static async create(opts: VerifierOptions): Promise<Verifier> {
    const threads = opts.recoveryThreads ?? 0
    const executor = opts.thread ? await ExecutorThread.start(opts.genesis, threads, opts.background ? BACKGROUND_NICE : 0) : await BatchExecutor.create(opts.genesis, threads)
    return new Verifier(opts, executor)
  }

  get stats(): VerifierStats {
    return { ...this.counts, knownDataBatches: this.reader.knownDataBatches }
  }

  private run(delayed: Uint8Array[], batches: BatchInput[]): Promise<ExecuteResult> {
    if (this.executor instanceof ExecutorThread) return this.executor.execute(delayed, batches)
    this.executor.addDelayed(delayed)
    return this.executor.execute(batches)
  }

  /**
   * Hands over the signature recoveries a sequencer in the same process made for batch `index`, so
   * this verifier does not recover them again when it reads that batch from L1. Whatever the L1
   * batch at that index turns out to hold, the result is the same: the recoveries answer only the
   * exact (digest, signature) pairs they were computed for (executor/vm/ecrecover.ts).
   */
  addKnownRecoveries(index: number, known: KnownRecoveries) {
    if (this.latest && index <= this.latest.index) return
    this.known.set(index, known)
    // Bounded, for a verifier that has fallen far behind (or one that never reads these batches).
    for (const k of this.known.keys()) {
      if (this.known.size <= MAX_KNOWN_BATCHES) break
      this.known.delete(k)
    }
  }

  /** Reads L1 once and executes every new batch. Returns the batches verified. */
  async sync(): Promise<VerifiedBatch[]> {
    if (this.broken) throw this.broken
    const { batches, delayed, reorg } = await this.reader.poll()
    if (reorg) await this.goBack(reorg)
    for (const d of delayed) this.delayed.push(d.bytes)
    if (!batches.length && !delayed.length) return []
    const inputs: BatchInput[] = batches.map((b) => ({ index: b.index, message: l1BatchMessage(b), known: this.known.get(b.index) }))
    for (const b of batches) this.known.delete(b.index)
    const { done, error } = await this.run(delayed.map((d) => d.bytes), inputs)
    const out: VerifiedBatch[] = []
    const insert = this.db.prepare('INSERT INTO verified VALUES (?, ?, ?, ?, ?, ?, ?)')
    const insertW = this.db.prepare('INSERT INTO withdrawals VALUES (?, ?, ?, ?, ?, ?)')
    for (let i = 0; i < done.length; i++) {
      const e = done[i]!
      const b = batches[i]!
      this.keepState(b.index, { memory: e.before.memory, globals: e.before.globals, message: inputs[i]!.message })
      const v: VerifiedBatch = {
        index: b.index,
        stateRoot: e.stateRoot,
        machineRoot: e.machineRoot,
        outboxRoot: e.outboxRoot,
        outboxCount: e.outboxCount,
        l1Block: b.blockNumber,
        steps: e.steps,
      }
      this.db.transaction(() => {
        insert.run(v.index, v.stateRoot, v.machineRoot, v.outboxRoot, v.outboxCount, v.l1Block, v.steps)
        for (const w of e.withdrawals) insertW.run(w.index, b.index, w.l2Sender, w.to, w.asset, w.amount.toString())
      })()
      this.counts.batches++
      this.counts.executeMs += e.ms
      if (inputs[i]!.known) this.counts.knownRecoveryBatches++
      this.latest = v
      out.push(v)
      this.log(`verifier: batch ${b.index}${b.forced ? ' (forced)' : ''} from L1 block ${b.blockNumber}: state root ${v.stateRoot}`)
      this.emit('batch', v)
    }
    if (error) throw new Error(error)
    return out
  }

  /**
   * Follows an L1 reorg that took back inputs this verifier derived from: its records of the
   * batches taken back go first (so nobody reads them as verified meanwhile), then the engine goes
   * back to the state kept before the first of them. If that state is no longer kept, the verifier
   * stops verifying with an error that says how to recover.
   */
  private async goBack(r: L1Reorg) {
    const derived = this.latest ? this.latest.index + 1 : 0
    if (r.batch >= derived && r.delayed >= this.delayed.length) {
      this.log(`verifier: L1 reorg back to block ${r.ancestor}; it took back nothing this verifier derived from`)
      return
    }
    let state: EngineState | undefined
    if (r.batch < derived) {
      const kept = this.states.get(r.batch)
      if (!kept) {
        this.broken = new Error(
          `an L1 reorg back to block ${r.ancestor} took back batch ${r.batch} and later, but this verifier no longer keeps the engine state before batch ${r.batch} (it keeps the last ${this.opts.keepStates ?? 256}): restart the node, which derives everything from L1 again`,
        )
        throw this.broken
      }
      state = { memory: new Uint8Array(inflateRawSync(kept.memory)), globals: kept.globals }
    }
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM verified WHERE idx >= ?').run(r.batch)
      this.db.prepare('DELETE FROM withdrawals WHERE batch >= ?').run(r.batch)
    })()
    for (const k of [...this.states.keys()]) if (k >= r.batch) this.states.delete(k)
    this.delayed.length = r.delayed
    this.latest = r.batch > 0 ? this.verified(r.batch - 1) : undefined
    this.counts.reorgs++
    this.counts.batchesTakenBack += Math.max(0, derived - r.batch)
    const what = r.batch < derived ? `batches ${r.batch}..${derived - 1}` : 'no batch'
    this.log(`verifier: L1 reorg back to block ${r.ancestor} took back ${what} and delayed messages from ${r.delayed} on; deriving again from there`)
    try {
      await this.executor.restore(r.delayed, state)
    } catch (e) {
      this.broken = new Error(`the verifier could not go back to batch ${r.batch} after an L1 reorg (${(e as Error).message}): restart the node, which derives everything from L1 again`)
      throw this.broken
    }
    this.emit('reorg', { ...r, derivedBefore: derived } satisfies VerifierReorg)
  }

  /** Keeps the engine state before batch `index`, for dispute traces. */
  private keepState(index: number, state: KeptState) {
    this.states.set(index, state)
    const keep = this.opts.keepStates ?? 256
    for (const k of this.states.keys()) {
      if (this.states.size <= keep) break
      this.states.delete(k)
    }
  }

  /**
   * Everything a trace worker needs to re-execute batches from..to−1 on the VM (prover/dispute):
   * the engine state at inbox position `from`, the batch messages and the delayed messages.
   */
  traceTask(fromPosition: bigint, toPosition: bigint): TraceTask {
    const from = Number(fromPosition)
    const start = this.states.get(from)
    if (!start) {
      const kept = [...this.states.keys()]
      throw new Error(`the verifier no longer keeps the engine state at inbox position ${from} (it keeps ${kept.length ? `${kept[0]}..${kept[kept.length - 1]}` : 'none yet'}): restart the node with a larger keepStates to dispute older assertions`)
    }
    const messages: Uint8Array[] = []
    for (let p = from; p < Number(toPosition); p++) {
      const s = this.states.get(p)
      if (!s) throw new Error(`batch ${p} is not verified yet`)
      messages.push(s.message)
    }
    return {
      moduleRoot: this.genesisRoots.moduleRoot,
      inboxPosition: fromPosition,
      batchLimit: toPosition,
      memory: new Uint8Array(inflateRawSync(start.memory)),
      globals: start.globals,
      messages,
      delayed: this.delayed.map((bytes, i) => ({ index: BigInt(i), bytes })),
    }
  }

  /**
   * VM steps from the state at inbox position `from` to the one at `to`: the sum over batches
   * from..to-1, which must all be verified. What an assertion from `from` to `to` claims.
   */
  stepsBetween(fromPosition: bigint, toPosition: bigint): bigint {
    if (toPosition < fromPosition) throw new Error(`stepsBetween(${fromPosition}, ${toPosition}): the range is reversed`)
    const r = this.db
      .prepare<[bigint, bigint], { n: bigint; total: bigint | null }>('SELECT COUNT(*) AS n, SUM(steps) AS total FROM verified WHERE idx >= ? AND idx < ?')
      .safeIntegers(true)
      .get(fromPosition, toPosition)!
    if (r.n !== toPosition - fromPosition) throw new Error(`stepsBetween(${fromPosition}, ${toPosition}): only ${r.n} of those batches are verified`)
    return r.total ?? 0n
  }

  /** Polls L1 until stop(). Errors are logged and retried: L1 may be briefly unreachable. */
  start() {
    this.loop.start()
  }

  /**
   * Stops reading L1 after the round in flight; records, states and queries stay available, and
   * start() resumes. (The bench uses it to measure a sequencer whose validator runs elsewhere.)
   */
  async pause() {
    await this.loop.stop()
  }

  async stop() {
    await this.loop.stop()
    await this.executor.close()
    this.db.close()
  }

  /** The latest verified batch, if any. */
  head(): VerifiedBatch | undefined {
    return this.latest
  }

  verified(index: number): VerifiedBatch | undefined {
    const r = this.db.prepare<[number], { idx: number; state_root: Hex; machine_root: Hex; outbox_root: Hex; outbox_count: number; l1_block: number; steps: number }>(
      'SELECT * FROM verified WHERE idx = ?',
    ).get(index)
    return r && { index: r.idx, stateRoot: r.state_root, machineRoot: r.machine_root, outboxRoot: r.outbox_root, outboxCount: BigInt(r.outbox_count), l1Block: BigInt(r.l1_block), steps: BigInt(r.steps) }
  }

  /** Every withdrawal derived from L1, in outbox order. */
  withdrawals(): (WithdrawalRecord & { batch: number })[] {
    return this.db.prepare<[], { idx: number; batch: number; l2_sender: Address; recipient: Address; asset: number; amount: string }>(
      'SELECT * FROM withdrawals ORDER BY idx',
    ).all().map((r) => ({ index: BigInt(r.idx), batch: r.batch, l2Sender: r.l2_sender, to: r.recipient, asset: r.asset, amount: BigInt(r.amount) }))
  }

  /** The engine as derived from L1 (read-only queries); not reachable when it runs on a thread. */
  get state(): NativeEngine {
    if (this.executor instanceof ExecutorThread) throw new Error('this verifier runs its engine on a worker thread (thread: true): its state is not reachable from here')
    return this.executor.engine
  }
}
