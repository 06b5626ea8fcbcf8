/**
 * The verifier: derives the L2 state from L1 data only (batches and delayed messages read by
 * InboxReader), runs each batch through `run_batch` on the native engine, and records the state
 * root after every batch in its own SQLite file. It never talks to the sequencer.
 *
 * Every batch also runs once on the single-step VM, from the native state before it: that counts
 * the VM steps the batch takes (what an assertion claims and a dispute bisects, docs/disputes.md)
 * and checks that the VM ends in exactly the native state, so the state roots the proposer posts
 * are ones a one-step proof can defend.
 */
import Database from 'better-sqlite3'
import { EventEmitter } from 'node:events'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { type Address, type Hex, bytesToHex } from 'viem'
import { NativeEngine } from './engine/host.js'
import type { WithdrawalRecord } from './engine/types.js'
import { InboxReader, l1BatchMessage } from './inboxReader.js'
import { PollLoop } from './pollLoop.js'
import { engineWasmPath } from './engine/host.js'
import { listContext, loadEngineProgramFile, machineFromEngine, runBatchVm } from './vm/engine.js'
import { Status } from './vm/machine.js'
import type { Program } from './vm/program.js'
import { type GlobalValue, StateRootTracker } from './vm/stateRoot.js'
import type { TraceTask } from '../prover/dispute/traceTask.js'
import type { L1Public } from '../contracts/l1.js'
import { encodeGenesis, type GenesisConfig } from '../sdk/protocol.js'

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
  log?: (line: string) => void
  /**
   * Batch boundaries whose engine state is kept (compressed) for dispute traces; default 256.
   * A dispute over an assertion whose parent is older than that needs a node restarted with more.
   */
  keepStates?: number
}

/** The engine state before one batch, kept for dispute traces. */
interface KeptState { memory: Buffer; globals: GlobalValue[]; message: Uint8Array }

/** Events: 'batch' (VerifiedBatch). */
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
  genesisRoots!: { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex; moduleRoot: Hex }

  private constructor(
    private readonly opts: VerifierOptions,
    private readonly engine: NativeEngine,
    private readonly tracker: StateRootTracker,
    private readonly program: Program,
  ) {
    super()
    this.log = opts.log ?? (() => {})
    this.loop = new PollLoop(() => this.sync(), opts.pollMs ?? 500, (e) => this.log(`verifier: L1 read failed, retrying: ${e.message.split('\n')[0]}`))
    this.reader = new InboxReader(opts.l1, opts.inbox, opts.fromBlock)
    this.db = new Database(opts.dbPath)
    this.db.pragma('journal_mode = WAL')
    // The verifier re-derives everything from L1 on start; its file is a record, not the truth.
    this.db.exec(`
      DROP TABLE IF EXISTS verified; DROP TABLE IF EXISTS withdrawals;
      CREATE TABLE verified (idx INTEGER PRIMARY KEY, state_root TEXT, machine_root TEXT, outbox_root TEXT, outbox_count INTEGER, l1_block INTEGER, steps INTEGER NOT NULL);
      CREATE TABLE withdrawals (idx INTEGER PRIMARY KEY, batch INTEGER, l2_sender TEXT, recipient TEXT, asset INTEGER, amount TEXT);
    `)
  }

  static async create(opts: VerifierOptions): Promise<Verifier> {
    let self: Verifier | undefined
    const engine = await NativeEngine.load({
      delayed: (i) => {
        const m = self?.delayed[Number(i)]
        if (!m) throw new Error(`batch reads delayed message ${i} that L1 has not delivered`)
        return m
      },
    })
    engine.init(encodeGenesis(opts.genesis))
    const tracker = new StateRootTracker(engine)
    const program = loadEngineProgramFile(engineWasmPath())
    if (bytesToHex(program.moduleRoot) !== engine.moduleRoot) throw new Error('the VM and the native engine loaded different engine modules')
    self = new Verifier(opts, engine, tracker, program)
    const g = tracker.compute(0n)
    self.genesisRoots = { stateRoot: g.stateRoot, machineRoot: g.machineRoot, outboxRoot: g.outboxRoot, moduleRoot: g.moduleRoot }
    return self
  }

  /** Reads L1 once and executes every new batch. Returns the batches verified. */
  async sync(): Promise<VerifiedBatch[]> {
    const { batches, delayed } = await this.reader.poll()
    for (const d of delayed) this.delayed.push(d.bytes)
    const out: VerifiedBatch[] = []
    const insert = this.db.prepare('INSERT INTO verified VALUES (?, ?, ?, ?, ?, ?, ?)')
    const insertW = this.db.prepare('INSERT INTO withdrawals VALUES (?, ?, ?, ?, ?, ?)')
    for (const b of batches) {
      const message = l1BatchMessage(b)
      this.keepState(b.index, message)
      const vm = this.startVm(b.index, message)
      const { withdrawals } = this.engine.runBatch(message)
      const steps = this.finishVm(b.index, vm)
      const roots = this.tracker.compute(BigInt(b.index + 1))
      const v: VerifiedBatch = {
        index: b.index,
        stateRoot: roots.stateRoot,
        machineRoot: roots.machineRoot,
        outboxRoot: roots.outboxRoot,
        outboxCount: this.engine.outboxCount(),
        l1Block: b.blockNumber,
        steps,
      }
      this.db.transaction(() => {
        insert.run(v.index, v.stateRoot, v.machineRoot, v.outboxRoot, v.outboxCount, v.l1Block, v.steps)
        for (const w of withdrawals) insertW.run(w.index, b.index, w.l2Sender, w.to, w.asset, w.amount.toString())
      })()
      this.latest = v
      out.push(v)
      this.log(`verifier: batch ${b.index}${b.forced ? ' (forced)' : ''} from L1 block ${b.blockNumber}: state root ${v.stateRoot}`)
      this.emit('batch', v)
    }
    return out
  }

  /**
   * Runs batch `index` on the VM from the native state before it (the native engine has not run it
   * yet); returns the finished machine and its step count. Any failure is fatal: a batch the VM
   * cannot run is one no assertion over it could defend.
   */
  private startVm(index: number, message: Uint8Array) {
    const context = listContext(BigInt(index), [message], (i) => {
      const d = this.delayed[Number(i)]
      if (!d) throw new Error(`batch reads delayed message ${i} that L1 has not delivered`)
      return d
    })
    const machine = machineFromEngine(this.program, this.engine, BigInt(index), context)
    try {
      return { machine, steps: runBatchVm(machine) }
    } catch (e) {
      throw new Error(`verifier: batch ${index} fails on the VM: ${(e as Error).message}`)
    }
  }

  /**
   * Checks that the VM ended Ready at index + 1 in exactly the native engine's state after the
   * batch: the same memory bytes and mutable globals. The state root is a function of those (plus
   * the module and inbox position, shared by construction), so the VM's machine hash equals the
   * native state root; comparing bytes avoids Merkle-izing the VM's memory a second time.
   */
  private finishVm(index: number, vm: ReturnType<Verifier['startVm']>): bigint {
    const m = vm.machine
    const fail = (why: string) => {
      throw new Error(`verifier: batch ${index}: the VM and the native engine disagree (${why}); state roots would not be provable`)
    }
    if (m.status !== Status.Ready || m.inboxPosition !== BigInt(index + 1)) fail(`VM status ${m.status} at inbox position ${m.inboxPosition}`)
    const native = new Uint8Array(this.engine.memory.buffer)
    if (native.length !== m.memory.u8.length) fail(`memory ${m.memory.u8.length} vs ${native.length} bytes`)
    if (Buffer.compare(native, m.memory.u8) !== 0) fail('memory differs')
    const vg = m.globalValues()
    const ng = this.engine.globals()
    if (vg.length !== ng.length || vg.some((g, i) => g.type !== ng[i]!.type || g.value !== ng[i]!.value)) fail('globals differ')
    return BigInt(vm.steps)
  }

  /** Keeps the engine state before batch `index` (call it before anything runs the batch). */
  private keepState(index: number, message: Uint8Array) {
    const memory = deflateRawSync(new Uint8Array(this.engine.memory.buffer), { level: 1 })
    this.states.set(index, { memory, globals: this.engine.globals(), message })
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
      moduleRoot: this.engine.moduleRoot,
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

  async stop() {
    await this.loop.stop()
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

  /** The engine as derived from L1 (read-only queries). */
  get state(): NativeEngine {
    return this.engine
  }
}
