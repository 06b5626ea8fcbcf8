/**
 * A minimal WebAssembly binary writer for tests and tools: enough to build small modules with
 * types, imports, functions, one memory, one table, globals and exports.
 */
export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c } as const

export function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n = Math.floor(n / 128)
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

export function sleb(v: bigint | number): number[] {
  let n = BigInt(v)
  const out: number[] = []
  for (;;) {
    const b = Number(n & 0x7fn)
    n >>= 7n
    if ((n === 0n && !(b & 0x40)) || (n === -1n && b & 0x40)) { out.push(b); return out }
    out.push(b | 0x80)
  }
}

const str = (s: string) => { const b = [...new TextEncoder().encode(s)]; return [...uleb(b.length), ...b] }
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]) => (body.length ? [id, ...uleb(body.length), ...body] : [])

export interface ModuleSpec {
  types: { params: number[]; results: number[] }[]
  imports?: { module: string; name: string; type: number }[]
  funcs?: { type: number; locals?: number[]; body: number[] }[]
  memory?: { min: number; max?: number }
  table?: { min: number; elems: number[] }
  globals?: { type: number; mutable: boolean; init: number[] }[]
  exports?: { name: string; kind: 'func' | 'memory' | 'global'; index: number }[]
}

/** Builds a module; function bodies are raw instruction bytes without the final `end`. */
export function buildModule(s: ModuleSpec): Uint8Array {
  const types = vec(s.types.map((t) => [0x60, ...vec(t.params.map((p) => [p])), ...vec(t.results.map((r) => [r]))]))
  const imports = vec((s.imports ?? []).map((i) => [...str(i.module), ...str(i.name), 0, ...uleb(i.type)]))
  const funcs = vec((s.funcs ?? []).map((f) => uleb(f.type)))
  const table = s.table ? vec([[0x70, 0, ...uleb(s.table.min)]]) : []
  const memory = s.memory ? vec([s.memory.max === undefined ? [0, ...uleb(s.memory.min)] : [1, ...uleb(s.memory.min), ...uleb(s.memory.max)]]) : []
  const globals = vec((s.globals ?? []).map((g) => [g.type, g.mutable ? 1 : 0, ...g.init, 0x0b]))
  const kinds = { func: 0, memory: 2, global: 3 }
  const exports = vec((s.exports ?? []).map((e) => [...str(e.name), kinds[e.kind], ...uleb(e.index)]))
  const elems = s.table ? vec([[0, 0x41, 0, 0x0b, ...vec(s.table.elems.map((e) => uleb(e)))]]) : []
  const code = vec((s.funcs ?? []).map((f) => {
    const locals = vec((f.locals ?? []).map((t) => [1, t]))
    const body = [...locals, ...f.body, 0x0b]
    return [...uleb(body.length), ...body]
  }))
  return Uint8Array.from([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, types),
    ...(s.imports?.length ? section(2, imports) : []),
    ...(s.funcs?.length ? section(3, funcs) : []),
    ...section(4, table),
    ...section(5, memory),
    ...(s.globals?.length ? section(6, globals) : []),
    ...(s.exports?.length ? section(7, exports) : []),
    ...section(9, elems),
    ...(s.funcs?.length ? section(10, code) : []),
  ])
}
