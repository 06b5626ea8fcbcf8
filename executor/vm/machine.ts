/**
 * The single-step machine's state (DESIGN.md "The machine state and its hash", docs/vm.md).
 *
 * Layout, chosen for the interpreter's speed: one value stack of 64-bit slots held as two
 * Int32Arrays (`lo`, `hi`); a frame's locals sit on it below its operands, starting at `fp`.
 * An i32 value always has hi = 0 (every instruction keeps that invariant), so a slot is a
 * well-defined u64 for hashing. The frame stack holds the caller's registers (return pc, fp,
 * function) for each active call; the current function's are in `pc`, `fp`, `func`.
 *
 * `steps` and `trapReason` are bookkeeping outside the machine hash.
 */
import type { GlobalValue } from './stateRoot.js'
import { LIMITS, type Program } from './program.js'

export const Status = {
  /** Executing instructions. */
  Running: 0,
  /** A direct invocation (spec tests) returned; results are on the value stack. Terminal. */
  Finished: 1,
  /** Trapped. Terminal: stepping it changes nothing. */
  Errored: 2,
  /** Quiescent at a batch boundary: empty stacks; the next step enters `run_batch`. */
  Ready: 3,
} as const
export type StatusCode = (typeof Status)[keyof typeof Status]

export const STATUS_NAMES = ['running', 'finished', 'errored', 'ready'] as const

const PAGE = 65536

/**
 * Linear memory as a plain ArrayBuffer of `pages` × 64 KiB. It has the `buffer` property that
 * MemoryMerkleTree reads, so the VM reuses the native path's memory tree unchanged.
 */
export class VmMemory {
  buffer: ArrayBuffer
  u8: Uint8Array
  dv: DataView
  constructor(bytes: Uint8Array, readonly maxPages: number) {
    this.buffer = new ArrayBuffer(bytes.length)
    this.u8 = new Uint8Array(this.buffer)
    this.u8.set(bytes)
    this.dv = new DataView(this.buffer)
  }
  get pages(): number {
    return this.buffer.byteLength / PAGE
  }
  /** memory.grow: the old page count, or -1 past the limit (nothing changes then). */
  grow(delta: number): number {
    const old = this.pages
    if (delta === 0) return old
    if (old + delta > this.maxPages) return -1
    const next = new ArrayBuffer((old + delta) * PAGE)
    const u8 = new Uint8Array(next)
    u8.set(this.u8)
    this.buffer = next
    this.u8 = u8
    this.dv = new DataView(next)
    return old
  }
  copy(): VmMemory {
    return new VmMemory(this.u8, this.maxPages)
  }
  /** Presents itself as a WebAssembly.Memory to code that only reads `buffer`. */
  asWasmMemory(): WebAssembly.Memory {
    return this as unknown as WebAssembly.Memory
  }
}

/** Where host calls read inbox and delayed-inbox bytes. */
export interface VmContext {
  /** The batch message (header ‖ data) at inbox position `position`; undefined when the inbox has no such batch (the machine then stays Ready). */
  message(position: bigint): Uint8Array | undefined
  /** Delayed message `index`. */
  delayed(index: bigint): Uint8Array
}

/** A host function: reads its arguments from the top of the value stack and replaces them with its results; returns a trap reason or undefined. */
export type HostFn = (m: Machine) => string | undefined

export interface MachineOptions {
  /** Host functions by id (CALL_HOST's b). */
  hosts: HostFn[]
  context?: VmContext
  /** Function entered from Ready (the engine's `run_batch`); without it the machine only runs invocations. */
  entry?: number
}

export class Machine {
  status: StatusCode = Status.Finished
  /** Absolute pc into program.op. */
  pc = 0
  func = -1
  fp = 0
  sp = 0
  frames = 0
  readonly lo: Int32Array
  readonly hi: Int32Array
  readonly frRet: Int32Array
  readonly frFp: Int32Array
  readonly frFunc: Int32Array
  /** Mutable globals, lo/hi pairs, in module index order. */
  globals: Int32Array
  memory: VmMemory
  inboxPosition = 0n
  /** Executed steps (not hashed). */
  steps = 0
  trapReason?: string
  readonly hosts: HostFn[]
  context: VmContext
  readonly entry: number

  constructor(readonly program: Program, opts: MachineOptions, memory?: VmMemory, globals?: Int32Array) {
    const slots = LIMITS.stackSlots + 16
    this.lo = new Int32Array(slots)
    this.hi = new Int32Array(slots)
    this.frRet = new Int32Array(LIMITS.callDepth)
    this.frFp = new Int32Array(LIMITS.callDepth)
    this.frFunc = new Int32Array(LIMITS.callDepth)
    this.memory = memory ?? new VmMemory(program.initialMemory, program.memory?.max ?? 0)
    this.globals = globals ?? program.globalInit.slice()
    this.hosts = opts.hosts
    this.context = opts.context ?? { message: () => undefined, delayed: (i) => { throw new Error(`no delayed message ${i}: the machine has no context`) } }
    this.entry = opts.entry ?? -1
    if (this.entry >= 0) this.status = Status.Ready
  }

  /**
   * A quiescent machine at a batch boundary of the native engine: its memory bytes, mutable
   * globals (in index order, as NativeEngine.globals() returns them) and inbox position.
   */
  static atBoundary(program: Program, state: { memory: Uint8Array; globals: readonly GlobalValue[]; inboxPosition: bigint }, opts: MachineOptions): Machine {
    if (opts.entry === undefined || opts.entry < 0) throw new Error('atBoundary needs the entry function (run_batch)')
    if (state.memory.length % PAGE !== 0) throw new Error('memory size is not a whole number of pages')
    if (state.globals.length !== program.globalTypes.length) {
      throw new Error(`the engine state has ${state.globals.length} mutable globals, the module ${program.globalTypes.length}`)
    }
    const g = new Int32Array(program.globalTypes.length * 2)
    state.globals.forEach((v, i) => {
      const u = BigInt.asUintN(64, v.value)
      g[2 * i] = Number(u & 0xffffffffn) | 0
      g[2 * i + 1] = Number(u >> 32n) | 0
    })
    const m = new Machine(program, opts, new VmMemory(state.memory, program.memory?.max ?? 0), g)
    m.inboxPosition = state.inboxPosition
    return m
  }

  /** Function index of an export, or throws. */
  exportedFunction(name: string): number {
    const e = this.program.exports.get(name)
    if (!e || e.kind !== 'func') throw new Error(`the module exports no function ${name}`)
    return e.index
  }

  /**
   * Starts a direct call of `func` with `args` (spec tests, start functions): the machine becomes
   * Running with one frame and finishes with the results on the stack. Not a step.
   */
  invoke(func: number, args: readonly { lo: number; hi: number }[]): void {
    const p = this.program
    if (args.length !== p.funcParams[func]) throw new Error(`function ${func} takes ${p.funcParams[func]} arguments, got ${args.length}`)
    this.sp = 0
    this.frames = 0
    this.trapReason = undefined
    for (const a of args) {
      this.lo[this.sp] = a.lo
      this.hi[this.sp] = a.hi
      this.sp++
    }
    const host = p.funcHost[func]!
    if (host >= 0) {
      const trap = this.hosts[host]!(this)
      this.status = trap ? Status.Errored : Status.Finished
      this.trapReason = trap
      return
    }
    this.frRet[0] = -1
    this.frFp[0] = 0
    this.frFunc[0] = -1
    this.frames = 1
    this.fp = 0
    this.func = func
    this.pc = p.funcStart[func]!
    this.status = Status.Running
  }

  /** The values left on the stack by a finished invocation. */
  results(): { lo: number; hi: number }[] {
    const out = []
    for (let i = 0; i < this.sp; i++) out.push({ lo: this.lo[i]!, hi: this.hi[i]! })
    return out
  }

  /** Mutable globals as the state root wants them. */
  globalValues(): GlobalValue[] {
    return this.program.globalTypes.map((t, i) => {
      const lo = BigInt(this.globals[2 * i]! >>> 0)
      const hi = BigInt(this.globals[2 * i + 1]! >>> 0)
      return t === 0x7f ? { type: 'i32' as const, value: lo } : { type: 'i64' as const, value: (hi << 32n) | lo }
    })
  }

  /** A deep copy (memory included): a trace checkpoint. Hosts and context are shared. */
  snapshot(): Machine {
    const c = new Machine(this.program, { hosts: this.hosts, context: this.context, entry: this.entry }, this.memory.copy(), this.globals.slice())
    c.status = this.status
    c.pc = this.pc
    c.func = this.func
    c.fp = this.fp
    c.sp = this.sp
    c.frames = this.frames
    c.lo.set(this.lo.subarray(0, this.sp))
    c.hi.set(this.hi.subarray(0, this.sp))
    c.frRet.set(this.frRet.subarray(0, this.frames))
    c.frFp.set(this.frFp.subarray(0, this.frames))
    c.frFunc.set(this.frFunc.subarray(0, this.frames))
    c.inboxPosition = this.inboxPosition
    c.steps = this.steps
    c.trapReason = this.trapReason
    return c
  }
}
