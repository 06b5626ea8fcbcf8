/**
 * The verifier's compute: runs L1 batches on the native engine and, from the same starting
 * state, on the single-step VM, checks both end in the same state, and computes the roots. It
 * holds no record (executor/verifier.ts keeps those), so it can run on its own thread
 * (executor/executorThread.ts) and keep that work off the node's event loop.
 *
 * Signatures: with a recovery pool, a batch's signatures are recovered on worker threads (the
 * next batch's while this one runs) and land in the ecrecover memo, so the VM's and the engine's
 * host calls find them there. A batch that comes with the recoveries the sequencer already made
 * (`known`) skips that step.
 */
import { deflateRawSync } from 'node:zlib'
import { type Hex, bytesToHex } from 'viem'
import { NativeEngine, engineWasmPath } from './engine/host.js'
import type { WithdrawalRecord } from './engine/types.js'
import { listContext, loadEngineProgramFile, machineFromEngine, runBatchVm } from './vm/engine.js'
import { Status } from './vm/machine.js'
import type { Program } from './vm/program.js'
import { type GlobalValue, StateRootTracker } from './vm/stateRoot.js'
import { RecoveryPool } from '../sequencer/recoveryPool.js'
import { type KnownRecoveries, rememberRecoveries, uncachedRecoveries } from './vm/ecrecover.js'
import { BATCH_FORMAT_RAW, BATCH_HEADER_LEN, encodeGenesis, itemLength, type GenesisConfig } from '../sdk/protocol.js'

export interface BatchInput {
  index: number
  message: Uint8Array
  /**
   * Recoveries of this batch's signatures already made in this process (the sequencer's, see
   * Verifier.addKnownRecoveries): recorded in the memo instead of recovering them again.
   */
  known?: KnownRecoveries
}

export interface ExecutedBatch {
  index: number
  stateRoot: Hex
  machineRoot: Hex
  outboxRoot: Hex
  outboxCount: bigint
  steps: bigint
  withdrawals: WithdrawalRecord[]
  /** The engine state before the batch (memory deflated), kept for dispute traces. */
  before: { memory: Uint8Array; globals: GlobalValue[] }
  /** Time spent on this batch (VM, engine, roots, snapshot), ms. */
  ms: number
  /**
   * Signatures the VM's and the engine's host calls had to recover themselves (memo misses):
   * 0 when the recovery pool or the sequencer's known recoveries answered every one.
   */
  hostRecoveries: number
}

export interface ExecuteResult {
  done: ExecutedBatch[]
  /** Why the batch after the last done one could not be verified (fatal for the verifier). */
  error?: string
}

/** An engine state at a batch boundary: what a state root and a VM machine are built from. */
export interface EngineState { memory: Uint8Array; globals: GlobalValue[] }

export interface GenesisRootsInfo { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex; moduleRoot: Hex }

/** The signed items of a batch message (header ‖ format ‖ items), as the engine will split them. */
export function batchItems(message: Uint8Array): Uint8Array[] {
  const items: Uint8Array[] = []
  if (message[BATCH_HEADER_LEN] !== BATCH_FORMAT_RAW) return items
  for (let o = BATCH_HEADER_LEN + 1; o < message.length; ) {
    const len = itemLength(message.subarray(o, o + 6))
    if (!len || o + len > message.length) break
    items.push(message.subarray(o, o + len))
    o += len
  }
  return items
}

export class BatchExecutor {
  private readonly delayed: Uint8Array[] = []
  readonly genesisRoots: GenesisRootsInfo
  private engine_: NativeEngine
  private tracker: StateRootTracker

  private constructor(
    engine: NativeEngine,
    private readonly program: Program,
    private readonly pool?: RecoveryPool,
  ) {
    this.engine_ = engine
    this.tracker = new StateRootTracker(engine)
    const g = this.tracker.compute(0n)
    this.genesisRoots = { stateRoot: g.stateRoot, machineRoot: g.machineRoot, outboxRoot: g.outboxRoot, moduleRoot: g.moduleRoot }
  }

  /** The native engine, in the state after the last batch run. */
  get engine(): NativeEngine {
    return this.engine_
  }

  /** A fresh engine instance whose delayed-message reads come from this executor's list. */
  private static loadEngine(delayed: () => Uint8Array[]): Promise<NativeEngine> {
    return NativeEngine.load({
      delayed: (i) => {
        const m = delayed()[Number(i)]
        if (!m) throw new Error(`batch reads delayed message ${i} that L1 has not delivered`)
        return m
      },
    })
  }

  /**
   * @param recoveryThreads worker threads that recover signatures ahead of execution; 0 for none
   * @param nice their nice value (tsWorker)
   */
  static async create(genesis: GenesisConfig, recoveryThreads = 0, nice = 0): Promise<BatchExecutor> {
    let self: BatchExecutor | undefined
    const engine = await BatchExecutor.loadEngine(() => self?.delayed ?? [])
    engine.init(encodeGenesis(genesis))
    const program = loadEngineProgramFile(engineWasmPath())
    if (bytesToHex(program.moduleRoot) !== engine.moduleRoot) throw new Error('the VM and the native engine loaded different engine modules')
    const pool = recoveryThreads > 0 ? new RecoveryPool({ chainId: genesis.chainId, threads: recoveryThreads, nice }) : undefined
    self = new BatchExecutor(engine, program, pool)
    return self
  }

  /**
   * Goes back after an L1 reorg took inputs back: keeps only the first `delayedCount` delayed
   * messages and, when batches were taken back too, the engine state before the first of them (as
   * ExecutedBatch.before kept it, memory inflated). A new engine instance holds that state, because
   * memory never shrinks in place.
   */
  async restore(delayedCount: number, state?: EngineState): Promise<void> {
    if (delayedCount > this.delayed.length) throw new Error(`restore to ${delayedCount} delayed messages, but only ${this.delayed.length} are known`)
    if (state) {
      const engine = await BatchExecutor.loadEngine(() => this.delayed)
      engine.restore(state)
      this.engine_ = engine
      this.tracker = new StateRootTracker(engine)
    }
    this.delayed.length = delayedCount
  }

  addDelayed(messages: Uint8Array[]) {
    this.delayed.push(...messages)
  }

  /**
   * Executes batches in order; stops at the first that fails (returned as `error`). With a pool,
   * batch i+1's signatures are being recovered while batch i runs.
   */
  async execute(batches: BatchInput[]): Promise<ExecuteResult> {
    const done: ExecutedBatch[] = []
    const recover = (i: number) => {
      const b = batches[i]
      return this.pool && b && !b.known ? this.pool.recoverMany(batchItems(b.message), { addresses: false }) : Promise.resolve([])
    }
    let next = recover(0)
    for (let i = 0; i < batches.length; i++) {
      await next
      next = recover(i + 1)
      const b = batches[i]!
      // Recorded just before the run, so a long batch's entries cannot push out the previous one's.
      if (b.known) rememberRecoveries(b.known)
      try {
        done.push(this.run(b))
      } catch (e) {
        await next.catch(() => {})
        return { done, error: (e as Error).message }
      }
    }
    return { done }
  }

  private run(b: BatchInput): ExecutedBatch {
    const t0 = performance.now()
    const recovered0 = uncachedRecoveries()
    const before = { memory: deflateRawSync(new Uint8Array(this.engine.memory.buffer), { level: 1 }), globals: this.engine.globals() }
    const vm = this.startVm(b.index, b.message)
    const { withdrawals } = this.engine.runBatch(b.message)
    const steps = this.finishVm(b.index, vm)
    const roots = this.tracker.compute(BigInt(b.index + 1))
    return {
      index: b.index,
      stateRoot: roots.stateRoot,
      machineRoot: roots.machineRoot,
      outboxRoot: roots.outboxRoot,
      outboxCount: this.engine.outboxCount(),
      steps,
      withdrawals,
      before,
      ms: performance.now() - t0,
      hostRecoveries: uncachedRecoveries() - recovered0,
    }
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
  private finishVm(index: number, vm: ReturnType<BatchExecutor['startVm']>): bigint {
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

  async close() {
    await this.pool?.close()
  }
}
