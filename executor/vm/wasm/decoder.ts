/**
 * A WebAssembly binary decoder for the VM's subset: the MVP with integer types only (plus
 * sign-extension and multi-value block/function types, which cost nothing to support).
 *
 * It decodes every section, checks module-level validity (indices, limits, constant
 * expressions, export names, start function) and rejects what the single-step VM cannot prove
 * with a `VmLoadError` whose `kind` says why: floats, SIMD, threads, reference types, bulk
 * memory. Function bodies are kept as bytes here; `lower.ts` type-checks them (the standard
 * validation algorithm) in the same pass that lowers them, since both walk the same control
 * frames and operand heights.
 */

export type ValType = 0x7f | 0x7e
export const I32: ValType = 0x7f
export const I64: ValType = 0x7e

export interface FuncType { params: ValType[]; results: ValType[] }
export interface Limits { min: number; max?: number }

/** A constant expression (global initializers and segment offsets). */
export type ConstExpr =
  | { kind: 'i32'; value: number }
  | { kind: 'i64'; lo: number; hi: number }
  | { kind: 'global'; index: number }

export type ImportDesc =
  | { kind: 'func'; typeIndex: number }
  | { kind: 'table'; limits: Limits }
  | { kind: 'memory'; limits: Limits }
  | { kind: 'global'; type: ValType; mutable: boolean }

export interface Import { module: string; name: string; desc: ImportDesc }
export interface Export { name: string; kind: 'func' | 'table' | 'memory' | 'global'; index: number }
export interface Global { type: ValType; mutable: boolean; init?: ConstExpr; import?: Import }
export interface ElemSegment { table: number; offset: ConstExpr; funcs: number[] }
export interface DataSegment { memory: number; offset: ConstExpr; bytes: Uint8Array }
export interface Code { locals: ValType[]; body: Uint8Array; /** byte offset of the body in the module */ offset: number }

export interface WasmModule {
  types: FuncType[]
  imports: Import[]
  /** Type index of every function, imports first. */
  funcs: number[]
  numImportedFuncs: number
  tables: Limits[]
  memories: Limits[]
  /** Every global, imports first. */
  globals: Global[]
  exports: Export[]
  start?: number
  elems: ElemSegment[]
  codes: Code[]
  datas: DataSegment[]
}

export type VmLoadErrorKind =
  | 'malformed' // not a well-formed binary
  | 'invalid' // well-formed but fails validation
  | 'float' // uses f32/f64
  | 'simd'
  | 'threads'
  | 'reference-types'
  | 'bulk-memory'
  | 'import' // an import the host does not provide
  | 'limit' // beyond a VM limit (e.g. memory pages)

/** Why the VM refuses a module. The message names the function/instruction/import. */
export class VmLoadError extends Error {
  constructor(readonly kind: VmLoadErrorKind, message: string) {
    super(message)
    this.name = 'VmLoadError'
  }
}

export const malformed = (msg: string) => new VmLoadError('malformed', msg)
export const invalid = (msg: string) => new VmLoadError('invalid', msg)

/** Names of the float opcodes (one-byte space), for error messages. */
const FLOAT_OPS: Record<number, string> = (() => {
  const t: Record<number, string> = {
    0x2a: 'f32.load', 0x2b: 'f64.load', 0x38: 'f32.store', 0x39: 'f64.store', 0x43: 'f32.const', 0x44: 'f64.const',
  }
  const cmp = ['eq', 'ne', 'lt', 'gt', 'le', 'ge']
  cmp.forEach((n, i) => { t[0x5b + i] = `f32.${n}`; t[0x61 + i] = `f64.${n}` })
  const ar = ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt', 'add', 'sub', 'mul', 'div', 'min', 'max', 'copysign']
  ar.forEach((n, i) => { t[0x8b + i] = `f32.${n}`; t[0x99 + i] = `f64.${n}` })
  const conv = ['i32.trunc_f32_s', 'i32.trunc_f32_u', 'i32.trunc_f64_s', 'i32.trunc_f64_u']
  conv.forEach((n, i) => { t[0xa8 + i] = n })
  const conv2 = ['i64.trunc_f32_s', 'i64.trunc_f32_u', 'i64.trunc_f64_s', 'i64.trunc_f64_u', 'f32.convert_i32_s', 'f32.convert_i32_u',
    'f32.convert_i64_s', 'f32.convert_i64_u', 'f32.demote_f64', 'f64.convert_i32_s', 'f64.convert_i32_u', 'f64.convert_i64_s',
    'f64.convert_i64_u', 'f64.promote_f32', 'i32.reinterpret_f32', 'i64.reinterpret_f64', 'f32.reinterpret_i32', 'f64.reinterpret_i64']
  conv2.forEach((n, i) => { t[0xae + i] = n })
  return t
})()

export function floatOpName(op: number): string | undefined {
  return FLOAT_OPS[op]
}

/** Rejects a feature-prefix opcode (0xfc/0xfd/0xfe) with the right kind. */
export function rejectPrefixed(prefix: number, sub: number, where: string): never {
  if (prefix === 0xfd) throw new VmLoadError('simd', `${where}: SIMD instruction 0xfd ${sub}: the VM runs the integer MVP subset only; build without SIMD`)
  if (prefix === 0xfe) throw new VmLoadError('threads', `${where}: atomic instruction 0xfe ${sub}: the VM runs the integer MVP subset only; build without threads`)
  if (sub <= 7) throw new VmLoadError('float', `${where}: instruction ${['i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i64', 'i64'][sub]}.trunc_sat_f${sub & 2 ? 64 : 32}_${sub & 1 ? 'u' : 's'} uses floats: the VM runs the integer MVP subset only; remove float code from the module`)
  if (sub <= 11) throw new VmLoadError('bulk-memory', `${where}: bulk memory instruction 0xfc ${sub} is not supported by the VM; build with bulk memory disabled`)
  throw new VmLoadError('reference-types', `${where}: instruction 0xfc ${sub} (reference types / table ops) is not supported by the VM`)
}

/** Byte reader with LEB128; every read past the end is a malformed-module error. */
export class Reader {
  pos: number
  constructor(readonly bytes: Uint8Array, pos = 0, readonly end = bytes.length) {
    this.pos = pos
  }
  eof() { return this.pos >= this.end }
  u8(): number {
    if (this.pos >= this.end) throw malformed('unexpected end of section or function')
    return this.bytes[this.pos++]!
  }
  /** Unsigned LEB128 up to 32 bits (at most 5 bytes, unused bits zero). */
  u32(): number {
    let result = 0
    for (let i = 0; ; i++) {
      const b = this.u8()
      if (i === 4) {
        if (b & 0x70) throw malformed('integer too large')
        if (b & 0x80) throw malformed('integer representation too long')
        return (result | (b << 28)) >>> 0
      }
      result |= (b & 0x7f) << (7 * i)
      if (!(b & 0x80)) return result >>> 0
    }
  }
  /**
   * Unsigned LEB128 up to 64 bits (at most 10 bytes, unused bits zero), as a bigint: load time
   * only. Memory offsets are u64 in the binary format since memory64 (spec 3.0); an i32 memory's
   * offset ≥ 2^32 is then invalid ("offset out of range"), not malformed.
   */
  u64(): bigint {
    let result = 0n
    for (let i = 0; ; i++) {
      const b = this.u8()
      if (i === 9) {
        if (b & 0x7e) throw malformed('integer too large')
        if (b & 0x80) throw malformed('integer representation too long')
        return result | (BigInt(b) << 63n)
      }
      result |= BigInt(b & 0x7f) << BigInt(7 * i)
      if (!(b & 0x80)) return result
    }
  }
  /** Signed LEB128 of 32 bits. */
  s32(): number {
    let result = 0
    for (let i = 0; ; i++) {
      const b = this.u8()
      if (i === 4) {
        if (b & 0x80) throw malformed('integer representation too long')
        // bits beyond 32 must be the sign extension of bit 31
        const top = b & 0x70
        if (top !== 0 && top !== 0x70) throw malformed('integer too large')
        if (((b >> 3) & 1) !== (top ? 1 : 0)) throw malformed('integer too large')
        return result | (b << 28)
      }
      result |= (b & 0x7f) << (7 * i)
      if (!(b & 0x80)) {
        const shift = 7 * (i + 1)
        return shift < 32 ? (result << (32 - shift)) >> (32 - shift) : result
      }
    }
  }
  /** Signed LEB128 of 64 bits, as [lo, hi] int32 halves (load time only, so BigInt is fine). */
  s64(): [number, number] {
    let result = 0n
    for (let i = 0; ; i++) {
      const b = this.u8()
      if (i === 9) {
        if (b & 0x80) throw malformed('integer representation too long')
        if (b !== 0 && b !== 0x7f) throw malformed('integer too large')
        result |= BigInt(b & 0x7f) << 63n
        break
      }
      result |= BigInt(b & 0x7f) << BigInt(7 * i)
      if (!(b & 0x80)) {
        const shift = BigInt(7 * (i + 1))
        if (b & 0x40) result -= 1n << shift
        break
      }
    }
    const u = BigInt.asUintN(64, result)
    return [Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0]
  }
  bytesN(n: number): Uint8Array {
    if (this.pos + n > this.end) throw malformed('unexpected end')
    const b = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }
  name(): string {
    const b = this.bytesN(this.u32())
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b)
    } catch {
      throw malformed('malformed UTF-8 encoding')
    }
  }
}

/** Reads a value type; floats and other non-integer types are rejected with `where` in the message. */
export function readValType(r: Reader, where: string): ValType {
  const t = r.u8()
  if (t === 0x7f || t === 0x7e) return t
  if (t === 0x7d || t === 0x7c) throw new VmLoadError('float', `${where}: type ${t === 0x7d ? 'f32' : 'f64'}: the VM runs the integer MVP subset only; remove float code from the module`)
  if (t === 0x7b) throw new VmLoadError('simd', `${where}: type v128: SIMD is not supported by the VM`)
  if (t === 0x70 || t === 0x6f) throw new VmLoadError('reference-types', `${where}: reference type ${t === 0x70 ? 'funcref' : 'externref'} as a value: reference types are not supported by the VM`)
  throw malformed(`${where}: malformed value type 0x${t.toString(16)}`)
}

export const valTypeName = (t: ValType) => (t === I32 ? 'i32' : 'i64')

function readLimits(r: Reader, what: string): Limits {
  const flag = r.u8()
  if (flag === 0) return { min: r.u32() }
  if (flag === 1) {
    const min = r.u32()
    return { min, max: r.u32() }
  }
  if (flag === 3 || flag === 2) throw new VmLoadError('threads', `${what}: shared memory is not supported by the VM`)
  throw malformed(`${what}: integer too large (limits flag ${flag})`)
}

function readConstExpr(r: Reader, where: string): ConstExpr {
  const op = r.u8()
  let e: ConstExpr
  if (op === 0x41) e = { kind: 'i32', value: r.s32() }
  else if (op === 0x42) {
    const [lo, hi] = r.s64()
    e = { kind: 'i64', lo, hi }
  } else if (op === 0x23) e = { kind: 'global', index: r.u32() }
  else if (op === 0x43 || op === 0x44) throw new VmLoadError('float', `${where}: instruction ${FLOAT_OPS[op]} in a constant expression: floats are not supported by the VM`)
  else if (op === 0x0b) throw invalid(`${where}: type mismatch (empty constant expression)`)
  else throw invalid(`${where}: constant expression required (opcode 0x${op.toString(16)})`)
  if (r.u8() !== 0x0b) throw invalid(`${where}: constant expression required (more than one instruction)`)
  return e
}

const SECTION_ORDER = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]

/** Decodes a module and checks everything but function bodies (see lower.ts). */
export function decodeModule(bytes: Uint8Array): WasmModule {
  const r = new Reader(bytes)
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw malformed('magic header not detected')
  if (bytes.length < 8) throw malformed('unexpected end')
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw malformed('unknown binary version')
  r.pos = 8
  const m: WasmModule = { types: [], imports: [], funcs: [], numImportedFuncs: 0, tables: [], memories: [], globals: [], exports: [], elems: [], codes: [], datas: [] }
  let lastId = 0
  let funcDecls: number[] = []
  let sawFunc = false
  let sawCode = false
  while (!r.eof()) {
    const id = r.u8()
    const size = r.u32()
    const end = r.pos + size
    if (end > bytes.length) throw malformed('section size mismatch: unexpected end')
    const s = new Reader(bytes, r.pos, end)
    if (id !== 0) {
      if (!SECTION_ORDER.includes(id)) {
        if (id === 12) throw new VmLoadError('bulk-memory', 'data count section: bulk memory is not supported by the VM')
        throw malformed(`malformed section id ${id}`)
      }
      if (id <= lastId) throw malformed(`junk after last section / section ${id} out of order`)
      lastId = id
    }
    switch (id) {
      case 0:
        s.name() // custom section: name, then anything
        s.pos = end
        break
      case 1:
        for (let n = s.u32(), i = 0; i < n; i++) {
          if (s.u8() !== 0x60) throw malformed(`type ${i}: integer representation too long / malformed functype`)
          const params: ValType[] = []
          for (let k = s.u32(); k > 0; k--) params.push(readValType(s, `type ${i}`))
          const results: ValType[] = []
          for (let k = s.u32(); k > 0; k--) results.push(readValType(s, `type ${i}`))
          m.types.push({ params, results })
        }
        break
      case 2:
        for (let n = s.u32(), i = 0; i < n; i++) {
          const module = s.name()
          const name = s.name()
          const kind = s.u8()
          const where = `import ${module}.${name}`
          let desc: ImportDesc
          if (kind === 0) desc = { kind: 'func', typeIndex: s.u32() }
          else if (kind === 1) {
            const et = s.u8()
            if (et !== 0x70) throw new VmLoadError('reference-types', `${where}: table of type 0x${et.toString(16)}: reference types are not supported`)
            desc = { kind: 'table', limits: readLimits(s, where) }
          } else if (kind === 2) desc = { kind: 'memory', limits: readLimits(s, where) }
          else if (kind === 3) {
            const type = readValType(s, where)
            const mut = s.u8()
            if (mut > 1) throw malformed(`${where}: malformed mutability`)
            desc = { kind: 'global', type, mutable: mut === 1 }
          } else throw malformed(`${where}: malformed import kind ${kind}`)
          const imp: Import = { module, name, desc }
          m.imports.push(imp)
          if (desc.kind === 'func') {
            if (desc.typeIndex >= m.types.length) throw invalid(`${where}: unknown type ${desc.typeIndex}`)
            m.funcs.push(desc.typeIndex)
            m.numImportedFuncs++
          } else if (desc.kind === 'table') m.tables.push(desc.limits)
          else if (desc.kind === 'memory') m.memories.push(desc.limits)
          else m.globals.push({ type: desc.type, mutable: desc.mutable, import: imp })
        }
        break
      case 3:
        sawFunc = true
        for (let n = s.u32(); n > 0; n--) funcDecls.push(s.u32())
        for (const t of funcDecls) {
          if (t >= m.types.length) throw invalid(`unknown type ${t}`)
          m.funcs.push(t)
        }
        break
      case 4:
        for (let n = s.u32(); n > 0; n--) {
          const et = s.u8()
          if (et !== 0x70) throw new VmLoadError('reference-types', `table of type 0x${et.toString(16)}: reference types are not supported`)
          m.tables.push(readLimits(s, 'table'))
        }
        break
      case 5:
        for (let n = s.u32(); n > 0; n--) m.memories.push(readLimits(s, 'memory'))
        break
      case 6:
        for (let n = s.u32(), i = 0; i < n; i++) {
          const where = `global ${m.globals.length}`
          const type = readValType(s, where)
          const mut = s.u8()
          if (mut > 1) throw malformed(`${where}: malformed mutability`)
          m.globals.push({ type, mutable: mut === 1, init: readConstExpr(s, where) })
        }
        break
      case 7: {
        const names = new Set<string>()
        for (let n = s.u32(); n > 0; n--) {
          const name = s.name()
          const k = s.u8()
          if (k > 3) throw malformed(`export ${name}: malformed export kind`)
          if (names.has(name)) throw invalid(`duplicate export name ${name}`)
          names.add(name)
          m.exports.push({ name, kind: (['func', 'table', 'memory', 'global'] as const)[k]!, index: s.u32() })
        }
        break
      }
      case 8:
        m.start = s.u32()
        break
      case 9:
        for (let n = s.u32(); n > 0; n--) {
          const flags = s.u32()
          if (flags !== 0) throw new VmLoadError(flags > 7 ? 'malformed' : 'bulk-memory', `element segment with flags ${flags}: only MVP active segments are supported`)
          const offset = readConstExpr(s, 'element segment offset')
          const funcs: number[] = []
          for (let k = s.u32(); k > 0; k--) funcs.push(s.u32())
          m.elems.push({ table: 0, offset, funcs })
        }
        break
      case 10: {
        sawCode = true
        const n = s.u32()
        if (n !== funcDecls.length) throw malformed('function and code section have inconsistent lengths')
        for (let i = 0; i < n; i++) {
          const size = s.u32()
          const bodyEnd = s.pos + size
          if (bodyEnd > end) throw malformed('unexpected end of code section')
          const b = new Reader(bytes, s.pos, bodyEnd)
          const locals: ValType[] = []
          let total = 0
          for (let g = b.u32(); g > 0; g--) {
            const count = b.u32()
            total += count
            if (total > 50000) throw malformed(`function ${m.numImportedFuncs + i}: too many locals`)
            const t = readValType(b, `function ${m.numImportedFuncs + i} locals`)
            for (let k = 0; k < count; k++) locals.push(t)
          }
          m.codes.push({ locals, body: bytes.subarray(b.pos, bodyEnd), offset: b.pos })
          s.pos = bodyEnd
        }
        break
      }
      case 11:
        for (let n = s.u32(); n > 0; n--) {
          const flags = s.u32()
          if (flags !== 0) throw new VmLoadError(flags > 2 ? 'malformed' : 'bulk-memory', `data segment with flags ${flags}: only MVP active segments are supported`)
          const offset = readConstExpr(s, 'data segment offset')
          m.datas.push({ memory: 0, offset, bytes: s.bytesN(s.u32()) })
        }
        break
    }
    if (s.pos !== end) throw malformed(`section size mismatch in section ${id}`)
    r.pos = end
  }
  if (sawFunc !== sawCode && funcDecls.length > 0) throw malformed('function and code section have inconsistent lengths')
  validateModule(m)
  return m
}

function checkLimits(l: Limits, bound: number, what: string, boundMsg: string) {
  if (l.min > bound) throw invalid(boundMsg)
  if (l.max !== undefined) {
    if (l.max > bound) throw invalid(boundMsg)
    if (l.max < l.min) throw invalid(`${what}: size minimum must not be greater than maximum`)
  }
}

/** Module-level validation (the spec's "Modules" section), except function bodies. */
function validateModule(m: WasmModule) {
  if (m.tables.length > 1) throw invalid('multiple tables')
  if (m.memories.length > 1) throw invalid('multiple memories')
  for (const t of m.tables) checkLimits(t, 0xffffffff, 'table', 'table size must be at most 2^32-1')
  for (const l of m.memories) checkLimits(l, 65536, 'memory', 'memory size must be at most 65536 pages (4GiB)')
  const numImportedGlobals = m.globals.filter((g) => g.import).length
  const checkConst = (e: ConstExpr, type: ValType, where: string, globalLimit: number) => {
    if (e.kind === 'global') {
      // MVP: only imported globals may be referenced, and they must be immutable
      if (e.index >= globalLimit) throw invalid(`${where}: unknown global ${e.index}`)
      const g = m.globals[e.index]!
      if (g.mutable) throw invalid(`${where}: constant expression required (mutable global)`)
      if (g.type !== type) throw invalid(`${where}: type mismatch`)
    } else if ((e.kind === 'i32' ? I32 : I64) !== type) throw invalid(`${where}: type mismatch`)
  }
  m.globals.forEach((g, i) => {
    if (g.init) checkConst(g.init, g.type, `global ${i}`, numImportedGlobals)
  })
  for (const e of m.exports) {
    const n = e.kind === 'func' ? m.funcs.length : e.kind === 'table' ? m.tables.length : e.kind === 'memory' ? m.memories.length : m.globals.length
    if (e.index >= n) throw invalid(`export ${e.name}: unknown ${e.kind} ${e.index}`)
  }
  if (m.start !== undefined) {
    if (m.start >= m.funcs.length) throw invalid(`unknown function ${m.start}`)
    const t = m.types[m.funcs[m.start]!]!
    if (t.params.length || t.results.length) throw invalid('start function must have type [] -> []')
  }
  for (const e of m.elems) {
    if (m.tables.length === 0) throw invalid('unknown table 0')
    checkConst(e.offset, I32, 'element segment offset', numImportedGlobals)
    for (const f of e.funcs) if (f >= m.funcs.length) throw invalid(`unknown function ${f}`)
  }
  for (const d of m.datas) {
    if (m.memories.length === 0) throw invalid('unknown memory 0')
    checkConst(d.offset, I32, 'data segment offset', numImportedGlobals)
  }
  if (m.codes.length !== m.funcs.length - m.numImportedFuncs) throw malformed('function and code section have inconsistent lengths')
}
