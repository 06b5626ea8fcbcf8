/**
 * `npm run bench`: the project's one benchmark entry point (docs/performance.md).
 *
 *   npm run bench                              every section, full length
 *   npm run bench -- --quick                   shorter runs (a smoke test, well under a minute of measuring)
 *   npm run bench -- --only sequencer,engine   a subset (a section's same-run reference still runs)
 *   npm run bench -- --json out.json           also write every figure as one flat JSON object
 *   npm run bench -- --only dispute --dispute-sizes 1e6,1e7   the dispute section's trace sizes
 *
 * Rules: speed is measured here, never in timed tests; every figure that has a reference
 * carries its ratio to that reference measured in the same run; long work prints progress.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { type BenchContext, type BenchOptions, type BenchSection, type Figure, fmt } from './lib.js'
import { sigSection } from './sig.js'
import { engineSection } from './engine.js'
import { vmSection } from './vm.js'
import { sequencerSection } from './sequencer.js'
import { disputeSection, parseSizes } from './dispute.js'
import { hostileSection } from './hostile.js'
import { layersSection } from './layers.js'

// ---------------------------------------------------------------------------------------------
// SECTION REGISTRY. Sections run in this order. Each is a module in bench/ exporting a
// BenchSection (bench/lib.ts); a section that needs a same-run reference calls ctx.ensure().
//
// 'vm' (bench/vm.ts): the single-step VM against NATIVE WebAssembly measured in the same run (the
// same engine.wasm batches run by Node's NativeEngine): `vm_steps_per_s` (target >= 20,000,000),
// `vm_items_per_s` with reference `vm_native_items_per_s`, `vm_native_ratio` (VM time / native
// time), the same on unsigned delayed-inbox orders (`*_unsigned`), and one-step proof gas and
// calldata on anvil (`osp_*`).
//
// 'dispute' (bench/dispute.ts): whole bisection games over real traces of ~1e6, 1e7 and 1e8 VM
// steps (signed workload batches posted into the SequencerInbox) on anvil with 1-second blocks,
// played by the real Verifier, dishonest Proposer, challenger/defender DisputeAgents and a BullMQ
// TraceWorker: `dispute_<size>_wall_s` (target for 1e7: < 60 s), `_rounds`, `_l1_txs_per_side`
// (max of the two sides), `_gas_total`, `_steps`; plus the COMPUTED 2^32-step bound
// `dispute_2p32_l1_txs_per_side_bound` (target <= 10). --dispute-sizes picks the sizes.
//
// 'layers' (bench/layers.ts): the sequencer's request path one layer at a time (bare HTTP,
// + signature recovery, + the Sequencer, + the JSON-RPC server and API), loaded like 'sequencer':
// `layers_<layer>_orders_per_s` and `layers_<layer>_cpu_cores`.
//
// 'hostile' (bench/hostile.ts): honest clients' open-loop order latency alone and under attack
// (one-key flood, invalid signatures, slow-loris, garbage bodies, all at once), rate limits on:
// `hostile_honest_<phase>_p50_ms` / `_p99_ms` with their ratio to the same run's alone figures,
// `_rejected` (must be 0), and each attacker's send rate and rate-limited fraction.
// ---------------------------------------------------------------------------------------------
export const SECTIONS: BenchSection[] = [
  sigSection,
  engineSection,
  vmSection,
  disputeSection,
  sequencerSection,
  layersSection,
  hostileSection,
]

function usage(): string {
  return [
    'usage: npm run bench -- [--quick] [--only a,b] [--json FILE] [--dispute-sizes 1e6,1e7,1e8]',
    '',
    'sections:',
    ...SECTIONS.map((s) => `  ${s.name.padEnd(10)} ${s.description}`),
  ].join('\n')
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = { quick: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--quick') o.quick = true
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean)
    else if (a === '--json') o.json = argv[++i]
    else if (a.startsWith('--json=')) o.json = a.slice(7)
    else if (a === '--dispute-sizes') o.disputeSizes = parseSizes(argv[++i] ?? '')
    else if (a.startsWith('--dispute-sizes=')) o.disputeSizes = parseSizes(a.slice(16))
    else if (a === '--help' || a === '-h') {
      console.log(usage())
      process.exit(0)
    } else {
      console.error(`unknown argument ${a}\n\n${usage()}`)
      process.exit(2)
    }
  }
  if (o.json === '') o.json = undefined
  if (o.only) {
    const unknown = o.only.filter((n) => !SECTIONS.some((s) => s.name === n))
    if (unknown.length) {
      console.error(`unknown section(s) ${unknown.join(', ')}\n\n${usage()}`)
      process.exit(2)
    }
  }
  return o
}

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or undefined elsewhere. */
function machineBusySeconds(): number | undefined {
  if (!existsSync('/proc/stat')) return undefined
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f
  return (user + nice + system + irq + softirq + steal) / 100 // USER_HZ is 100 on Linux
}

/** The commit the bench ran on, with "+dirty" when the working tree has changes. */
function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return dirty ? `${rev}+dirty` : rev
  } catch {
    return 'unknown'
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const revision = gitRevision()
  const started = Date.now()
  const figures = new Map<string, Figure>()
  const done = new Set<string>()
  const running = new Set<string>()
  let current = 'bench'

  const ctx: BenchContext = {
    opts,
    figure(f) {
      let ratio: number | undefined
      if (f.reference) {
        const ref = figures.get(f.reference)?.value ?? (f.reference === f.key ? f.value : undefined)
        if (ref === undefined) throw new Error(`figure ${f.key}: reference ${f.reference} was not measured in this run`)
        ratio = f.value / ref
      }
      const fig: Figure = { ...f, ratio }
      figures.set(f.key, fig)
      console.log(`[${current}] ${f.key} = ${fmt(f.value)} ${f.unit}${ratio !== undefined && f.reference !== f.key ? `  (${fmt(ratio)}x ${f.reference})` : ''}`)
      return fig
    },
    get: (key) => figures.get(key)?.value,
    async ensure(name) {
      if (done.has(name) || running.has(name)) return
      const s = SECTIONS.find((x) => x.name === name)
      if (!s) throw new Error(`no bench section ${name}`)
      await runSection(s, true)
    },
    progress(line) {
      console.log(`[${current} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)
    },
  }

  async function runSection(s: BenchSection, asReference = false) {
    const prev = current
    current = s.name
    running.add(s.name)
    const t0 = Date.now()
    const busy0 = machineBusySeconds()
    const cpu0 = process.cpuUsage()
    ctx.progress(asReference ? `running as a same-run reference` : `starting${opts.quick ? ' (quick)' : ''}`)
    try {
      await s.run(ctx)
    } finally {
      running.delete(s.name)
      done.add(s.name)
    }
    const busy1 = machineBusySeconds()
    if (busy0 !== undefined && busy1 !== undefined) {
      // Everything that ran on the machine besides this process (for `sequencer` that includes
      // its own anvil, Redis and load clients). On a quiet machine it is ~0 for sig and engine.
      const own = process.cpuUsage(cpu0)
      const other = (busy1 - busy0 - (own.user + own.system) / 1e6) / ((Date.now() - t0) / 1000)
      ctx.figure({ key: `${s.name}_section_other_cpu_cores`, value: Math.max(0, other), unit: 'cores', note: `CPU used by other processes during the ${s.name} section (machine has ${os.cpus().length})` })
    }
    ctx.progress(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    current = prev
  }

  console.log(`Veridex bench ${new Date(started).toISOString()}  node ${process.version}  ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}  git ${revision}${opts.quick ? '  --quick' : ''}`)
  for (const s of SECTIONS) {
    if (opts.only && !opts.only.includes(s.name)) continue
    if (done.has(s.name)) continue
    await runSection(s)
  }
  const seconds = (Date.now() - started) / 1000

  // The table.
  const rows = [...figures.values()].map((f) => [
    f.key,
    fmt(f.value),
    f.unit,
    f.ratio === undefined ? '' : f.reference === f.key ? '1 (reference)' : `${fmt(f.ratio)}x ${f.reference}`,
  ])
  const head = ['figure', 'value', 'unit', 'ratio to same-run reference']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  console.log('')
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
  console.log(`\nbench finished in ${seconds.toFixed(1)} s${opts.quick ? ' (--quick)' : ''}`)

  if (opts.json) {
    const out: Record<string, number | string> = {
      bench_started_at: new Date(started).toISOString(),
      bench_quick: opts.quick ? 1 : 0,
      bench_cpus: os.cpus().length,
      bench_node: process.version,
      bench_git: revision,
      bench_seconds: Number(seconds.toFixed(1)),
    }
    for (const f of figures.values()) {
      out[f.key] = Number(f.value.toPrecision(6))
      if (f.ratio !== undefined && f.reference !== f.key) out[`${f.key}_ratio`] = Number(f.ratio.toPrecision(6))
    }
    writeFileSync(opts.json, JSON.stringify(out, null, 2) + '\n')
    console.log(`wrote ${Object.keys(out).length} figures to ${opts.json}`)
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench failed: ${e.stack ?? e.message}`)
    process.exit(1)
  },
)
