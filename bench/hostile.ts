/**
 * `hostile`: honest clients' order latency alone, then while attackers run (bench/hostileClient.ts:
 * a one-key order flood, invalid-signature batches, slow-loris sockets, oversized/deep/malformed
 * bodies, then all at once; last, a botnet of valid signatures from fresh keys over 256 addresses). A devnet started as the tests start one, with the node's default
 * rate limits and NO exempt address (loopback is limited too, like any client). The honest side
 * is bench/loadClient.ts in open loop at a fixed rate from 127.0.0.1 (16 funded accounts); each
 * attack comes from its own loopback addresses, in a separate process. Every p99 under attack
 * carries its ratio to the p99 alone, measured in the same run.
 *
 * Attacks are sent at fixed offered rates (bench/hostileClient.ts) from a process at niceness 10,
 * standing in for machines elsewhere; on this 2-core machine they still compete with the node
 * (and with whatever else runs: see hostile_section_other_cpu_cores), so the ratios include some
 * of that contention, not only the node's own work for the attackers (hostile_node_*_cpu_cores).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { performance as perf } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { type Address, maxUint256, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startDevnet, type Devnet } from '../cli/devnet.js'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { testCollateralAbi } from '../contracts/out/artifacts.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL } from '../sdk/protocol.js'
import { tempDir } from '../test/helpers/devnet.js'
import type { FromClient, PhaseResult, ToClient } from './loadClient.js'
import type { Attack, AttackReport, ToAttacker } from './hostileClient.js'
import { type BenchContext, type BenchSection, benchKey, quantile, sleep } from './lib.js'
import { profiled } from './profile.js'

/** A forked helper process answering one message per request. */
class Forked<In, Out extends { type: string }> {
  private waiting?: { resolve: (m: Out) => void; reject: (e: Error) => void }
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Out) => {
      const w = this.waiting
      this.waiting = undefined
      if (m.type === 'error') w?.reject(new Error(`${(m as unknown as { message: string }).message}`))
      else w?.resolve(m)
    })
    child.on('exit', (code) => this.waiting?.reject(new Error(`bench helper exited with ${code}`)))
  }
  /** `nice`: run at that niceness (through `nice`, when present), so it yields the CPU to the node. */
  static start<In, Out extends { type: string }>(file: string, nice?: number): Forked<In, Out> {
    const path = fileURLToPath(new URL(file, import.meta.url))
    const niced = nice !== undefined && existsSync('/usr/bin/nice')
    const execPath = niced ? '/usr/bin/nice' : process.execPath
    const execArgv = niced ? ['-n', String(nice), process.execPath, '--import', 'tsx'] : ['--import', 'tsx']
    return new Forked<In, Out>(fork(path, [], { execPath, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  }
  request<T extends Out>(m: In): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting = { resolve: resolve as (m: Out) => void, reject }
      this.child.send(m as object)
    })
  }
  async exit(m: In) {
    if (this.child.connected) this.child.send(m as object)
    else this.child.kill()
    await new Promise((r) => (this.child.exitCode === null ? this.child.once('exit', r) : r(null)))
  }
}

/**
 * Each attack phase follows its own honest-only baseline, so its ratio compares neighbours (the
 * machine is shared: background load drifts over a run). `warmup` (JIT, book) is not a figure.
 */
const PHASES: { name: string; attacks: Attack[]; baseline?: string }[] = [
  { name: 'warmup', attacks: [] },
  { name: 'alone', attacks: [] },
  { name: 'flood', attacks: ['flood'] },
  { name: 'alone_2', attacks: [] },
  { name: 'badsig', attacks: ['badsig'] },
  { name: 'alone_3', attacks: [] },
  { name: 'loris', attacks: ['loris'] },
  { name: 'alone_4', attacks: [] },
  { name: 'garbage', attacks: ['garbage'] },
  { name: 'alone_5', attacks: [] },
  { name: 'all', attacks: ['flood', 'badsig', 'loris', 'garbage'] },
  { name: 'alone_6', attacks: [] },
  { name: 'botnet', attacks: ['botnet'] },
]

export const hostileSection: BenchSection = {
  name: 'hostile',
  description: 'honest clients\' p50/p99 order latency alone and under a one-key flood, invalid signatures, slow-loris, garbage bodies and a fresh-key botnet (rate limits on)',
  async run(ctx) {
    const quick = ctx.opts.quick
    const C = { accounts: 16, rate: 200, phaseMs: quick ? 4_000 : 10_000, warmupMs: 1_500 }
    const logs: string[] = []
    const dataDir = tempDir('bench-hostile')
    ctx.progress(`starting a devnet (rate limits at their defaults, loopback not exempt)`)
    const dev = await startDevnet({ port: 0, writeState: false, dataDir, batchMaxAgeMs: 1_000, challengePeriodSeconds: 5, rateLimits: { exempt: [] }, log: (l) => logs.push(l) })
    const honest = Forked.start<ToClient, FromClient>('./loadClient.ts')
    // The attackers stand in for machines elsewhere: niced, they take CPU the node leaves idle.
    const attacker = Forked.start<ToAttacker, AttackReport | { type: 'started' }>('./hostileClient.ts', 10)
    try {
      await run(ctx, dev, C, honest, attacker)
    } catch (e) {
      console.error(`--- last devnet log lines ---\n${logs.slice(-25).join('\n')}`)
      throw e
    } finally {
      await honest.exit({ type: 'exit' })
      await attacker.exit({ type: 'exit' })
      await dev.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  },
}

async function run(ctx: BenchContext, dev: Devnet, C: { accounts: number; rate: number; phaseMs: number; warmupMs: number }, honest: Forked<ToClient, FromClient>, attacker: Forked<ToAttacker, AttackReport | { type: 'started' }>) {
  const s = dev.state
  const l1 = l1Public(s.l1)
  const client = new VeridexClient(s.sequencerUrl)
  const keys = Array.from({ length: C.accounts }, (_, i) => benchKey('hostile', i))
  const addrs = keys.map((k) => privateKeyToAccount(k).address)
  const funder = l1Wallet(s.l1, s.keys.traders[0]!)
  await l1.waitForTransactionReceipt({ hash: await funder.writeContract({ address: s.deployment.collateral, abi: testCollateralAbi, functionName: 'approve', args: [s.deployment.bridge, maxUint256] }) })
  const amount = parseUnits('20000', 6)
  for (const a of addrs) await depositCollateral(l1, funder, s.deployment, a, amount)
  const credited = async (a: Address) => BigInt((await client.account(a)).balances[ASSET_COLLATERAL] ?? '0') >= amount
  for (let t = 0; !(await credited(addrs.at(-1)!)); t++) {
    if (t > 300) throw new Error('deposits were not credited on L2 within 30 s')
    await sleep(100)
  }
  ctx.progress(`${C.accounts} honest accounts funded; honest load: open loop at ${C.rate} orders/s from 127.0.0.1 for ${C.phaseMs / 1000} s per phase`)
  await honest.request({ type: 'init', url: s.sequencerUrl, wsUrl: s.sequencerWsUrl, chainId: s.genesis.chainId, keys, seed: 77 })

  let baseline = { name: '', p50: 0, p99: 0 }
  for (const phase of PHASES) {
    await honest.request({ type: 'prepare', perAccount: Math.ceil((C.rate * (C.phaseMs / 1000) * 1.3) / C.accounts) + 5 })
    if (phase.attacks.length) {
      await attacker.request({ type: 'start', attacks: phase.attacks, url: s.sequencerUrl, chainId: s.genesis.chainId, floodKey: benchKey('hostile-flood', 0) })
      await sleep(C.warmupMs) // attacks at full force (sockets open, budgets spent) before measuring
    }
    const cpu0 = process.cpuUsage()
    const elu0 = perf.eventLoopUtilization()
    const t0 = performance.now()
    const measure = () => honest.request<PhaseResult>({ type: 'run', mode: 'open', transport: 'http', durationMs: C.phaseMs, rate: C.rate, startAt: Date.now() + 200 })
    // HOSTILE_PROFILE=<phase>: where the node's time goes during that phase (slows it down).
    const profile = process.env.HOSTILE_PROFILE === phase.name ? await profiled(measure) : undefined
    const r = profile ? profile.result : await measure()
    for (const f of profile?.summary.top ?? []) ctx.progress(`  profile ${phase.name}: ${(100 * f.share).toFixed(1)}% ${f.frame}`)
    const cpu = process.cpuUsage(cpu0)
    const nodeCores = (cpu.user + cpu.system) / 1000 / (performance.now() - t0)
    const nodeBusy = perf.eventLoopUtilization(elu0).utilization
    const report = phase.attacks.length ? await attacker.request<AttackReport>({ type: 'stop' }) : undefined
    const p50 = quantile(r.latencies, 0.5)
    const p99 = quantile(r.latencies, 0.99)
    const rejected = Object.values(r.errors).reduce((a, b) => a + b, 0)
    const key = `hostile_honest_${phase.name}`
    const vs = phase.attacks.length ? `${(p50 / baseline.p50).toFixed(2)}x / ${(p99 / baseline.p99).toFixed(2)}x the ${baseline.name} baseline just before` : 'baseline'
    ctx.progress(`${phase.name}: honest p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (${vs}), ${r.accepted} accepted, ${rejected} refused; node process ${nodeCores.toFixed(2)} cores, main thread busy ${(100 * nodeBusy).toFixed(0)}%`)
    if (phase.name === 'warmup') continue
    if (!phase.attacks.length) baseline = { name: phase.name, p50, p99 }
    const ref = phase.attacks.length ? `hostile_honest_${baseline.name}` : undefined
    ctx.figure({ key: `${key}_p50_ms`, value: p50, unit: 'ms', reference: ref && `${ref}_p50_ms`, note: phase.attacks.length ? undefined : `honest only, open loop at ${C.rate} orders/s` })
    ctx.figure({ key: `${key}_p99_ms`, value: p99, unit: 'ms', reference: ref && `${ref}_p99_ms`, note: phase.attacks.length ? `under: ${phase.attacks.join(' + ')}` : undefined })
    ctx.figure({ key: `hostile_node_${phase.name}_cpu_cores`, value: nodeCores, unit: 'cores', note: 'CPU of the node process (sequencer, RPC, verifier, proposer) during the phase' })
    ctx.figure({ key: `${key}_rejected`, value: rejected, unit: 'orders', note: rejected ? JSON.stringify(r.errors) : 'honest orders refused (must be 0)' })
    let attackText = ''
    if (report) {
      for (const [a, n] of Object.entries(report.sent)) {
        const o = report.outcomes[a] ?? {}
        const total = Object.values(o).reduce((x, y) => x + y, 0)
        const refused = Object.entries(o).filter(([k]) => k !== 'result').reduce((x, [, y]) => x + y, 0)
        const limited = o['-32092'] ?? 0
        attackText += `; ${a}: ${Math.round(n / report.seconds)}/s sent, answers ${JSON.stringify(o)}`
        if (phase.name !== 'all') {
          ctx.figure({ key: `hostile_${a}_sent_per_s`, value: n / report.seconds, unit: a === 'loris' ? 'sockets/s' : 'requests/s', note: 'attacker, including its warm-up' })
          if (a !== 'loris' && total) ctx.figure({ key: `hostile_${a}_rate_limited_fraction`, value: limited / total, unit: 'fraction', note: `answered -32092; all refused: ${(refused / total).toFixed(3)}` })
        }
      }
    }
    if (attackText) ctx.progress(`${phase.name} attackers${attackText}`)
  }
}
