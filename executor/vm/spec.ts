/**
 * Runs WebAssembly spec-test command files (wast2json output) against the VM.
 *
 * Counting rules (docs/vm.md): a command against a module the VM rejects for floats (or another
 * unsupported feature) is skipped, never passed. Everything else passes or fails. Rejections must
 * be for the spec's reason: the error message must contain the expected text.
 *
 * Text-format modules (`module_type: "text"`, wast2json's `.wat` for `(module quote …)`) go through
 * wabt's text parser to a binary and then through the same loader as every other module
 * (specText.ts). assert_malformed passes if wabt rejects the text or the loader rejects wabt's
 * binary as malformed (the spec's reason is then not required: it names a text-level error that
 * the binary no longer carries). Any other command needs wabt to accept the text, then is judged
 * exactly like its binary form; a wabt rejection there is a failure.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { run } from './interpreter.js'
import { Machine, Status } from './machine.js'
import { type HostFunctionSpec, type ImportSpec, loadProgram, VmLinkError } from './program.js'
import type { HostFn } from './machine.js'
import { I32, I64, VmLoadError } from './wasm/decoder.js'
import { loadWabt, moduleText, WatRejected, watToWasm } from './specText.js'

/** spectest imports, for the spec runner only (never for the engine). */
const SPECTEST_FUNCTIONS: HostFunctionSpec[] = [
  { module: 'spectest', name: 'print', type: { params: [], results: [] }, id: 0 },
  { module: 'spectest', name: 'print_i32', type: { params: [I32], results: [] }, id: 1 },
  { module: 'spectest', name: 'print_i64', type: { params: [I64], results: [] }, id: 2 },
]
const SPECTEST_HOSTS: HostFn[] = [
  () => undefined,
  (m) => { m.sp -= 1; return undefined },
  (m) => { m.sp -= 1; return undefined },
]
export const SPECTEST_IMPORTS: ImportSpec = {
  functions: SPECTEST_FUNCTIONS,
  globals: [
    { module: 'spectest', name: 'global_i32', type: I32, mutable: false, lo: 666, hi: 0 },
    { module: 'spectest', name: 'global_i64', type: I64, mutable: false, lo: 666, hi: 0 },
  ],
  memories: [{ module: 'spectest', name: 'memory', limits: { min: 1, max: 2 } }],
  tables: [{ module: 'spectest', name: 'table', limits: { min: 10, max: 20 } }],
}

/** Steps one invocation may take before the runner calls it a hang. */
const FUEL = 200_000_000

export interface SpecFileResult {
  file: string
  passed: number
  failed: number
  skipped: number
  /** reason → count */
  skipReasons: Record<string, number>
  failures: string[]
}

interface Value { type: string; value?: string }
interface Action { type: 'invoke' | 'get'; module?: string; field: string; args?: Value[] }
interface Command {
  type: string
  line: number
  filename?: string
  name?: string
  as?: string
  text?: string
  module_type?: string
  action?: Action
  expected?: Value[]
}

type Instance = { machine: Machine } | { rejected: string }

/** wabt's errors quote the source with a caret line; keep the messages short. */
const firstLines = (msg: string) => msg.split('\n').filter((l) => l.trim() !== '').slice(0, 2).join(' / ')

function toSlot(v: Value): { lo: number; hi: number } {
  if (v.type === 'i32') return { lo: Number(BigInt(v.value!) & 0xffffffffn) | 0, hi: 0 }
  if (v.type === 'i64') {
    const b = BigInt.asUintN(64, BigInt(v.value!))
    return { lo: Number(b & 0xffffffffn) | 0, hi: Number(b >> 32n) | 0 }
  }
  throw new Error(`value type ${v.type} is not an integer`)
}

function slotString(type: string, s: { lo: number; hi: number }): string {
  return type === 'i64' ? ((BigInt(s.hi >>> 0) << 32n) | BigInt(s.lo >>> 0)).toString() : String(s.lo >>> 0)
}

/** Loads and instantiates a module for the spec runner (start function included). */
export function instantiateSpec(wasm: Uint8Array): Machine {
  const program = loadProgram(wasm, SPECTEST_IMPORTS)
  const m = new Machine(program, { hosts: SPECTEST_HOSTS })
  if (program.start !== undefined) {
    m.invoke(program.start, [])
    run(m, FUEL)
    if (m.status === Status.Errored) throw new VmLinkError('uninstantiable', `start function trapped: ${m.trapReason}`)
  }
  return m
}

/** Runs one command file; async because wabt (text-format modules) initializes asynchronously. */
export async function runSpecFile(path: string): Promise<SpecFileResult> {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { commands: Command[] }
  const dir = dirname(path)
  const isText = (c: Command) => c.module_type === 'text' || (c.filename?.endsWith('.wat') ?? false)
  // if wabt cannot start, its commands fail (below) rather than the whole file
  const wabt = json.commands.some((c) => c.filename && isText(c)) ? await loadWabt().catch((e: unknown) => new Error(`wabt did not load: ${String(e)}`)) : undefined
  const res: SpecFileResult = { file: path, passed: 0, failed: 0, skipped: 0, skipReasons: {}, failures: [] }
  const skip = (reason: string) => {
    res.skipped++
    res.skipReasons[reason] = (res.skipReasons[reason] ?? 0) + 1
  }
  const fail = (c: Command, why: string) => {
    res.failed++
    res.failures.push(`${path}:${c.line} ${c.type}: ${why}`)
  }
  const named = new Map<string, Instance>()
  let current: Instance | undefined
  /** The command's module as a binary; a text module via wabt (throws WatRejected if wabt refuses it). */
  const moduleBytes = (c: Command): Uint8Array => {
    if (!isText(c)) return new Uint8Array(readFileSync(join(dir, c.filename!)))
    if (!wabt || wabt instanceof Error) throw wabt ?? new Error('wabt did not load')
    return watToWasm(wabt, moduleText(dir, path, c.filename!, c.line), c.filename)
  }
  /** Feature rejections (floats etc.) are skips; anything else is a real error. */
  const skipKind = (e: unknown) => (e instanceof VmLoadError && !['malformed', 'invalid'].includes(e.kind) ? e.kind : undefined)

  const instanceFor = (a: Action) => (a.module ? named.get(a.module) : current)

  /** Performs an action; returns results, a trap reason, or a skip/failure marker. */
  const perform = (c: Command, a: Action): { results?: { lo: number; hi: number }[]; trap?: string; skip?: string; error?: string } => {
    const inst = instanceFor(a)
    if (!inst) return { error: 'no module instance' }
    if ('rejected' in inst) return { skip: inst.rejected }
    const m = inst.machine
    if ([...(a.args ?? []), ...(c.expected ?? [])].some((v) => v.type !== 'i32' && v.type !== 'i64')) return { skip: 'float' }
    const e = m.program.exports.get(a.field)
    if (!e) return { error: `no export ${a.field}` }
    if (a.type === 'get') {
      if (e.kind !== 'global') return { error: `${a.field} is not a global` }
      const g = m.program.module.globals[e.index]!
      const slot = m.program.globalIndex.indexOf(e.index)
      if (slot >= 0) return { results: [{ lo: m.globals[2 * slot]!, hi: m.globals[2 * slot + 1]! }] }
      if (g.init?.kind === 'i32') return { results: [{ lo: g.init.value, hi: 0 }] }
      if (g.init?.kind === 'i64') return { results: [{ lo: g.init.lo, hi: g.init.hi }] }
      return { error: `cannot read global ${a.field}` }
    }
    if (e.kind !== 'func') return { error: `${a.field} is not a function` }
    m.invoke(e.index, (a.args ?? []).map(toSlot))
    run(m, FUEL)
    if (m.status === Status.Errored) return { trap: m.trapReason ?? 'trap' }
    if (m.status !== Status.Finished) return { error: `did not finish within ${FUEL} steps` }
    return { results: m.results() }
  }

  for (const c of json.commands) {
    try {
      switch (c.type) {
        case 'module': {
          try {
            current = { machine: instantiateSpec(moduleBytes(c)) }
            res.passed++
          } catch (e) {
            const k = skipKind(e)
            if (!k) throw e
            current = { rejected: k }
            skip(k)
          }
          if (c.name) named.set(c.name, current)
          break
        }
        case 'register':
          // no file in the suite needs cross-module linking yet; registering itself is a no-op
          if (c.name && current) named.set(c.name, current)
          res.passed++
          break
        case 'action': {
          const r = perform(c, c.action!)
          if (r.skip) skip(r.skip)
          else if (r.error) fail(c, r.error)
          else res.passed++
          break
        }
        case 'assert_return': {
          const r = perform(c, c.action!)
          if (r.skip) { skip(r.skip); break }
          if (r.error) { fail(c, r.error); break }
          if (r.trap) { fail(c, `trapped: ${r.trap}`); break }
          const exp = c.expected ?? []
          const got = r.results!
          if (got.length !== exp.length) { fail(c, `expected ${exp.length} results, got ${got.length}`); break }
          const bad = exp.findIndex((v, i) => slotString(v.type, toSlot(v)) !== slotString(v.type, got[i]!) || (v.type === 'i32' && got[i]!.hi !== 0))
          if (bad >= 0) fail(c, `result ${bad}: expected ${exp[bad]!.value}, got ${slotString(exp[bad]!.type, got[bad]!)} (hi ${got[bad]!.hi})`)
          else res.passed++
          break
        }
        case 'assert_trap':
        case 'assert_exhaustion': {
          if (c.filename) {
            // a module whose instantiation traps
            try {
              instantiateSpec(moduleBytes(c))
              fail(c, 'module instantiated; expected a trap')
            } catch (e) {
              const k = skipKind(e)
              if (k) skip(k)
              else if (e instanceof VmLinkError && e.message.includes(c.text!)) res.passed++
              else fail(c, `wrong error: ${(e as Error).message}`)
            }
            break
          }
          const r = perform(c, c.action!)
          if (r.skip) { skip(r.skip); break }
          if (r.error) { fail(c, r.error); break }
          if (!r.trap) { fail(c, `returned; expected trap "${c.text}"`); break }
          if (c.type === 'assert_exhaustion' ? r.trap.includes('exhausted') : r.trap.startsWith(c.text!)) res.passed++
          else fail(c, `trapped with "${r.trap}", expected "${c.text}"`)
          break
        }
        case 'assert_invalid':
        case 'assert_malformed':
        case 'assert_unlinkable':
        case 'assert_uninstantiable': {
          try {
            const m = instantiateSpec(moduleBytes(c))
            // Pre-2.0 suites (func.wast at a4a48e8) call multiple results invalid; the multi-value
            // proposal, which the newer block/loop/call suites rely on, made them valid.
            if (c.text === 'invalid result arity' && m.program.module.types.some((t) => t.results.length > 1)) { skip('superseded by multi-value'); break }
            fail(c, `module loaded; expected "${c.text}"`)
          } catch (e) {
            if (e instanceof WatRejected) {
              // wabt's parser is the text-format check; every other command needs a well-formed module
              if (c.type === 'assert_malformed') res.passed++
              else fail(c, `wabt could not parse the text: ${firstLines(e.message)} (expected "${c.text}")`)
              break
            }
            const k = skipKind(e)
            if (k) { skip(k); break }
            const msg = (e as Error).message
            const kindOk =
              c.type === 'assert_invalid' ? e instanceof VmLoadError && e.kind === 'invalid'
              : c.type === 'assert_malformed' ? e instanceof VmLoadError && e.kind === 'malformed'
              : c.type === 'assert_unlinkable' ? e instanceof VmLinkError && e.kind === 'unlinkable'
              : e instanceof VmLinkError && e.kind === 'uninstantiable'
            // a text module's assert_malformed names a text-level error the binary no longer carries
            const reasonOk = msg.includes(c.text!) || (c.type === 'assert_malformed' && isText(c))
            if (kindOk && reasonOk) res.passed++
            else fail(c, `rejected for another reason: ${(e as Error).name}: ${msg} (expected "${c.text}")`)
          }
          break
        }
        default:
          fail(c, `unknown command type ${c.type}`)
      }
    } catch (e) {
      fail(c, e instanceof WatRejected ? `wabt could not parse the text: ${firstLines(e.message)}` : `error: ${(e as Error).message}`)
    }
  }
  return res
}
