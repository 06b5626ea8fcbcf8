/**
 * Text-format modules of the spec suite, for the spec runner only (executor/vm/spec.ts).
 *
 * wast2json writes a `(module quote "...")` command as a `.wat` file with `module_type: "text"`.
 * The runner turns that text into a binary with wabt (the WebAssembly Binary Toolkit's own text
 * parser, so we keep no WAT parser of our own) and hands the binary to the VM's loader. When the
 * `.wat` file is not shipped next to the command file (/work/shared/wasm-spec ships only the
 * `.wasm` files and the `.wast` source), the quoted text is read from the `.wast` at the command's
 * line, which is where wast2json's `line` points: the `(module quote` form.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type wabtInit from 'wabt'

type Wabt = Awaited<ReturnType<typeof wabtInit>>
type WabtFeatures = NonNullable<Parameters<Wabt['parseWat']>[2]>

/**
 * The features the suite was converted with: wast2json (wabt 1.0.32) defaults with
 * `--disable-bulk-memory --disable-reference-types` (/work/shared/wasm-spec/README.md), plus
 * memory64. address.wast (testsuite 193e551) follows the memory64-era spec, where a memarg offset
 * is a u64 and one ≥ 2^32 on a 32-bit memory is *invalid* ("offset out of range"); without
 * memory64 wabt's parser rejects such an offset itself, so it would never reach our validator.
 * None of the suite's other text modules parses differently with it. Spelled out in full so a
 * change of wabt's defaults cannot change what the runner accepts.
 */
export const SPEC_TEXT_FEATURES: WabtFeatures = {
  exceptions: false,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: false,
  function_references: false,
  multi_value: true,
  tail_call: false,
  bulk_memory: false,
  reference_types: false,
  annotations: false,
  code_metadata: false,
  gc: false,
  memory64: true,
  extended_const: false,
  relaxed_simd: false,
}

let wabtPromise: Promise<Wabt> | undefined
/**
 * wabt instantiates its own wasm asynchronously; one instance serves every file. Imported on first
 * use, so loading spec.ts (e.g. for SPECTEST_IMPORTS) does not load wabt.
 */
export function loadWabt(): Promise<Wabt> {
  wabtPromise ??= import('wabt').then((m) => m.default())
  return wabtPromise
}

/** wabt's text parser refused the module (the text is malformed as far as wabt can tell). */
export class WatRejected extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WatRejected'
  }
}

/**
 * Text → binary with wabt: parse and resolve names, then encode. wabt's validator is not run, so
 * a well-formed but invalid module reaches our loader, whose validation is what the suite tests.
 * Throws WatRejected if wabt cannot parse or resolve the text; never anything else from wabt.
 */
export function watToWasm(wabt: Wabt, text: Uint8Array, name = 'module.wat'): Uint8Array {
  let mod: ReturnType<Wabt['parseWat']> | undefined
  try {
    mod = wabt.parseWat(name, text, SPEC_TEXT_FEATURES)
    mod.resolveNames()
    return new Uint8Array(mod.toBinary({ log: false, canonicalize_lebs: true, relocatable: false, write_debug_names: false }).buffer)
  } catch (e) {
    throw new WatRejected(String((e as Error)?.message ?? e).trim())
  } finally {
    try { mod?.destroy() } catch { /* already released */ }
  }
}

/**
 * The text of a text-format command's module: the `.wat` file if present, else the quoted strings
 * of the `(module quote …)` form at `line` of the `.wast` beside the command file.
 */
export function moduleText(dir: string, jsonPath: string, filename: string, line: number): Uint8Array {
  const wat = join(dir, filename)
  if (existsSync(wat)) return new Uint8Array(readFileSync(wat))
  const wast = jsonPath.replace(/\.json$/, '.wast')
  if (!existsSync(wast)) throw new Error(`${filename} is missing and there is no ${wast} to read it from`)
  return quotedModuleAt(new Uint8Array(readFileSync(wast)), line)
}

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d
const isIdChar = (b: number) => b > 0x20 && b < 0x7f && b !== 0x28 && b !== 0x29 && b !== 0x22 && b !== 0x3b && b !== 0x2c

/**
 * The concatenated strings of the `(module [$id] quote "…"*)` form starting on `line` (1-based),
 * escapes resolved (`\t \n \r \" \' \\ \hh \u{h…}`), concatenated without separators as wast2json
 * writes them. Throws unless that line starts exactly such a form.
 */
export function quotedModuleAt(src: Uint8Array, line: number): Uint8Array {
  let pos = 0
  for (let l = 1; l < line; l++) {
    const nl = src.indexOf(0x0a, pos)
    if (nl < 0) throw new Error(`line ${line} is past the end of the .wast`)
    pos = nl + 1
  }
  const where = () => `.wast line ${line}, byte ${pos}`
  const skipBlank = () => {
    for (;;) {
      if (pos < src.length && isSpace(src[pos]!)) pos++
      else if (src[pos] === 0x3b && src[pos + 1] === 0x3b) { // ;; line comment
        while (pos < src.length && src[pos] !== 0x0a) pos++
      } else if (src[pos] === 0x28 && src[pos + 1] === 0x3b) { // (; block comment ;), nesting
        let depth = 0
        do {
          if (pos >= src.length) throw new Error(`unterminated block comment (${where()})`)
          if (src[pos] === 0x28 && src[pos + 1] === 0x3b) { depth++; pos += 2 }
          else if (src[pos] === 0x3b && src[pos + 1] === 0x29) { depth--; pos += 2 }
          else pos++
        } while (depth > 0)
      } else return
    }
  }
  const word = (): string => {
    const start = pos
    while (pos < src.length && isIdChar(src[pos]!)) pos++
    return Buffer.from(src.subarray(start, pos)).toString('latin1')
  }
  skipBlank()
  if (src[pos] !== 0x28) throw new Error(`expected "(module quote" (${where()})`)
  pos++
  skipBlank()
  if (word() !== 'module') throw new Error(`expected "(module quote" (${where()})`)
  skipBlank()
  if (src[pos] === 0x24) { word(); skipBlank() } // $name
  if (word() !== 'quote') throw new Error(`expected "(module quote" (${where()})`)
  const out: number[] = []
  const hex = (b: number | undefined) => {
    if (b === undefined) return -1
    if (b >= 0x30 && b <= 0x39) return b - 0x30
    if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10
    if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10
    return -1
  }
  for (;;) {
    skipBlank()
    if (src[pos] === 0x29) return new Uint8Array(out)
    if (src[pos] !== 0x22) throw new Error(`expected a string or ")" in (module quote …) (${where()})`)
    pos++
    for (;;) {
      const b = src[pos++]
      if (b === undefined) throw new Error(`unterminated string (${where()})`)
      if (b === 0x22) break
      if (b !== 0x5c) { out.push(b); continue }
      const e = src[pos++]
      if (e === 0x74) out.push(0x09)
      else if (e === 0x6e) out.push(0x0a)
      else if (e === 0x72) out.push(0x0d)
      else if (e === 0x22 || e === 0x27 || e === 0x5c) out.push(e)
      else if (e === 0x75 && src[pos] === 0x7b) { // \u{hex}: the code point, UTF-8 encoded
        const close = src.indexOf(0x7d, pos)
        if (close < 0) throw new Error(`bad \\u escape (${where()})`)
        const cp = parseInt(Buffer.from(src.subarray(pos + 1, close)).toString('latin1').replace(/_/g, ''), 16)
        if (!Number.isInteger(cp) || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) throw new Error(`bad \\u escape (${where()})`)
        out.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'))
        pos = close + 1
      } else if (hex(e) >= 0 && hex(src[pos]) >= 0) {
        out.push(hex(e) * 16 + hex(src[pos]))
        pos++
      } else throw new Error(`bad escape "\\${String.fromCharCode(e ?? 0x3f)}" (${where()})`)
    }
  }
}
