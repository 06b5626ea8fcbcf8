/**
 * Validation and lowering of function bodies, in one pass.
 *
 * The type checker is the spec's validation algorithm (appendix "Algorithms": an operand stack of
 * types with a polymorphic bottom, and a stack of control frames). The same control frames give
 * what lowering needs: every branch becomes an instruction with an absolute target offset and
 * explicit stack adjustment (keep the label's arity, drop what lies between), as in Arbitrum's
 * WAVM. Code that validation proves unreachable is checked but not emitted.
 *
 * Each value occupies one stack slot (i32 or i64), so the operand height the checker tracks is
 * the physical height; the largest one goes into the function's ENTER instruction so that the
 * interpreter checks the value-stack limit once per call instead of once per push.
 */
import {
  type FuncType, I32, I64, Reader, type ValType, type WasmModule, VmLoadError, floatOpName, invalid, malformed, readValType, rejectPrefixed,
} from './wasm/decoder.js'
import { Op } from './instructions.js'

/** What lowering needs to know about the module beyond the body. */
export interface LowerContext {
  module: WasmModule
  /** Canonical signature id per type index (structurally equal types share an id). */
  typeSig: number[]
  /** Per module global index: a mutable-global slot, or a constant [lo, hi] for immutable ones. */
  globalRef: ({ slot: number } | { lo: number; hi: number })[]
  /** Host function id of each imported function (by function index). */
  hostId: number[]
}

export interface LoweredFunction {
  op: number[]
  a: number[]
  b: number[]
}

const UNKNOWN = 0
type Opd = ValType | typeof UNKNOWN

interface Ctrl {
  kind: 'block' | 'loop' | 'if' | 'else' | 'func'
  start: ValType[]
  end: ValType[]
  height: number
  unreachable: boolean
  /** Begun inside unreachable code: validated, never emitted. */
  dead: boolean
  /** Loop: the offset branches jump to. */
  loopPc: number
  /** Offsets of emitted instructions whose `a` must become this block's end. */
  patches: number[]
  /** `if`: the JUMP_IF_ZERO to patch with the else/end offset. */
  ifPatch: number
}

const MEM_OPS: Record<number, { t: ValType; align: number; store: boolean }> = {
  0x28: { t: I32, align: 2, store: false }, 0x29: { t: I64, align: 3, store: false },
  0x2c: { t: I32, align: 0, store: false }, 0x2d: { t: I32, align: 0, store: false },
  0x2e: { t: I32, align: 1, store: false }, 0x2f: { t: I32, align: 1, store: false },
  0x30: { t: I64, align: 0, store: false }, 0x31: { t: I64, align: 0, store: false },
  0x32: { t: I64, align: 1, store: false }, 0x33: { t: I64, align: 1, store: false },
  0x34: { t: I64, align: 2, store: false }, 0x35: { t: I64, align: 2, store: false },
  0x36: { t: I32, align: 2, store: true }, 0x37: { t: I64, align: 3, store: true },
  0x3a: { t: I32, align: 0, store: true }, 0x3b: { t: I32, align: 1, store: true },
  0x3c: { t: I64, align: 0, store: true }, 0x3d: { t: I64, align: 1, store: true }, 0x3e: { t: I64, align: 2, store: true },
}

/** [params, results] of the plain numeric opcodes. */
function numericSig(op: number): [ValType[], ValType[]] | undefined {
  if (op === 0x45) return [[I32], [I32]]
  if (op >= 0x46 && op <= 0x4f) return [[I32, I32], [I32]]
  if (op === 0x50) return [[I64], [I32]]
  if (op >= 0x51 && op <= 0x5a) return [[I64, I64], [I32]]
  if (op >= 0x67 && op <= 0x69) return [[I32], [I32]]
  if (op >= 0x6a && op <= 0x78) return [[I32, I32], [I32]]
  if (op >= 0x79 && op <= 0x7b) return [[I64], [I64]]
  if (op >= 0x7c && op <= 0x8a) return [[I64, I64], [I64]]
  if (op === 0xa7) return [[I64], [I32]]
  if (op === 0xac || op === 0xad) return [[I32], [I64]]
  if (op === 0xc0 || op === 0xc1) return [[I32], [I32]]
  if (op >= 0xc2 && op <= 0xc4) return [[I64], [I64]]
  return undefined
}

const MAX_ADJUST = 0xffff

/** Validates and lowers defined function `funcIndex` (module function index space). */
export function lowerFunction(ctx: LowerContext, funcIndex: number): LoweredFunction {
  const m = ctx.module
  const code = m.codes[funcIndex - m.numImportedFuncs]!
  const type = m.types[m.funcs[funcIndex]!]!
  const where = `function ${funcIndex}`
  const locals: ValType[] = [...type.params, ...code.locals]
  const r = new Reader(code.body)
  const out: LoweredFunction = { op: [], a: [], b: [] }
  const emit = (op: number, a = 0, b = 0) => {
    out.op.push(op)
    out.a.push(a | 0)
    out.b.push(b | 0)
    return out.op.length - 1
  }
  // ENTER is patched at the end, when the max height is known.
  emit(Op.ENTER, code.locals.length, 0)

  const opds: Opd[] = []
  const ctrls: Ctrl[] = []
  let maxHeight = 0
  let instr = 'function body'
  const fail = (msg: string): never => { throw invalid(`${where}: ${instr}: ${msg}`) }

  const push = (t: Opd) => {
    opds.push(t)
    if (opds.length > maxHeight) maxHeight = opds.length
  }
  const pop = (expect?: ValType): Opd => {
    const top = ctrls[ctrls.length - 1]!
    let actual: Opd
    if (opds.length === top.height) {
      if (!top.unreachable) fail('type mismatch')
      actual = UNKNOWN
    } else actual = opds.pop()!
    if (expect !== undefined && actual !== UNKNOWN && actual !== expect) fail('type mismatch')
    return actual
  }
  const popVals = (ts: ValType[]): Opd[] => {
    const got: Opd[] = []
    for (let i = ts.length - 1; i >= 0; i--) got.unshift(pop(ts[i]))
    return got
  }
  const pushVals = (ts: Opd[]) => { for (const t of ts) push(t) }
  const pushCtrl = (kind: Ctrl['kind'], start: ValType[], end: ValType[]) => {
    const parent = ctrls[ctrls.length - 1]
    ctrls.push({
      kind, start, end, height: opds.length, unreachable: false,
      dead: parent ? parent.dead || parent.unreachable : false,
      loopPc: out.op.length, patches: [], ifPatch: -1,
    })
    pushVals(start)
  }
  const popCtrl = (): Ctrl => {
    const top = ctrls[ctrls.length - 1]
    if (!top) fail('unexpected end')
    popVals(top!.end)
    if (opds.length !== top!.height) fail('type mismatch')
    ctrls.pop()
    return top!
  }
  const labelTypes = (c: Ctrl) => (c.kind === 'loop' ? c.start : c.end)
  const setUnreachable = () => {
    const top = ctrls[ctrls.length - 1]!
    opds.length = top.height
    top.unreachable = true
  }
  const live = () => {
    const top = ctrls[ctrls.length - 1]!
    return !top.unreachable && !top.dead
  }
  const label = (depth: number): Ctrl => {
    if (depth >= ctrls.length) fail(`unknown label ${depth}`)
    return ctrls[ctrls.length - 1 - depth]!
  }
  /** Emits the branch to `target` from the current height (with `extra` more slots above it, e.g. a br_if condition already popped). */
  const emitBranch = (target: Ctrl, conditional: boolean) => {
    if (target.kind === 'func') {
      // RETURN carries the operand height (b) so a one-step proof knows how many values it drops
      if (!conditional) return emit(Op.RETURN, target.end.length, opds.length)
      // a conditional return with values to drop drops them first, so the final RETURN always
      // runs at height = result count
      const n = target.end.length
      const drop = opds.length - n
      if (drop > MAX_ADJUST || n > MAX_ADJUST) throw new VmLoadError('limit', `${where}: a branch keeps ${n} and drops ${drop} values; the VM allows at most ${MAX_ADJUST}`)
      const at = drop === 0 ? emit(Op.JUMP_IF, 0) : emit(Op.BR_IF, 0, (n << 16) | drop)
      target.patches.push(at)
      return at
    }
    const keep = labelTypes(target).length
    const drop = opds.length - keep - target.height
    if (drop < 0) throw new Error('internal: negative drop')
    if (keep > MAX_ADJUST || drop > MAX_ADJUST) throw new VmLoadError('limit', `${where}: a branch keeps ${keep} and drops ${drop} values; the VM allows at most ${MAX_ADJUST}`)
    const op = drop === 0 ? (conditional ? Op.JUMP_IF : Op.JUMP) : conditional ? Op.BR_IF : Op.BR
    const at = emit(op, target.kind === 'loop' ? target.loopPc : 0, (keep << 16) | drop)
    if (target.kind !== 'loop') target.patches.push(at)
    return at
  }

  const blockType = (): FuncType => {
    const b = r.bytes[r.pos]
    if (b === 0x40) { r.pos++; return { params: [], results: [] } }
    if (b === 0x7f || b === 0x7e || b === 0x7d || b === 0x7c || b === 0x7b || b === 0x70 || b === 0x6f) {
      return { params: [], results: [readValType(r, `${where}: block type`)] }
    }
    const idx = r.s32()
    if (idx < 0 || idx >= m.types.length) fail(`unknown type ${idx}`)
    return m.types[idx]!
  }
  const memarg = (natural: number) => {
    const align = r.u32()
    const offset = r.u64() // u64 in the binary since memory64; our memories are 32-bit
    if (m.memories.length === 0) fail('unknown memory 0')
    if (align > natural) fail('alignment must not be larger than natural')
    if (offset > 0xffffffffn) fail('offset out of range')
    return Number(offset)
  }

  pushCtrl('func', [], type.results)
  // the function's locals are below its operands; heights count operands only
  while (ctrls.length > 0) {
    const op = r.u8()
    instr = `instruction 0x${op.toString(16)} at byte ${code.offset + r.pos - 1}`
    switch (op) {
      case 0x00: // unreachable
        if (live()) emit(Op.UNREACHABLE)
        setUnreachable()
        break
      case 0x01: // nop: nothing to execute
        break
      case 0x02: case 0x03: { // block, loop
        const bt = blockType()
        popVals(bt.params)
        pushCtrl(op === 0x02 ? 'block' : 'loop', bt.params, bt.results)
        break
      }
      case 0x04: { // if
        const bt = blockType()
        pop(I32)
        popVals(bt.params)
        const emitting = live()
        pushCtrl('if', bt.params, bt.results)
        if (emitting) ctrls[ctrls.length - 1]!.ifPatch = emit(Op.JUMP_IF_ZERO, 0)
        break
      }
      case 0x05: { // else
        const top = ctrls[ctrls.length - 1]!
        if (top.kind !== 'if') fail('else without if')
        const thenLive = live()
        const c = popCtrl()
        if (thenLive) c.patches.push(emit(Op.JUMP, 0))
        ctrls.push({ ...c, kind: 'else', height: opds.length, unreachable: false })
        pushVals(c.start)
        if (c.ifPatch >= 0) out.a[c.ifPatch] = out.op.length
        break
      }
      case 0x0b: { // end
        const c = popCtrl()
        if (c.kind === 'if' && (c.start.length !== c.end.length || c.start.some((t, i) => t !== c.end[i]))) fail('type mismatch (if without else)')
        const here = out.op.length
        if (c.ifPatch >= 0 && c.kind === 'if') out.a[c.ifPatch] = here
        for (const p of c.patches) out.a[p] = here
        pushVals(c.end)
        if (c.kind === 'func') emit(Op.RETURN, type.results.length, opds.length)
        break
      }
      case 0x0c: { // br
        const t = label(r.u32())
        popVals(labelTypes(t))
        pushVals(labelTypes(t))
        if (live()) emitBranch(t, false)
        setUnreachable()
        break
      }
      case 0x0d: { // br_if
        const t = label(r.u32())
        pop(I32)
        const vals = popVals(labelTypes(t))
        pushVals(vals)
        if (live()) emitBranch(t, true)
        break
      }
      case 0x0e: { // br_table
        const n = r.u32()
        if (n > 100000) throw malformed(`${where}: br_table too long`)
        const depths: number[] = []
        for (let i = 0; i < n; i++) depths.push(r.u32())
        const dflt = r.u32()
        pop(I32)
        const d = label(dflt)
        const arity = labelTypes(d).length
        const emitting = live()
        if (emitting) emit(Op.BR_TABLE, n)
        for (const depth of depths) {
          const t = label(depth)
          if (labelTypes(t).length !== arity) fail('type mismatch (br_table arity)')
          pushVals(popVals(labelTypes(t)))
        }
        popVals(labelTypes(d))
        if (emitting) {
          // the entries branch from the height after the index was popped
          pushVals(labelTypes(d))
          for (const depth of [...depths, dflt]) emitBranch(label(depth), false)
        }
        setUnreachable()
        break
      }
      case 0x0f: // return
        popVals(type.results)
        if (live()) emit(Op.RETURN, type.results.length, opds.length + type.results.length)
        setUnreachable()
        break
      case 0x10: { // call
        const f = r.u32()
        if (f >= m.funcs.length) fail(`unknown function ${f}`)
        const ft = m.types[m.funcs[f]!]!
        popVals(ft.params)
        pushVals(ft.results)
        if (live()) {
          if (f < m.numImportedFuncs) emit(Op.CALL_HOST, f, ctx.hostId[f]!)
          else emit(Op.CALL, f, ft.params.length)
        }
        break
      }
      case 0x11: { // call_indirect
        const ti = r.u32()
        const table = r.u8()
        if (table !== 0) throw new VmLoadError(m.tables.length > 0 ? 'reference-types' : 'malformed', `${where}: call_indirect with table ${table}: zero byte expected`)
        if (m.tables.length === 0) fail('unknown table 0')
        if (ti >= m.types.length) fail(`unknown type ${ti}`)
        const ft = m.types[ti]!
        pop(I32)
        popVals(ft.params)
        pushVals(ft.results)
        // b = the signature's parameter count: a proof reveals that many arguments, as for CALL
        if (live()) emit(Op.CALL_INDIRECT, ctx.typeSig[ti]!, ft.params.length)
        break
      }
      case 0x1a: // drop
        pop()
        if (live()) emit(Op.DROP)
        break
      case 0x1b: case 0x1c: { // select, select t
        if (op === 0x1c) {
          const n = r.u32()
          if (n !== 1) fail('invalid result arity')
          readValType(r, `${where}: select type`)
        }
        pop(I32)
        const t1 = pop()
        const t2 = pop()
        if (t1 !== t2 && t1 !== UNKNOWN && t2 !== UNKNOWN) fail('type mismatch')
        push(t1 === UNKNOWN ? t2 : t1)
        if (live()) emit(Op.SELECT)
        break
      }
      case 0x20: case 0x21: case 0x22: { // local.get/set/tee
        const x = r.u32()
        if (x >= locals.length) fail(`unknown local ${x}`)
        const t = locals[x]!
        if (op === 0x20) push(t)
        else if (op === 0x21) pop(t)
        else { pop(t); push(t) }
        if (live()) emit(op, x)
        break
      }
      case 0x23: case 0x24: { // global.get/set
        const x = r.u32()
        if (x >= m.globals.length) fail(`unknown global ${x}`)
        const g = m.globals[x]!
        const ref = ctx.globalRef[x]!
        if (op === 0x23) {
          push(g.type)
          if (live()) {
            if ('slot' in ref) emit(Op.GLOBAL_GET, ref.slot)
            else if (g.type === I32) emit(Op.I32_CONST, ref.lo)
            else emit(Op.I64_CONST, ref.lo, ref.hi)
          }
        } else {
          if (!g.mutable) fail('global is immutable')
          pop(g.type)
          if (live()) emit(Op.GLOBAL_SET, (ref as { slot: number }).slot)
        }
        break
      }
      case 0x3f: case 0x40: { // memory.size, memory.grow
        if (r.u8() !== 0) throw malformed(`${where}: zero byte expected`)
        if (m.memories.length === 0) fail('unknown memory 0')
        if (op === 0x40) pop(I32)
        push(I32)
        if (live()) emit(op)
        break
      }
      case 0x41: {
        const v = r.s32()
        push(I32)
        if (live()) emit(Op.I32_CONST, v)
        break
      }
      case 0x42: {
        const [lo, hi] = r.s64()
        push(I64)
        if (live()) emit(Op.I64_CONST, lo, hi)
        break
      }
      case 0xfc: case 0xfd: case 0xfe:
        rejectPrefixed(op, r.u32(), where)
        break
      default: {
        const mem = MEM_OPS[op]
        if (mem) {
          const offset = memarg(mem.align)
          if (mem.store) { pop(mem.t); pop(I32) } else { pop(I32); push(mem.t) }
          if (live()) emit(op, offset)
          break
        }
        const sig = numericSig(op)
        if (sig) {
          popVals(sig[0])
          pushVals(sig[1])
          if (live()) emit(op)
          break
        }
        const f = floatOpName(op)
        if (f) throw new VmLoadError('float', `${where}: instruction ${f} (0x${op.toString(16)}) uses floats: the VM runs the integer MVP subset only; remove float code from the module`)
        if (op === 0x25 || op === 0x26 || (op >= 0xd0 && op <= 0xd2)) {
          throw new VmLoadError('reference-types', `${where}: instruction 0x${op.toString(16)} (reference types) is not supported by the VM`)
        }
        throw malformed(`${where}: illegal opcode 0x${op.toString(16)}`)
      }
    }
  }
  if (!r.eof()) throw malformed(`${where}: section size mismatch (bytes after the final end)`)
  out.b[0] = locals.length + maxHeight
  return out
}
