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
import { keccak } from './keccak.js'
import type { Machine } from './machine.js'
import { Status } from './machine.js'
import { MemoryMerkleTree } from './moduleMemory.js'
import { exportedConst } from './module.js'
import { merkleRoot } from './merkleProof.js'
import { EMPTY_FRAME_STACK_HASH, type Frame, localLeaf, pushFrame } from './stackFrame.js'
import { EMPTY_STACK_HASH, pushValue } from './valueStack.js'
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

/** A frame as the machine holds it: where its locals start on the physical stack. */
export interface ActiveFrame { func: number; fp: number; nLocals: number; retFunc: number; retOffset: number }

/** Active frames from the bottom: function, fp, locals count, return pc. */
export function activeFrames(m: Machine): ActiveFrame[] {
  const p = m.program
  const out: ActiveFrame[] = []
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

/** Physical stack slots of the hashed value stack (every frame's operands, above its locals), bottom first. */
export function operandSlots(m: Machine, frames: readonly ActiveFrame[]): number[] {
  const out: number[] = []
  if (frames.length === 0) for (let i = 0; i < m.sp; i++) out.push(i)
  frames.forEach((f, k) => {
    const end = k + 1 < frames.length ? frames[k + 1]!.fp : m.sp
    for (let i = f.fp + f.nLocals; i < end; i++) out.push(i)
  })
  return out
}

/** A frame's hashed record (stackFrame.ts) and its locals' leaves. */
export function frameRecord(m: Machine, f: ActiveFrame): { frame: Frame; leaves: Uint8Array[] } {
  const leaves: Uint8Array[] = []
  for (let i = 0; i < f.nLocals; i++) leaves.push(localLeaf(m.lo[f.fp + i]!, m.hi[f.fp + i]!))
  return { frame: { func: f.func, retFunc: f.retFunc, retOffset: f.retOffset, localsCount: f.nLocals, localsRoot: merkleRoot(leaves) }, leaves }
}

export function machineParts(m: Machine): MachineParts {
  const p = m.program
  const frames = activeFrames(m)
  const slots = operandSlots(m, frames)
  let vh = EMPTY_STACK_HASH
  for (const i of slots) vh = pushValue(vh, m.lo[i]!, m.hi[i]!)
  let fh = EMPTY_FRAME_STACK_HASH
  for (const f of frames) fh = pushFrame(fh, frameRecord(m, f).frame)
  const mem = memoryRoot(m)
  const running = m.status === Status.Running
  return {
    status: m.status,
    func: running ? m.func : 0xffffffff,
    offset: running ? m.pc - p.funcStart[m.func]! : 0xffffffff,
    valueStackHash: vh,
    valueStackSize: slots.length,
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
