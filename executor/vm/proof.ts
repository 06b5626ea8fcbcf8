/**
 * One-step proofs (docs/vm.md "One-step proofs"): the witness that lets the Solidity
 * OneStepProofEntry recompute the machine hash before a step from the parts the step touches,
 * execute the one instruction, and hash the result.
 *
 * Layout (all integers big-endian), parsed sequentially by contracts/src/osp:
 *
 *   proof   = status u8 ‖ body
 *   Errored : moduleRoot ‖ codeRoot ‖ inboxPosition u64
 *   Ready   : globalsHash ‖ memoryRoot ‖ pages u32 ‖ moduleRoot ‖ inboxPosition u64 ‖ outboxRoot
 *   Running / Finished :
 *     func u32 ‖ offset u32
 *     ‖ vsSize u32 ‖ n u8 ‖ n × value u64 (bottom → top) ‖ vsRest bytes32
 *     ‖ frameCount u32 ‖ localsTotal u32 ‖ f u8 (0 or 1) ‖ f × frame ‖ fsRest bytes32
 *     ‖ globalsHash ‖ memoryRoot ‖ pages u32 ‖ moduleRoot ‖ codeRoot ‖ inboxPosition u64
 *     (Running only:)
 *     ‖ instruction (10 bytes) ‖ d u8 ‖ d × bytes32 (path in the function tree)
 *     ‖ functionCount u32 ‖ ceil(log2 functionCount) × bytes32 (path in the code tree)
 *     ‖ witness (per opcode, below)
 *   frame = func u32 ‖ returnFunc u32 ‖ returnOffset u32 ‖ localsCount u32 ‖ localsRoot
 *
 * Witness: local.get/set/tee: value u64 ‖ ceil(log2 localsCount) × bytes32; ENTER: localsCount ×
 * u64 (the parameters); global.get/set: count u16 ‖ count × (type u8 ‖ value u64); loads and
 * stores: leaf ‖ 23 × bytes32, and a second leaf ‖ 23 × bytes32 when the access crosses into the
 * next 32-byte leaf (for a store, proven against the tree with the first leaf already written);
 * the RETURN that makes the machine Ready: the leaf at OUTBOX_ROOT_PTR ‖ 23 × bytes32.
 * Host calls (engine host list): inbox_read / delayed_read: msgLen u32 ‖ message, then (when bytes
 * are copied) a memory multi-proof of [dest, dest + n); keccak256: a multi-proof of [ptr, ptr + len)
 * and [out, out + 32); ecrecover: of [hash, +32), [sig, +65), [out, +20); nothing when the call traps.
 * Multi-proof = the covering leaves (ascending, each once) ‖ the siblings a bottom-up pass consumes
 * (writeMultiProof).
 */
import { KECCAK_MAX_LEN, MEMORY_TREE_DEPTH } from '../../sdk/protocol.js'
import { ENGINE_IMPORTS, HostId } from './host.js'
import { keccak2 } from './keccak.js'
import { Status, type Machine } from './machine.js'
import { activeFrames, frameRecord, machineParts, memoryTree, operandSlots } from './machineHash.js'
import { leavesOf, writeMultiProof } from './memoryMultiProof.js'
import { EMPTY_FRAME_STACK_HASH, pushFrame } from './stackFrame.js'
import { valueStackHash } from './valueStack.js'
import { exportedConst, tableLeaf, tableProof } from './module.js'
import { merkleProof } from './merkleProof.js'
import { encodeInstruction, Op, opName } from './instructions.js'
import { functionRoot, instructionLeaf, type Program } from './program.js'
import type { Trace } from './trace.js'

class Writer {
  private buf = new Uint8Array(1024)
  private n = 0
  private room(k: number) {
    if (this.n + k <= this.buf.length) return
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k))
    b.set(this.buf.subarray(0, this.n))
    this.buf = b
  }
  u8(x: number) { this.room(1); this.buf[this.n++] = x & 0xff }
  u16(x: number) { this.u8(x >>> 8); this.u8(x) }
  u32(x: number) { this.room(4); new DataView(this.buf.buffer).setUint32(this.n, x >>> 0); this.n += 4 }
  u64(x: bigint) { this.room(8); new DataView(this.buf.buffer).setBigUint64(this.n, BigInt.asUintN(64, x)); this.n += 8 }
  bytes(b: Uint8Array) { this.room(b.length); this.buf.set(b, this.n); this.n += b.length }
  done(): Uint8Array { return this.buf.slice(0, this.n) }
}

const ZERO32 = new Uint8Array(32)
const slotValue = (m: Machine, i: number) => (BigInt(m.hi[i]! >>> 0) << 32n) | BigInt(m.lo[i]! >>> 0)

/** Per-program caches of the code trees. */
const codeCache = new WeakMap<Program, { funcLeaves: Map<number, Uint8Array[]>; roots: Uint8Array[] }>()
function codeTrees(p: Program) {
  let c = codeCache.get(p)
  if (!c) {
    const roots: Uint8Array[] = []
    for (let f = 0; f < p.funcStart.length; f++) roots.push(functionRoot(p, f))
    c = { funcLeaves: new Map(), roots }
    codeCache.set(p, c)
  }
  return c
}
function functionLeaves(p: Program, f: number): Uint8Array[] {
  const c = codeTrees(p)
  let l = c.funcLeaves.get(f)
  if (!l) {
    l = []
    for (let i = 0; i < p.funcLength[f]!; i++) l.push(instructionLeaf(p, p.funcStart[f]! + i))
    c.funcLeaves.set(f, l)
  }
  return l
}

/** Host functions: number of parameters by host id. */
const HOST_PARAMS = [3, 4, 3, 3, 4]

/** Memory access width of a load/store opcode, or 0. */
export function accessWidth(op: number): number {
  switch (op) {
    case 0x28: case 0x34: case 0x35: case 0x36: case 0x3e: return 4
    case 0x29: case 0x37: return 8
    case 0x2c: case 0x2d: case 0x30: case 0x31: case 0x3a: case 0x3c: return 1
    case 0x2e: case 0x2f: case 0x32: case 0x33: case 0x3b: case 0x3d: return 2
    default: return 0
  }
}

/** How many top value-stack items the proof reveals for an instruction. */
function valuesNeeded(op: number, b: number): number {
  if (op === Op.BR) return (b >>> 16) + (b & 0xffff)
  if (op === Op.BR_IF) return 1 + (b >>> 16) + (b & 0xffff)
  if (op === Op.RETURN) return b >>> 0
  if (op === Op.CALL) return b >>> 0
  if (op === Op.CALL_HOST) return HOST_PARAMS[b] ?? 0
  if (op === Op.SELECT) return 3
  if (op === Op.DROP || op === Op.LOCAL_SET || op === Op.LOCAL_TEE || op === Op.GLOBAL_SET || op === Op.MEMORY_GROW) return 1
  if (op === Op.CALL_INDIRECT) return 1 + (b >>> 0) // the table index, then the callee's arguments
  if (op === Op.BR_TABLE || op === Op.JUMP_IF_ZERO || op === Op.JUMP_IF) return 1
  if (op >= 0x28 && op <= 0x35) return 1
  if (op >= 0x36 && op <= 0x3e) return 2
  if (op === 0x45 || op === 0x50 || (op >= 0x67 && op <= 0x69) || (op >= 0x79 && op <= 0x7b) || op === 0xa7 || op === 0xac || op === 0xad || (op >= 0xc0 && op <= 0xc4)) return 1
  if ((op >= 0x46 && op <= 0x4f) || (op >= 0x51 && op <= 0x5a) || (op >= 0x6a && op <= 0x78) || (op >= 0x7c && op <= 0x8a)) return 2
  return 0
}

/** A memory leaf and its path (bottom first). */
function memoryLeafProof(m: Machine, index: number): { leaf: Uint8Array; siblings: Uint8Array[] } {
  return memoryTree(m).proof(index)
}

/**
 * Whether the L1 prover handles a CALL_HOST with host id `id`: abort (id 4, OneStepProver0) always.
 * Host ids 0–3 are the engine's I/O functions only for a module linked against ENGINE_IMPORTS
 * (the spec runner's print functions reuse those ids). Which implementation serves them (e.g.
 * uncached recovery in a benchmark) does not matter: the L1 prover checks their semantics.
 */
function hostProvable(m: Machine, id: number): boolean {
  return id === HostId.ABORT || (id < HostId.ABORT && m.program.imports === ENGINE_IMPORTS)
}

/** The witness of a host call (docs/vm.md "One-step proofs"); `operand(i)` is the i-th value from the top. */
function writeHostWitness(w: Writer, m: Machine, id: number, operand: (i: number) => bigint) {
  const mem = m.memory.u8.length
  const u32 = (i: number) => Number(operand(i) & 0xffffffffn)
  if (id === HostId.KECCAK256) {
    const ptr = u32(2), len = u32(1), out = u32(0)
    if (len > KECCAK_MAX_LEN || ptr + len > mem || out + 32 > mem) return
    writeMultiProof(w, memoryTree(m), leavesOf([[ptr, len], [out, 32]]))
  } else if (id === HostId.ECRECOVER) {
    const hash = u32(2), sig = u32(1), out = u32(0)
    if (hash + 32 > mem || sig + 65 > mem || out + 20 > mem) return
    writeMultiProof(w, memoryTree(m), leavesOf([[hash, 32], [sig, 65], [out, 20]]))
  } else if (id === HostId.INBOX_READ || id === HostId.DELAYED_READ) {
    const delayed = id === HostId.DELAYED_READ
    const offset = u32(2), dest = u32(1), len = u32(0)
    const msg = delayed ? m.context.delayed(operand(3)) : (m.context.message(m.inboxPosition) ?? new Uint8Array(0))
    w.u32(msg.length)
    w.bytes(msg)
    const n = Math.max(0, Math.min(len, msg.length - offset))
    if (n === 0 || dest + n > mem) return
    writeMultiProof(w, memoryTree(m), leavesOf([[dest, n]]))
  }
}

/**
 * The proof of the machine's next step from its current state (the machine is not changed).
 * Throws for a step the Solidity prover does not support (see `provable`).
 */
export function proveStep(m: Machine): Uint8Array {
  const p = m.program
  const w = new Writer()
  w.u8(m.status)
  if (m.status === Status.Errored) {
    w.bytes(p.moduleRoot)
    w.bytes(p.codeRoot())
    w.u64(m.inboxPosition)
    return w.done()
  }
  const parts = machineParts(m)
  if (m.status === Status.Ready) {
    w.bytes(parts.globalsHash)
    w.bytes(parts.memoryRoot)
    w.u32(parts.memoryPages)
    w.bytes(parts.moduleRoot)
    w.u64(m.inboxPosition)
    const ptr = exportedConst(p, 'OUTBOX_ROOT_PTR')
    w.bytes(m.memory.u8.slice(ptr, ptr + 32))
    return w.done()
  }
  const running = m.status === Status.Running
  const op = running ? p.op[m.pc]! : -1
  const ia = running ? p.a[m.pc]! : 0
  const ib = running ? p.b[m.pc]! : 0

  // --- value stack: the operands of every frame, bottom first
  const frames = activeFrames(m)
  const values = operandSlots(m, frames).map((i) => slotValue(m, i))
  if (op === Op.RETURN) {
    const top = frames[frames.length - 1]!
    const height = m.sp - top.fp - top.nLocals
    if (height !== ib >>> 0) throw new Error(`internal: RETURN at pc ${m.pc} runs at operand height ${height}, its encoding says ${ib}`)
  }
  const reveal = running ? Math.min(values.length, valuesNeeded(op, ib)) : 0
  if (reveal > 255) throw new Error(`a step that touches ${reveal} stack values cannot be proven (at most 255)`)
  const rest = valueStackHash(values.slice(0, values.length - reveal))
  w.u32(parts.func)
  w.u32(parts.offset)
  w.u32(values.length)
  w.u8(reveal)
  for (let i = values.length - reveal; i < values.length; i++) w.u64(values[i]!)
  w.bytes(rest)

  // --- frame stack: the top frame revealed
  let fsRest = EMPTY_FRAME_STACK_HASH
  for (let k = 0; k < frames.length - 1; k++) fsRest = pushFrame(fsRest, frameRecord(m, frames[k]!).frame)
  w.u32(frames.length)
  w.u32(parts.localsTotal)
  const top = frames.length > 0 ? frameRecord(m, frames[frames.length - 1]!) : undefined
  w.u8(top ? 1 : 0)
  if (top) {
    w.u32(top.frame.func)
    w.u32(top.frame.retFunc)
    w.u32(top.frame.retOffset)
    w.u32(top.frame.localsCount)
    w.bytes(top.frame.localsRoot)
  }
  w.bytes(top ? fsRest : ZERO32)

  w.bytes(parts.globalsHash)
  w.bytes(parts.memoryRoot)
  w.u32(parts.memoryPages)
  w.bytes(parts.moduleRoot)
  w.bytes(parts.codeRoot)
  w.u64(m.inboxPosition)
  if (!running) return w.done()

  // --- the instruction and its two paths
  const offset = m.pc - p.funcStart[m.func]!
  w.bytes(encodeInstruction(op, ia, ib))
  const fpath = merkleProof(functionLeaves(p, m.func), offset)
  w.u8(fpath.length)
  for (const s of fpath) w.bytes(s)
  const trees = codeTrees(p)
  w.u32(trees.roots.length)
  for (const s of merkleProof(trees.roots, m.func)) w.bytes(s)

  // --- the instruction's witness
  const operand = (i: number) => values[values.length - 1 - i]! // i-th from the top
  if (op === Op.LOCAL_GET || op === Op.LOCAL_SET || op === Op.LOCAL_TEE) {
    w.u64(slotValue(m, frames[frames.length - 1]!.fp + ia))
    for (const s of merkleProof(top!.leaves, ia)) w.bytes(s)
  } else if (op === Op.ENTER) {
    for (let i = 0; i < top!.frame.localsCount; i++) w.u64(slotValue(m, frames[frames.length - 1]!.fp + i))
  } else if (op === Op.GLOBAL_GET || op === Op.GLOBAL_SET) {
    const n = p.globalTypes.length
    w.u16(n)
    for (let i = 0; i < n; i++) {
      w.u8(p.globalTypes[i]!)
      w.u64((BigInt(m.globals[2 * i + 1]! >>> 0) << 32n) | BigInt(m.globals[2 * i]! >>> 0))
    }
  } else if (accessWidth(op) > 0) {
    const width = accessWidth(op)
    const store = op >= 0x36
    const addr = Number(operand(store ? 1 : 0) & 0xffffffffn)
    const ea = addr + (ia >>> 0)
    if (ea + width <= m.memory.u8.length) {
      const idx = Math.floor(ea / 32)
      const first = memoryLeafProof(m, idx)
      w.bytes(first.leaf)
      for (const s of first.siblings) w.bytes(s)
      if ((ea % 32) + width > 32) {
        const second = memoryLeafProof(m, idx + 1)
        if (store) {
          // the second path as it is after the first leaf is written
          const leaf1 = first.leaf.slice()
          const v = operand(0)
          for (let i = 0; i < 32 - (ea % 32); i++) leaf1[(ea % 32) + i] = Number((v >> BigInt(8 * i)) & 0xffn)
          const path: Uint8Array[] = [leaf1]
          let h: Uint8Array = leaf1
          for (let k = 0; k < MEMORY_TREE_DEPTH; k++) {
            h = (idx >> k) & 1 ? keccak2(first.siblings[k]!, h) : keccak2(h, first.siblings[k]!)
            path.push(h)
          }
          second.siblings = second.siblings.map((s, k) => ((((idx + 1) >> k) ^ 1) === idx >> k ? path[k]! : s))
        }
        w.bytes(second.leaf)
        for (const s of second.siblings) w.bytes(s)
      }
    }
  } else if (op === Op.RETURN && frames.length === 1 && m.entry >= 0 && m.func === m.entry) {
    const ptr = exportedConst(p, 'OUTBOX_ROOT_PTR')
    const leaf = memoryLeafProof(m, Math.floor(ptr / 32))
    w.bytes(leaf.leaf)
    for (const s of leaf.siblings) w.bytes(s)
  } else if (op === Op.CALL_HOST && hostProvable(m, ib)) {
    writeHostWitness(w, m, ib, operand)
  } else if (op === Op.CALL_INDIRECT && indirectProvable(m)) {
    const x = Number(operand(0) & 0xffffffffn)
    if (x < p.table.length) {
      w.bytes(tableLeaf(p, x))
      for (const s of tableProof(p, x)) w.bytes(s)
    }
  } else if (op === Op.CALL_INDIRECT || op === Op.CALL_HOST) {
    throw new Error(`no one-step proof for ${opName(op)} to a host function outside the engine's list (docs/vm.md "One-step proofs")`)
  }
  return w.done()
}

/** The proof of step k of a trace (from the state after k steps to the state after k + 1). */
export function proveStepAt(trace: Trace, k: number): Uint8Array {
  return proveStep(trace.machineAt(k))
}

/** Alias of proveStep. */
export const prove = proveStep

/**
 * Whether a call_indirect at the machine's pc can be proven: every outcome can except a successful
 * call of an imported host function (OneStepProver0 refuses it: no engine module does it).
 */
function indirectProvable(m: Machine): boolean {
  const p = m.program
  const x = m.lo[m.sp - 1]! >>> 0
  const f = x < p.table.length ? p.table[x]! : -1
  return f < 0 || p.funcSig[f] !== p.a[m.pc] || p.funcHost[f]! < 0
}

/** Whether the L1 prover supports the machine's next step. */
export function provable(m: Machine): boolean {
  if (m.status !== Status.Running) return true
  const op = m.program.op[m.pc]!
  if (op === Op.CALL_INDIRECT) return indirectProvable(m)
  return !(op === Op.CALL_HOST && !hostProvable(m, m.program.b[m.pc]!))
}

