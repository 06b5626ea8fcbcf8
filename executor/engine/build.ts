/**
 * Builds executor/engine/build/engine.wasm from the AssemblyScript sources in ./assembly.
 *
 * 1. asc (stub runtime: no GC, the engine manages its own memory), -O3, bulk memory off.
 * 2. {@link assertIntegerOnly}: rejects any float instruction or float-typed
 *    param/result/local/global (and SIMD), naming the function and the instruction.
 * 3. {@link finalizeModule}: exports every mutable global as `g$<index>` so the native host can
 *    read the whole machine state (docs/protocol.md §9); checks the imports against the host list.
 * 4. Writes build/engine.wasm and build/engine.wat; a stamp (hash of sources, flags and compiler
 *    version) skips the work when nothing changed.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import asc from 'assemblyscript/asc'
import binaryen from 'binaryen'
import { MEMORY_MAX_PAGES } from '../../sdk/protocol.js'

const ENGINE_DIR = dirname(fileURLToPath(import.meta.url))
export const ASSEMBLY_DIR = join(ENGINE_DIR, 'assembly')
export const BUILD_DIR = join(ENGINE_DIR, 'build')

/** Pages present at instantiation: static data and the fixed regions (assembly/layout.ts INITIAL_PAGES). */
export const INITIAL_PAGES = 3

/** The only imports engine.wasm may have (docs/protocol.md §8). */
export const ALLOWED_IMPORTS: Record<string, string> = {
  'veridex.inbox_read': '(i32,i32,i32)->i32',
  'veridex.delayed_read': '(i64,i32,i32,i32)->i32',
  'veridex.keccak256': '(i32,i32,i32)->',
  'veridex.ecrecover': '(i32,i32,i32)->i32',
  'env.abort': '(i32,i32,i32,i32)->',
}

/** Compiler flags shared by the engine and by tests that compile snippets. */
export const ASC_FLAGS = [
  '--runtime', 'stub',
  '-O3',
  '--initialMemory', String(INITIAL_PAGES),
  '--maximumMemory', String(MEMORY_MAX_PAGES),
  // Off: bulk memory (memory.copy/fill become plain loops), non-trapping float-to-int.
  // Kept: sign-extension (integer ops), mutable-globals (needed to export g$ globals).
  '--disable', 'bulk-memory,nontrapping-f2i',
  // Keeps the name section (function names in traps, in engine.wat and in errors). The code is
  // byte-identical to a build without it; the VM ignores custom sections.
  '--debug',
  '--noColors',
]

/** Features the finished module may use (binaryen feature flags). */
const FEATURES = binaryen.Features.MutableGlobals | binaryen.Features.SignExt

/**
 * Compiles AssemblyScript. `files` (name → source) are served from memory, other reads go to
 * `baseDir`. Returns the raw, unchecked module.
 */
export async function compileAssemblyScript(
  entry: string,
  opts: { baseDir?: string; files?: Record<string, string>; flags?: string[] } = {},
): Promise<Uint8Array> {
  const baseDir = opts.baseDir ?? ASSEMBLY_DIR
  const outputs: Record<string, Uint8Array | string> = {}
  const stderr: string[] = []
  const result = await asc.main(
    [entry, '--baseDir', baseDir, '-o', 'out.wasm', ...(opts.flags ?? ASC_FLAGS)],
    {
      readFile: (name: string, dir: string) => {
        if (opts.files && name in opts.files) return opts.files[name]!
        try {
          return readFileSync(join(dir, name), 'utf8')
        } catch {
          return null
        }
      },
      writeFile: (name: string, contents: Uint8Array | string) => {
        outputs[name] = contents
      },
      listFiles: (dir: string, base: string) => {
        try {
          return readdirSync(join(base, dir)).filter((f) => f.endsWith('.ts'))
        } catch {
          return null
        }
      },
      stdout: { write: () => true } as never,
      stderr: {
        write: (s: string | Uint8Array) => {
          stderr.push(typeof s === 'string' ? s : new TextDecoder().decode(s))
          return true
        },
      } as never,
    },
  )
  if (result.error) throw new Error(`AssemblyScript compilation failed: ${result.error.message}\n${stderr.join('')}`)
  const wasm = outputs['out.wasm']
  if (!(wasm instanceof Uint8Array)) throw new Error(`AssemblyScript produced no binary\n${stderr.join('')}`)
  return wasm
}

const FORBIDDEN = /f32|f64|v128/

/**
 * Throws unless the module is integer-only: no f32/f64/v128 instruction, and no float or SIMD
 * type on any function signature, local, global or block. The error names the function (or
 * global/type/import) and the offending instruction or type.
 */
export function assertIntegerOnly(wasm: Uint8Array): void {
  const mod = binaryen.readBinaryWithFeatures(wasm, binaryen.Features.All)
  let text: string
  try {
    text = mod.emitText()
  } finally {
    mod.dispose()
  }
  const problems: string[] = []
  let where = 'module'
  const nameRe = /\$("(?:[^"\\]|\\.)*"|[^\s()]+)/
  for (const raw of text.split('\n')) {
    const head = raw.match(/^\s*\((func|global|type|import|export|data|elem|table|memory|tag)\b/)
    if (head) {
      const name = raw.match(nameRe)?.[1] ?? ''
      if (head[1] === 'func' && raw.match(/^ \(func/)) where = `function ${name}`
      else if (head[1] !== 'func') where = `${head[1]} ${name}`.trim()
    }
    const line = raw
      .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (data segments, import names)
      .replace(/;;.*$/, '') // comments
      .replace(/\$[^\s()]+/g, ' ') // names
    for (const tok of line.split(/[\s()]+/)) {
      if (!tok || !FORBIDDEN.test(tok) || /^-?(0x)?[0-9a-f_.]+$/i.test(tok) && !/^f(32|64)$/.test(tok)) continue
      const kind = tok.includes('.') ? 'instruction' : 'type'
      problems.push(`${where}: ${kind} ${tok}`)
      if (problems.length >= 20) break
    }
    if (problems.length >= 20) break
  }
  if (problems.length) {
    const instr = problems.filter((p) => p.includes(': instruction '))
    const first = instr[0] ?? problems[0]
    throw new Error(
      `module is not integer-only (the VM has no floats): ${first}` +
        (problems.length > 1 ? `\n  also: ${problems.filter((p) => p !== first).join('\n  also: ')}` : ''),
    )
  }
}

export interface FinalizedModule {
  wasm: Uint8Array
  wat: string
  /** Indices of the mutable globals, each exported as `g$<index>`. */
  mutableGlobals: number[]
  imports: string[]
}

/**
 * Adds a `g$<index>` export for every mutable global and re-emits the module. With `engine`
 * set, also enforces the engine's import list, the absence of a start function and the
 * memory limits.
 */
export function finalizeModule(wasm: Uint8Array, opts: { engine?: boolean } = {}): FinalizedModule {
  const mod = binaryen.readBinaryWithFeatures(wasm, FEATURES)
  try {
    const mutableGlobals: number[] = []
    const n = mod.getNumGlobals()
    for (let i = 0; i < n; i++) {
      const info = binaryen.getGlobalInfo(mod.getGlobalByIndex(i))
      if (info.module) throw new Error(`global ${info.name} is imported from ${info.module}.${info.base}; the engine may import functions only`)
      if (info.type !== binaryen.i32 && info.type !== binaryen.i64) throw new Error(`global ${info.name} is not i32/i64`)
      if (info.mutable) {
        mutableGlobals.push(i)
        mod.addGlobalExport(info.name, `g$${i}`)
      }
    }
    const imports: string[] = []
    for (let i = 0; i < mod.getNumFunctions(); i++) {
      const fn = binaryen.getFunctionInfo(mod.getFunctionByIndex(i))
      if (!fn.module) continue
      const key = `${fn.module}.${fn.base}`
      imports.push(key)
      if (opts.engine) {
        const sig = `(${binaryen.expandType(fn.params).map(typeName).join(',')})->${binaryen.expandType(fn.results).map(typeName).join(',')}`
        const want = ALLOWED_IMPORTS[key]
        if (!want) throw new Error(`import ${key} is not a host function (allowed: ${Object.keys(ALLOWED_IMPORTS).join(', ')})`)
        if (want !== sig) throw new Error(`import ${key} has signature ${sig}, expected ${want}`)
      }
    }
    if (opts.engine) {
      const text = mod.emitText()
      if (/^\s*\(start\b/m.test(text)) throw new Error('engine.wasm must not have a start function (top-level statements or non-constant globals in the AssemblyScript sources)')
      const mem = text.match(/^\s*\(memory \$\S+ (\d+) (\d+)\)/m)
      if (!mem || Number(mem[2]) !== MEMORY_MAX_PAGES) throw new Error(`engine.wasm memory must have maximum ${MEMORY_MAX_PAGES} pages (got ${mem?.[0] ?? 'none'})`)
    }
    if (!mod.validate()) throw new Error('binaryen validation failed: the module is invalid or uses a feature outside MVP + mutable-globals + sign-extension (the validator printed the offending code above)')
    const debugInfo = binaryen.getDebugInfo()
    binaryen.setDebugInfo(true) // keep the name section
    try {
      return { wasm: mod.emitBinary(), wat: mod.emitText(), mutableGlobals, imports }
    } finally {
      binaryen.setDebugInfo(debugInfo)
    }
  } finally {
    mod.dispose()
  }
}

function typeName(t: number): string {
  if (t === binaryen.i32) return 'i32'
  if (t === binaryen.i64) return 'i64'
  if (t === binaryen.f32) return 'f32'
  if (t === binaryen.f64) return 'f64'
  return `type${t}`
}

export const engineWasmFile = () => join(BUILD_DIR, 'engine.wasm')

function sourceStamp(): string {
  const h = createHash('sha256')
  h.update(`asc ${asc.version}\n`)
  h.update(ASC_FLAGS.join(' '))
  h.update(readFileSync(fileURLToPath(import.meta.url)))
  for (const f of readdirSync(ASSEMBLY_DIR).sort()) {
    h.update(`\n--- ${f}\n`)
    h.update(readFileSync(join(ASSEMBLY_DIR, f)))
  }
  return h.digest('hex')
}

/** Builds engine.wasm (and engine.wat) unless the stamp says it is up to date. */
export async function buildEngine(): Promise<{ bytes: number; cached: boolean }> {
  const wasmPath = engineWasmFile()
  const stampPath = join(BUILD_DIR, 'engine.stamp')
  const stamp = sourceStamp()
  if (existsSync(wasmPath) && existsSync(stampPath) && readFileSync(stampPath, 'utf8').trim() === stamp) {
    return { bytes: readFileSync(wasmPath).length, cached: true }
  }
  const raw = await compileAssemblyScript('index.ts')
  assertIntegerOnly(raw)
  const { wasm, wat } = finalizeModule(raw, { engine: true })
  assertIntegerOnly(wasm)
  mkdirSync(BUILD_DIR, { recursive: true })
  writeFileSync(wasmPath, wasm)
  writeFileSync(join(BUILD_DIR, 'engine.wat'), wat)
  writeFileSync(stampPath, stamp + '\n')
  return { bytes: wasm.length, cached: false }
}
