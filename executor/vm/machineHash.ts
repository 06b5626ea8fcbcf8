/**
 * The machine hash (docs/vm.md "Machine hash"), computed on demand, never per step.
 *
 * - Ready (quiescent, empty stacks): exactly the L2 state root of docs/protocol.md §9, through
 *   stateRoot.ts, so the fast path and the VM agree bit for bit at batch boundaries.
 * - Running / Finished: keccak over status, pc, the value-stack and frame-stack hash chains,
 *   globals, memory, code and inbox position.
 * - Errored: keccak over status, module, code and inbox position only: a trap is terminal, and
 *   whatever the trapping instruction half did is not part of the state.
 */
import { type Hex, bytesToHex } from 'viem'
import { keccak, keccak2 } from './keccak.js'
import type { Machine } from './machine.js'
import { Status } from './machine.js'
import { MemoryMerkleTree } from './memoryTree.js'
import { exportedConst } from './module.js'
import { merkleRoot } from './merkle.js'
import { globalsHash, machineRoot, stateRoot } from './stateRoot.js'
import type { Program } from './program.js'
import type { VmMemory } from './machine.js'

const trees = new WeakMap<VmMemory, MemoryMerkleTree>()

/** The machine's memory tree, brought up to date (one incremental tree per memory). */
export function memoryTree(m: Machine): MemoryMerkleTree {
  let t = trees.get(m.memory)
  if (!t) {
    t = new MemoryMerkleTree(m.memory.asWasmMemory())
    trees.set(m.memory, t)
  } else t.update()
  return t
}

/** The memory root (and pages), updating a per-memory incremental tree. */
export function memoryRoot(m: Machine): { root: Uint8Array; pages: number } {
  const t = memoryTree(m)
  return { root: t.root(), pages: t.memoryPages }
}

const u64be = (lo: number, hi: number, out: Uint8Array, at: number) => {
  const dv = new DataView(out.buffer, out.byteOffset)
  dv.setUint32(at, hi >>> 0)
  dv.setUint32(at + 4, lo >>> 0)
}

/** The parts of a non-quiescent machine (exposed for proofs and debugging). */
export interface MachineParts {
  status: number
  func: number
  offset: number
  valueStackHash: Uint8Array
  valueStackSize: number
  frameStackHash: Uint8Array
  frameCount: number
  /** Locals of all frames together (with valueStackSize: the physical stack height the ENTER limit checks). */
  localsTotal: number
  globalsHash: Uint8Array
  memoryRoot: Uint8Array
  memoryPages: number
  moduleRoot: Uint8Array
  codeRoot: Uint8Array
  inboxPosition: bigint
}

/** Active frames from the bottom: function, fp, locals count, return pc. */
export function activeFrames(m: Machine) {
  const p = m.program
  const out: { func: number; fp: number; nLocals: number; retFunc: number; retOffset: number }[] = []
  for (let k = 0; k < m.frames; k++) {
    const top = k + 1 === m.frames
    const func = top ? m.func : m.frFunc[k + 1]!
    const fp = top ? m.fp : m.frFp[k + 1]!
    // before its ENTER step a frame has only its parameters as locals
    const entering = top && m.pc === p.funcStart[func]
    const nLocals = entering ? p.funcParams[func]! : p.funcLocals[func]!
    const retFunc = m.frFunc[k]!
    const retOffset = retFunc < 0 ? -1 : m.frRet[k]! - p.funcStart[retFunc]!
    out.push({ func, fp, nLocals, retFunc, retOffset })
  }
  return out
}

const ZERO32: Uint8Array = new Uint8Array(32)

export function machineParts(m: Machine): MachineParts {
  const p = m.program
  const frames = activeFrames(m)
  // value stack: the operands of every frame (its slots above its locals), bottom first
  let vh: Uint8Array = ZERO32
  let vsize = 0
  const slot = new Uint8Array(8)
  const pushValue = (i: number) => {
    u64be(m.lo[i]!, m.hi[i]!, slot, 0)
    vh = keccak2(slot, vh)
    vsize++
  }
  if (frames.length === 0) for (let i = 0; i < m.sp; i++) pushValue(i)
  frames.forEach((f, k) => {
    const end = k + 1 < frames.length ? frames[k + 1]!.fp : m.sp
    for (let i = f.fp + f.nLocals; i < end; i++) pushValue(i)
  })
  // frame stack: keccak(func u32 ‖ returnFunc u32 ‖ returnOffset u32 ‖ localsCount u32 ‖ localsRoot)
  let fh: Uint8Array = ZERO32
  const rec = new Uint8Array(48)
  const rdv = new DataView(rec.buffer)
  for (const f of frames) {
    const leaves: Uint8Array[] = []
    for (let i = 0; i < f.nLocals; i++) {
      const leaf = new Uint8Array(32)
      u64be(m.lo[f.fp + i]!, m.hi[f.fp + i]!, leaf, 24)
      leaves.push(leaf)
    }
    rdv.setUint32(0, f.func >>> 0)
    rdv.setUint32(4, f.retFunc >>> 0)
    rdv.setUint32(8, f.retOffset >>> 0)
    rdv.setUint32(12, f.nLocals)
    rec.set(merkleRoot(leaves), 16)
    fh = keccak2(keccak(rec), fh)
  }
  const mem = memoryRoot(m)
  const running = m.status === Status.Running
  return {
    status: m.status,
    func: running ? m.func : 0xffffffff,
    offset: running ? m.pc - p.funcStart[m.func]! : 0xffffffff,
    valueStackHash: vh,
    valueStackSize: vsize,
    frameStackHash: fh,
    frameCount: frames.length,
    localsTotal: frames.reduce((t, f) => t + f.nLocals, 0),
    globalsHash: globalsHash(m.globalValues()),
    memoryRoot: mem.root,
    memoryPages: mem.pages,
    moduleRoot: p.moduleRoot,
    codeRoot: p.codeRoot(),
    inboxPosition: m.inboxPosition,
  }
}

/** keccak(status u8 ‖ func u32 ‖ offset u32 ‖ vsHash ‖ vsSize u32 ‖ fsHash ‖ fsCount u32 ‖ localsTotal u32 ‖ globalsHash ‖ memoryRoot ‖ pages u32 ‖ moduleRoot ‖ codeRoot ‖ inboxPosition u64) */
export function hashParts(x: MachineParts): Uint8Array {
  const buf = new Uint8Array(1 + 4 + 4 + 32 + 4 + 32 + 4 + 4 + 32 + 32 + 4 + 32 + 32 + 8)
  const dv = new DataView(buf.buffer)
  let o = 0
  buf[o] = x.status; o += 1
  dv.setUint32(o, x.func >>> 0); o += 4
  dv.setUint32(o, x.offset >>> 0); o += 4
  buf.set(x.valueStackHash, o); o += 32
  dv.setUint32(o, x.valueStackSize); o += 4
  buf.set(x.frameStackHash, o); o += 32
  dv.setUint32(o, x.frameCount); o += 4
  dv.setUint32(o, x.localsTotal); o += 4
  buf.set(x.globalsHash, o); o += 32
  buf.set(x.memoryRoot, o); o += 32
  dv.setUint32(o, x.memoryPages); o += 4
  buf.set(x.moduleRoot, o); o += 32
  buf.set(x.codeRoot, o); o += 32
  dv.setBigUint64(o, x.inboxPosition)
  return keccak(buf)
}

/** The L2 state root of a quiescent machine (docs/protocol.md §9). */
export function quiescentStateRoot(m: Machine): Hex {
  const p = m.program
  const mem = memoryRoot(m)
  const outPtr = exportedConst(p, 'OUTBOX_ROOT_PTR')
  return stateRoot({
    moduleRoot: bytesToHex(p.moduleRoot),
    machineRoot: machineRoot(globalsHash(m.globalValues()), mem.root, mem.pages),
    inboxPosition: m.inboxPosition,
    outboxRoot: bytesToHex(m.memory.u8.slice(outPtr, outPtr + 32)),
  })
}

/** The machine hash at its current step. */
export function machineHash(m: Machine): Hex {
  if (m.status === Status.Ready) return quiescentStateRoot(m)
  if (m.status === Status.Errored) {
    const buf = new Uint8Array(1 + 32 + 32 + 8)
    buf[0] = Status.Errored
    buf.set(m.program.moduleRoot, 1)
    buf.set(m.program.codeRoot(), 33)
    new DataView(buf.buffer).setBigUint64(65, m.inboxPosition)
    return bytesToHex(keccak(buf))
  }
  return bytesToHex(hashParts(machineParts(m)))
}
