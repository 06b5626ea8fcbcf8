/**
 * Loading a module into the VM: decode, check imports against the host list, validate and lower
 * every function, and lay the code out as three flat typed arrays (op, a, b) that the
 * interpreter indexes with one absolute pc. Also computes the initial memory, table and
 * globals (instantiation), which a Machine then starts from.
 */
import { keccak } from './keccak.js'
import { lowerFunction, type LowerContext } from './lower.js'
import { encodeInstruction, INSTRUCTION_BYTES, Op } from './instructions.js'
import {
  type ConstExpr, type FuncType, I32, type Limits, type ValType, type WasmModule, VmLoadError, decodeModule, invalid, valTypeName,
} from './wasm/decoder.js'
import { merkleRoot } from './merkleProof.js'
import { moduleConstants, moduleRoot } from './module.js'

/** The VM's deterministic limits (docs/vm.md). Passing one is a trap. */
export const LIMITS = {
  /** Linear memory pages (64 KiB each); also the memory tree's capacity (docs/protocol.md §9). */
  memoryPages: 4096,
  /** Call frames. */
  callDepth: 1024,
  /** Value-stack slots: every frame's locals plus its operands. */
  stackSlots: 65536,
} as const

/** A host function the module may import. `id` is what CALL_HOST carries. */
export interface HostFunctionSpec { module: string; name: string; type: FuncType; id: number }

/** What a module may import. The engine gets only the veridex/env host list (host.ts); the spec runner adds spectest. */
export interface ImportSpec {
  functions: HostFunctionSpec[]
  globals?: { module: string; name: string; type: ValType; mutable: boolean; lo: number; hi: number }[]
  memories?: { module: string; name: string; limits: Limits }[]
  tables?: { module: string; name: string; limits: Limits; /** function indices, -1 = empty */ elements?: number[] }[]
}

export interface Program {
  module: WasmModule
  /** The module commitment (module.ts): docs/protocol.md §9's moduleRoot. Computed on first use. */
  readonly moduleRoot: Uint8Array
  op: Uint16Array
  a: Int32Array
  b: Int32Array
  /** Start pc of each function (by module function index); -1 for imports. */
  funcStart: Int32Array
  /** Number of lowered instructions of each function (0 for imports). */
  funcLength: Int32Array
  /** Canonical signature id per function. */
  funcSig: Int32Array
  funcParams: Int32Array
  funcResults: Int32Array
  /** params + declared locals per function. */
  funcLocals: Int32Array
  /** Host id per function index (imports), -1 otherwise. */
  funcHost: Int32Array
  /** The import list the module was linked against: host ids index its functions. */
  imports: ImportSpec
  /** The mutable globals, in module index order (the state's globals). */
  globalTypes: ValType[]
  globalInit: Int32Array // lo, hi pairs
  /** Module global index of each slot (for g$ exports / diagnostics). */
  globalIndex: number[]
  /** The table after element segments (function indices, -1 = uninitialized). Immutable in the MVP. */
  table: Int32Array
  memory?: { min: number; max: number }
  /** Initial memory contents (min pages, data segments applied). */
  initialMemory: Uint8Array
  exports: Map<string, { kind: string; index: number }>
  start?: number
  /** Merkle root over the function code roots (lazy). */
  codeRoot(): Uint8Array
}

function constValue(e: ConstExpr, globals: { lo: number; hi: number }[]): { lo: number; hi: number } {
  if (e.kind === 'i32') return { lo: e.value, hi: 0 }
  if (e.kind === 'i64') return { lo: e.lo, hi: e.hi }
  return globals[e.index]!
}

const sameType = (x: FuncType, y: FuncType) =>
  x.params.length === y.params.length && x.results.length === y.results.length &&
  x.params.every((t, i) => t === y.params[i]) && x.results.every((t, i) => t === y.results[i])

const typeString = (t: FuncType) => `(${t.params.map(valTypeName).join(',')})->(${t.results.map(valTypeName).join(',')})`

/** Thrown when a valid module cannot be instantiated (segment out of bounds, start trap is separate). */
export class VmLinkError extends Error {
  constructor(readonly kind: 'unlinkable' | 'uninstantiable', message: string) {
    super(message)
    this.name = 'VmLinkError'
  }
}

/**
 * Decodes, validates and lowers `wasm`, resolving its imports against `imports`.
 * Throws VmLoadError (rejected module), VmLinkError (imports or segments don't fit).
 */
export function loadProgram(wasm: Uint8Array, imports: ImportSpec): Program {
  const m = decodeModule(wasm)

  // canonical signatures: structurally equal types share an id
  const sigs: FuncType[] = []
  const typeSig = m.types.map((t) => {
    let i = sigs.findIndex((s) => sameType(s, t))
    if (i < 0) { sigs.push(t); i = sigs.length - 1 }
    return i
  })

  // imports
  const hostId: number[] = []
  const globalVals: { lo: number; hi: number }[] = []
  let memLimits: Limits | undefined
  let tableInit: number[] | undefined
  let tableLimits: Limits | undefined
  for (const imp of m.imports) {
    const what = `import ${imp.module}.${imp.name}`
    if (imp.desc.kind === 'func') {
      const h = imports.functions.find((f) => f.module === imp.module && f.name === imp.name)
      if (!h) throw new VmLoadError('import', `${what}: not a host function of the VM (allowed: ${imports.functions.map((f) => `${f.module}.${f.name}`).join(', ')})`)
      const want = m.types[imp.desc.typeIndex]!
      if (!sameType(want, h.type)) throw new VmLoadError('import', `${what}: signature ${typeString(want)} does not match the host's ${typeString(h.type)}`)
      hostId.push(h.id)
    } else if (imp.desc.kind === 'global') {
      const d = imp.desc
      const g = imports.globals?.find((x) => x.module === imp.module && x.name === imp.name)
      if (!g) throw new VmLoadError('import', `${what}: the VM provides no such global`)
      if (g.type !== d.type || g.mutable !== d.mutable) throw new VmLinkError('unlinkable', `${what}: incompatible import type`)
      globalVals.push({ lo: g.lo, hi: g.hi })
    } else if (imp.desc.kind === 'memory') {
      const x = imports.memories?.find((y) => y.module === imp.module && y.name === imp.name)
      if (!x) throw new VmLoadError('import', `${what}: the VM provides no such memory`)
      const d = imp.desc.limits
      if (x.limits.min < d.min || (d.max !== undefined && (x.limits.max === undefined || x.limits.max > d.max))) throw new VmLinkError('unlinkable', `${what}: incompatible import type`)
      memLimits = x.limits
    } else {
      const x = imports.tables?.find((y) => y.module === imp.module && y.name === imp.name)
      if (!x) throw new VmLoadError('import', `${what}: the VM provides no such table`)
      const d = imp.desc.limits
      if (x.limits.min < d.min || (d.max !== undefined && (x.limits.max === undefined || x.limits.max > d.max))) throw new VmLinkError('unlinkable', `${what}: incompatible import type`)
      tableLimits = x.limits
      tableInit = x.elements ?? new Array(x.limits.min).fill(-1)
    }
  }

  // globals: immutable ones become constants, mutable ones get state slots
  const globalRef: LowerContext['globalRef'] = []
  const globalTypes: ValType[] = []
  const globalIndex: number[] = []
  const init: number[] = []
  let importedGlobal = 0
  m.globals.forEach((g, i) => {
    const v = g.import ? globalVals[importedGlobal++]! : constValue(g.init!, globalVals)
    const val = g.type === I32 ? { lo: v.lo, hi: 0 } : v
    if (!g.import) globalVals.push(val)
    if (g.mutable) {
      globalRef.push({ slot: globalTypes.length })
      globalTypes.push(g.type)
      globalIndex.push(i)
      init.push(val.lo, val.hi)
    } else globalRef.push(val)
  })
  // globalVals now holds every global's initial value by index (imports first)

  const nf = m.funcs.length
  const ctx: LowerContext = { module: m, typeSig, globalRef, hostId }
  const funcStart = new Int32Array(nf).fill(-1)
  const funcLength = new Int32Array(nf)
  const ops: number[] = []
  const as: number[] = []
  const bs: number[] = []
  for (let f = m.numImportedFuncs; f < nf; f++) {
    const lf = lowerFunction(ctx, f)
    funcStart[f] = ops.length
    funcLength[f] = lf.op.length
    // branch targets stay function-relative: the interpreter adds the function's start
    for (let i = 0; i < lf.op.length; i++) {
      ops.push(lf.op[i]!)
      as.push(lf.a[i]!)
      bs.push(lf.b[i]!)
    }
  }

  const funcSig = new Int32Array(nf)
  const funcParams = new Int32Array(nf)
  const funcResults = new Int32Array(nf)
  const funcLocals = new Int32Array(nf)
  const funcHost = new Int32Array(nf).fill(-1)
  for (let f = 0; f < nf; f++) {
    const t = m.types[m.funcs[f]!]!
    funcSig[f] = typeSig[m.funcs[f]!]!
    funcParams[f] = t.params.length
    funcResults[f] = t.results.length
    funcLocals[f] = t.params.length + (f >= m.numImportedFuncs ? m.codes[f - m.numImportedFuncs]!.locals.length : 0)
    if (f < m.numImportedFuncs) funcHost[f] = hostId[f]!
  }

  // memory
  let memory: Program['memory']
  const memDecl = m.memories[0]
  if (memDecl) {
    const lim = memLimits ?? memDecl
    if (lim.min > LIMITS.memoryPages) throw new VmLoadError('limit', `memory of ${lim.min} pages: the VM allows at most ${LIMITS.memoryPages}`)
    memory = { min: lim.min, max: Math.min(lim.max ?? LIMITS.memoryPages, LIMITS.memoryPages) }
  }
  const initialMemory = new Uint8Array((memory?.min ?? 0) * 65536)

  // table
  const tableDecl = m.tables[0]
  let table = new Int32Array(0)
  if (tableDecl) {
    const lim = tableLimits ?? tableDecl
    if (lim.min > 1 << 20) throw new VmLoadError('limit', `table of ${lim.min} entries: the VM allows at most 2^20`)
    table = new Int32Array(lim.min).fill(-1)
    if (tableInit) table.set(tableInit.slice(0, lim.min))
  }

  // segments: all bounds are checked before anything is written (MVP semantics of the old
  // spec: a failing segment leaves nothing applied)
  const elemPlans = m.elems.map((e) => {
    const off = constValue(e.offset, globalVals).lo >>> 0
    if (off + e.funcs.length > table.length) throw new VmLinkError('uninstantiable', 'elements segment does not fit')
    return { off, funcs: e.funcs }
  })
  const dataPlans = m.datas.map((d) => {
    const off = constValue(d.offset, globalVals).lo >>> 0
    if (off + d.bytes.length > initialMemory.length) throw new VmLinkError('uninstantiable', 'data segment does not fit')
    return { off, bytes: d.bytes }
  })
  for (const p of elemPlans) table.set(p.funcs, p.off)
  for (const p of dataPlans) initialMemory.set(p.bytes, p.off)

  const exports = new Map<string, { kind: string; index: number }>()
  for (const e of m.exports) exports.set(e.name, { kind: e.kind, index: e.index })

  const program: Program = {
    module: m,
    get moduleRoot() {
      if (!cachedModuleRoot) cachedModuleRoot = moduleRoot(moduleConstants(program))
      return cachedModuleRoot
    },
    op: Uint16Array.from(ops),
    a: Int32Array.from(as),
    b: Int32Array.from(bs),
    funcStart, funcLength, funcSig, funcParams, funcResults, funcLocals, funcHost, imports,
    globalTypes, globalInit: Int32Array.from(init), globalIndex,
    table, memory, initialMemory, exports, start: m.start,
    codeRoot: () => {
      if (!cachedRoot) cachedRoot = computeCodeRoot(program)
      return cachedRoot
    },
  }
  let cachedRoot: Uint8Array | undefined
  let cachedModuleRoot: Uint8Array | undefined
  return program
}

/** The 32-byte code leaf of instruction `pc`: its 10-byte encoding, zero-padded. */
export function instructionLeaf(p: Program, pc: number): Uint8Array {
  const leaf = new Uint8Array(32)
  encodeInstruction(p.op[pc]!, p.a[pc]!, p.b[pc]!, leaf, 0)
  return leaf
}

/** Root of one function's instruction tree (zero for an import). */
export function functionRoot(p: Program, f: number): Uint8Array {
  const start = p.funcStart[f]!
  if (start < 0) return new Uint8Array(32)
  const leaves: Uint8Array[] = []
  for (let i = 0; i < p.funcLength[f]!; i++) leaves.push(instructionLeaf(p, start + i))
  return merkleRoot(leaves)
}

/**
 * codeRoot = keccak256(functionCount u32 ‖ merkleRoot(functionRoot(0..n-1))); functionRoot =
 * merkleRoot(instruction leaves) (merkleProof.ts). The function count fixes the depth of the function
 * tree for a one-step proof (a function root and an inner node both look like a keccak output).
 */
export function computeCodeRoot(p: Program): Uint8Array {
  const roots: Uint8Array[] = []
  for (let f = 0; f < p.funcStart.length; f++) roots.push(functionRoot(p, f))
  const buf = new Uint8Array(36)
  new DataView(buf.buffer).setUint32(0, roots.length)
  buf.set(merkleRoot(roots), 4)
  return keccak(buf)
}

export { INSTRUCTION_BYTES, Op }
