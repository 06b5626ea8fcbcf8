/**
 * `sequencer`: a devnet started by the bench exactly as the tests start one (startDevnet, port 0,
 * no state file, temp data dir; real anvil, Redis and SQLite), loaded by forked client processes
 * (bench/loadClient.ts) sending pre-signed orders over loopback JSON-RPC (HTTP; then WebSocket).
 *
 * Phases: deposits through the Bridge → a closed-loop calibration → sustained closed-loop
 * maximum → open-loop latency at 25/50/90% of it → WebSocket closed loop → every batch posted on
 * L1 → a fresh Verifier derives them all from L1 (timed; its state root must equal the
 * sequencer's) → an in-process breakdown of where one order's time goes.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay, performance as perf } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { type Address, bytesToHex, getAddress, hexToBytes, maxUint256, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startDevnet, type Devnet } from '../cli/devnet.js'
import { BTC_PERP, DEFAULT_L2_CHAIN_ID, devnetGenesis } from '../cli/config.js'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { testCollateralAbi } from '../contracts/out/artifacts.js'
import { InboxReader } from '../executor/inboxReader.js'
import { Verifier } from '../executor/verifier.js'
import { ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { VeridexClient } from '../sdk/client.js'
import {
  ASSET_COLLATERAL, DELAYED_DEPOSIT, ITEM_DELAYED, ITEM_LENGTH, encodeDelayedMessage, encodeDepositPayload, encodeItem,
  signatureToWire, type TxMessage,
} from '../sdk/protocol.js'
import { Sequencer } from '../sequencer/sequencer.js'
import { parseSignedParams } from '../sequencer/validate.js'
import { TxDigester } from '../sequencer/digest.js'
import { jsonify } from '../sequencer/api.js'
import type { LatencySummary } from '../sequencer/ackLatency.js'
import { tempDir } from '../test/helpers/devnet.js'
import type { FromClient, PhaseResult, ToClient } from './loadClient.js'
import { FastSigner } from './signer.js'
import { profiled } from './profile.js'
import { type BenchContext, type BenchSection, benchKey, now, quantile, sleep } from './lib.js'

const MID = 60_000n * 1_000_000n

export class LoadClient {
  private waiting?: { resolve: (m: FromClient) => void; reject: (e: Error) => void }
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromClient) => {
      const w = this.waiting
      this.waiting = undefined
      if (m.type === 'error') w?.reject(new Error(`load client: ${m.message}`))
      else w?.resolve(m)
    })
    child.on('exit', (code) => this.waiting?.reject(new Error(`load client exited with ${code}`)))
  }
  static start(): LoadClient {
    const file = fileURLToPath(new URL('./loadClient.ts', import.meta.url))
    return new LoadClient(fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  }
  request<T extends FromClient>(m: ToClient): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting = { resolve: resolve as (m: FromClient) => void, reject }
      this.child.send(m)
    })
  }
}

interface Merged {
  accepted: number
  rate: number
  errors: Record<string, number>
  latencies: number[]
  clientCpuMs: number
  serverCpuMs: number
  serverElu: number
  broken: number
  /** Longest and p99 stall of the node's event loop during the phase (perf_hooks), ms. */
  loopMaxMs: number
  loopP99Ms: number
  /** Time the node's verifier thread spent running batches (VM, engine, roots), and the sequencer in closeBatch, ms. */
  verifierMs: number
  closeMs: number
  closes: number
  /** Main-thread garbage collection during the phase: total and longest pause, ms. */
  gcMs: number
  gcMaxMs: number
  gcMaxKind: string
  /** Share of wall time the node's main thread ran on a core, and waited runnable for one (Linux schedstat; NaN elsewhere). */
  mainOnCpu: number
  mainRunWait: number
  /** The same acknowledgements timed inside the sequencer, from submit to the durable reply (sequencer/ackLatency.ts). */
  inner: LatencySummary
  /** Its first part (until the signer is known and the arrival's turn comes) and its last (waiting for the group commit). */
  innerAdmission: LatencySummary
  innerDurable: LatencySummary
}

/** perf_hooks' GC entry kinds. */
const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
}

/** The main thread's [time on a core, time runnable waiting for one] so far, ns (Linux). */
function mainSchedstat(): [number, number] {
  try {
    const [run, wait] = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').trim().split(' ').map(Number)
    return [run!, wait!]
  } catch {
    return [Number.NaN, Number.NaN]
  }
}

/** Counts signed items (everything but DELAYED) in a batch's data (format byte ‖ items). */
function signedItems(data: Uint8Array): number {
  let n = 0
  for (let o = 1; o < data.length; ) {
    const t = data[o]!
    const len = ITEM_LENGTH[t]
    if (!len) break
    if (t !== ITEM_DELAYED) n++
    o += len
  }
  return n
}

/** Orders per request in the batched HTTP phase. */
const BATCH = 10

export const sequencerSection: BenchSection = {
  name: 'sequencer',
  description: 'devnet + forked load clients over loopback JSON-RPC: sustained orders/s, open-loop latency, L1 bytes/order, derivation speed, per-stage cost',
  async run(ctx) {
    await ctx.ensure('sig')
    const quick = ctx.opts.quick
    const C = quick
      ? { clients: 2, accountsPerClient: 32, calibrateMs: 1_500, sustainMs: 3_000, latencyMs: 2_000, wsMs: 2_000, profileMs: 1_500, stageOrders: 400 }
      : { clients: 2, accountsPerClient: 128, calibrateMs: 3_000, sustainMs: 15_000, latencyMs: 10_000, wsMs: 8_000, profileMs: 5_000, stageOrders: 2_000 }
    const accountsTotal = C.clients * C.accountsPerClient
    const logs: string[] = []
    const dataDir = tempDir('bench')
    ctx.progress(`starting a devnet (anvil, Redis, SQLite journal in ${dataDir})`)
    const dev = await startDevnet({ port: 0, writeState: false, dataDir, batchMaxAgeMs: 1_000, challengePeriodSeconds: 5, log: (l) => logs.push(l) })
    const clients: LoadClient[] = []
    try {
      await runLoad(ctx, dev, C, accountsTotal, clients)
    } catch (e) {
      console.error(`--- last devnet log lines ---\n${logs.slice(-25).join('\n')}`)
      throw e
    } finally {
      for (const c of clients) {
        if (c.child.connected) c.child.send({ type: 'exit' } satisfies ToClient)
        else c.child.kill()
        await new Promise((r) => (c.child.exitCode === null ? c.child.once('exit', r) : r(null)))
      }
      await dev.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
    await stageBreakdown(ctx, C.stageOrders)
  },
}

async function runLoad(ctx: BenchContext, dev: Devnet, C: { clients: number; accountsPerClient: number; calibrateMs: number; sustainMs: number; latencyMs: number; wsMs: number; profileMs: number }, accountsTotal: number, clients: LoadClient[]) {
  const s = dev.state
  const client = new VeridexClient(s.sequencerUrl)
  const l1 = l1Public(s.l1)
  ctx.progress(`devnet up: sequencer ${s.sequencerUrl}; depositing collateral through the Bridge for each of ${accountsTotal} accounts`)

  // 1. Collateral: one funded L1 trader deposits for every bench account (Bridge.depositERC20 → delayed messages).
  const keys = Array.from({ length: accountsTotal }, (_, i) => benchKey('sequencer', i))
  const addrs = keys.map((k) => privateKeyToAccount(k).address)
  const funder = l1Wallet(s.l1, s.keys.traders[0]!)
  const approve = await funder.writeContract({ address: s.deployment.collateral, abi: testCollateralAbi, functionName: 'approve', args: [s.deployment.bridge, maxUint256] })
  await l1.waitForTransactionReceipt({ hash: approve })
  // Trader 0 holds 1,000,000 vUSD on L1 (cli/devnet.ts): share 900,000 of it, at most 5,000 each.
  const amount = parseUnits(String(Math.min(5_000, Math.floor(900_000 / accountsTotal))), 6)
  for (let i = 0; i < addrs.length; i++) {
    await depositCollateral(l1, funder, s.deployment, addrs[i]!, amount)
    if ((i + 1) % 64 === 0) ctx.progress(`deposited for ${i + 1}/${addrs.length} accounts`)
  }
  const credited = async (a: Address) => BigInt((await client.account(a)).balances[ASSET_COLLATERAL] ?? '0') >= amount
  for (let t = 0; !(await credited(addrs.at(-1)!)); t++) {
    if (t > 300) throw new Error('deposits were not credited on L2 within 30 s')
    await sleep(100)
  }
  for (const a of addrs) if (!(await credited(a))) throw new Error(`deposit for ${a} not credited`)
  ctx.progress(`all ${addrs.length} deposits credited on L2; starting ${C.clients} load client processes`)

  // Instrumentation (bench-only wrappers on live instances; no source is changed): the two
  // synchronous pieces of work that share the sequencer's event loop besides requests.
  const probe = { closeMs: 0, closes: 0 }
  // The node's verifier runs its batches on its own thread; its stats give that thread's busy time.
  const nodeVerifier = dev.node.verifier
  // BENCH_NODE_VERIFIER=off: the node's verifier stops following L1 before the load, as when
  // validators run on other machines. Its share of the two cores then goes to the sequencer.
  const verifierOff = process.env.BENCH_NODE_VERIFIER === 'off'
  if (verifierOff) {
    await nodeVerifier.pause()
    ctx.progress('BENCH_NODE_VERIFIER=off: the node\'s own verifier is paused (it derives nothing during the phases)')
  }
  const verifierMsNow = () => nodeVerifier.stats.executeMs
  // The node closes batches by size and age with closeBatchSoon (end_batch, a state copy; the
  // roots follow on the root thread, the journal row on the journal thread): time that part.
  const seqInstance = dev.node.sequencer as unknown as { closeBatchSoon(): void }
  const closeBatchSoon = seqInstance.closeBatchSoon.bind(seqInstance)
  seqInstance.closeBatchSoon = () => {
    const t = now()
    try {
      closeBatchSoon()
    } finally {
      probe.closeMs += now() - t
      probe.closes++
    }
  }

  // 2. Load clients, each owning its own accounts.
  for (let c = 0; c < C.clients; c++) clients.push(LoadClient.start())
  await Promise.all(clients.map((lc, c) => lc.request({ type: 'init', url: s.sequencerUrl, wsUrl: s.sequencerWsUrl, chainId: s.genesis.chainId, keys: keys.slice(c * C.accountsPerClient, (c + 1) * C.accountsPerClient), seed: 1000 + c })))

  const phases: Merged[] = []
  const prepare = async (perAccount: number) => {
    const t0 = now()
    const r = await Promise.all(clients.map((lc) => lc.request<Extract<FromClient, { type: 'prepared' }>>({ type: 'prepare', perAccount: Math.ceil(perAccount) })))
    ctx.progress(`pre-signed ${r.reduce((a, x) => a + x.signed, 0)} orders (${((now() - t0) / 1000).toFixed(1)} s, not timed)`)
  }
  const phase = async (mode: 'closed' | 'open', transport: 'http' | 'ws', durationMs: number, rate?: number, batch = 1): Promise<Merged> => {
    const startAt = Date.now() + 400
    const loop = monitorEventLoopDelay({ resolution: 5 })
    await sleep(200)
    const elu0 = perf.eventLoopUtilization()
    const cpu0 = process.cpuUsage()
    const p0 = { ...probe }
    const v0 = verifierMsNow()
    const sched0 = mainSchedstat()
    const acks = dev.node.sequencer.ackLatency
    const acks0 = [acks.total.copy(), acks.toAdmission.copy(), acks.toDurable.copy()] as const
    // The main thread's garbage-collection pauses (the stalls that GC makes on the event loop).
    const gc = { ms: 0, maxMs: 0, maxKind: '' }
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.ms += e.duration
        if (e.duration > gc.maxMs) {
          gc.maxMs = e.duration
          gc.maxKind = GC_KINDS[((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other'
        }
      }
    })
    gcObserver.observe({ entryTypes: ['gc'] })
    loop.enable()
    const results = await Promise.all(clients.map((lc) => lc.request<PhaseResult>({ type: 'run', mode, transport, durationMs, rate: rate && rate / clients.length, startAt, batch })))
    loop.disable()
    gcObserver.disconnect()
    const sched1 = mainSchedstat()
    const cpu = process.cpuUsage(cpu0)
    const elu = perf.eventLoopUtilization(elu0)
    const errors: Record<string, number> = {}
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
    const acceptedInWindow = results.reduce((a, r) => a + r.acceptedInWindow, 0)
    const m: Merged = {
      accepted: results.reduce((a, r) => a + r.accepted, 0),
      rate: (acceptedInWindow / durationMs) * 1000,
      errors,
      latencies: results.flatMap((r) => r.latencies),
      clientCpuMs: results.reduce((a, r) => a + r.cpuMs, 0),
      serverCpuMs: (cpu.user + cpu.system) / 1000,
      serverElu: elu.utilization,
      broken: Math.max(...results.map((r) => r.brokenAccounts)),
      loopMaxMs: loop.max / 1e6,
      loopP99Ms: loop.percentile(99) / 1e6,
      verifierMs: verifierMsNow() - v0,
      closeMs: probe.closeMs - p0.closeMs,
      closes: probe.closes - p0.closes,
      gcMs: gc.ms,
      gcMaxMs: gc.maxMs,
      gcMaxKind: gc.maxKind,
      mainOnCpu: (sched1[0] - sched0[0]) / 1e6 / durationMs,
      mainRunWait: (sched1[1] - sched0[1]) / 1e6 / durationMs,
      inner: acks.total.since(acks0[0]).summary(),
      innerAdmission: acks.toAdmission.since(acks0[1]).summary(),
      innerDurable: acks.toDurable.since(acks0[2]).summary(),
    }
    phases.push(m)
    const errText = Object.keys(errors).length ? `; REJECTED ${JSON.stringify(errors)}` : ''
    ctx.progress(`${mode}-loop ${transport}${batch > 1 ? ` (JSON-RPC batches of ${batch})` : ''}${rate ? ` at ${Math.round(rate)}/s offered` : ''}: ${Math.round(m.rate)} accepted/s over ${(durationMs / 1000).toFixed(0)} s, p50 ${quantile(m.latencies, 0.5).toFixed(1)} ms, p99 ${quantile(m.latencies, 0.99).toFixed(1)} ms (inside the sequencer: p50 ${m.inner.p50Ms} ms, p99 ${m.inner.p99Ms} ms, of which until admitted p99 ${m.innerAdmission.p99Ms} ms, commit wait p99 ${m.innerDurable.p99Ms} ms); sequencer process ${(m.serverCpuMs / durationMs).toFixed(2)} cores, main-thread busy ${(100 * m.serverElu).toFixed(0)}% (on a core ${(100 * m.mainOnCpu).toFixed(0)}%, waiting for one ${(100 * m.mainRunWait).toFixed(0)}%), clients ${(m.clientCpuMs / durationMs).toFixed(2)} cores; event loop stalls p99 ${m.loopP99Ms.toFixed(1)} ms, max ${m.loopMaxMs.toFixed(0)} ms (GC ${(100 * m.gcMs / durationMs).toFixed(1)}% of the time, longest pause ${m.gcMaxMs.toFixed(0)} ms, ${m.gcMaxKind}); verifier thread busy ${(100 * m.verifierMs / durationMs).toFixed(0)}% of the time, ${m.closes} closeBatch ${m.closes ? (m.closeMs / m.closes).toFixed(1) : 0} ms each${errText}`)
    return m
  }

  /**
   * The sustained and latency phases measure the node in a steady state at their load: after a
   * phase at the maximum, the node's own verifier (the VM and the engine over every posted batch, on a nice-10
   * thread) is tens of seconds behind, and its catch-up competes for the two cores with what is
   * being measured. So first every batch is posted and the verifier has derived it.
   */
  const settle = async () => {
    const t0 = now()
    const seq = dev.node.sequencer
    for (let t = 0; ; t++) {
      const last = seq.journal.lastBatch()
      if (!seq.openBatch && last?.status === 'posted' && (verifierOff || (nodeVerifier.head()?.index ?? -1) >= last.index)) break
      if (t > 1_800) throw new Error('the node\'s verifier did not catch up with the posted batches within 180 s')
      if (t % 50 === 49) ctx.progress(`waiting for the node's verifier: batch ${nodeVerifier.head()?.index ?? -1} of ${last?.index ?? -1}`)
      await sleep(100)
    }
    const { batches, knownRecoveryBatches, knownDataBatches } = nodeVerifier.stats
    if (verifierOff) return ctx.progress(`every batch posted (${((now() - t0) / 1000).toFixed(1)} s after the last phase; the node's verifier is paused)`)
    ctx.progress(`every batch posted and derived by the node's verifier (${((now() - t0) / 1000).toFixed(1)} s after the last phase; of its ${batches} batches, ${knownRecoveryBatches} ran on the sequencer's recoveries and ${knownDataBatches} took their data from the journal, matched by L1's accumulator)`)
  }

  // 3. Calibration (also warms the JIT on both sides), then the sustained maximum.
  await prepare(40)
  const cal = await phase('closed', 'http', C.calibrateMs)
  const perAccountFor = (rate: number, ms: number) => (rate * (ms / 1000) * 1.5) / accountsTotal + 10
  // Enough signed orders that no account runs dry even at several times the calibration rate (a
  // closed loop whose accounts run out of orders would measure the preparation, not the node).
  await prepare(perAccountFor(Math.max(2.5 * cal.rate, 8_000), C.sustainMs))
  await settle()
  const sustained = await phase('closed', 'http', C.sustainMs)
  const max = sustained.rate
  ctx.figure({ key: 'sequencer_orders_per_s', value: max, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: `closed loop, ${accountsTotal} HTTP clients in ${C.clients} processes, ${(C.sustainMs / 1000).toFixed(0)} s; target >= 10,000` })
  ctx.figure({ key: 'sequencer_to_sig_ratio', value: max / ctx.get('sig_recover_per_s_one_core')!, unit: 'x', note: 'sequencer_orders_per_s / sig_recover_per_s_one_core' })
  ctx.figure({ key: 'sequencer_p99_ms_at_max_load', value: quantile(sustained.latencies, 0.99), unit: 'ms', note: `closed loop with ${accountsTotal} clients in flight` })
  ctx.figure({ key: 'sequencer_process_cpu_cores_at_max_load', value: sustained.serverCpuMs / C.sustainMs, unit: 'cores', note: 'CPU of the node process (sequencer, RPC, poster, verifier, proposer), not anvil/Redis/clients' })
  ctx.figure({ key: 'sequencer_main_thread_busy_at_max_load', value: sustained.serverElu, unit: 'fraction', note: 'event-loop utilization of the node main thread' })
  if (Number.isFinite(sustained.mainRunWait))
    ctx.figure({ key: 'sequencer_main_thread_runqueue_wait_at_max_load', value: sustained.mainRunWait, unit: 'fraction', note: 'share of wall time the node main thread was runnable but waited for a core (Linux schedstat): CPU contention, not work' })
  ctx.figure({ key: 'sequencer_verifier_share_at_max_load', value: sustained.verifierMs / C.sustainMs, unit: 'fraction of wall time', note: 'the node\'s own verifier re-executing posted batches (VM, engine, roots), on its own thread' })
  ctx.figure({ key: 'sequencer_close_batch_ms', value: sustained.closes ? sustained.closeMs / sustained.closes : 0, unit: 'ms/batch', note: 'closing a batch on the event loop: end_batch and a copy of the state (its roots and journal row follow on threads)' })

  // 4. Open-loop latency at fractions of the maximum, each from a settled node.
  for (const [frac, label] of [[0.25, '25pct'], [0.5, 'half'], [0.9, '90pct']] as const) {
    const rate = max * frac
    await prepare(perAccountFor(rate, C.latencyMs))
    await settle()
    const r = await phase('open', 'http', C.latencyMs, rate)
    ctx.figure({ key: `sequencer_p50_ms_at_${label}_load`, value: quantile(r.latencies, 0.5), unit: 'ms', note: `open loop at ${Math.round(rate)} orders/s offered (${Math.round(r.rate)} accepted/s)` })
    ctx.figure({ key: `sequencer_p99_ms_at_${label}_load`, value: quantile(r.latencies, 0.99), unit: 'ms', note: label === 'half' ? 'target <= 25 ms at half of 10,000/s' : undefined })
    if (label === 'half') {
      ctx.figure({ key: 'sequencer_event_loop_max_stall_ms_at_half_load', value: r.loopMaxMs, unit: 'ms', note: 'longest event-loop stall of the node process (perf_hooks monitorEventLoopDelay)' })
      ctx.figure({ key: 'sequencer_inner_p99_ms_at_half_load', value: r.inner.p99Ms, unit: 'ms', note: 'the same acknowledgements timed inside the sequencer (submit to durable reply; no HTTP, no kernel, no client)' })
    }
  }

  // 5. The same closed loop over WebSocket (8 connections per client process).
  await prepare(perAccountFor(Math.max(4 * max, 12_000), C.wsMs))
  const ws = await phase('closed', 'ws', C.wsMs)
  ctx.figure({ key: 'sequencer_ws_orders_per_s', value: ws.rate, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: 'closed loop over WebSocket' })
  // 5a. HTTP again, each request a JSON-RPC batch of one account's next BATCH orders, as a market
  // maker re-quoting several levels sends them: the per-request cost (HTTP, socket writes) is
  // shared by the batch, the per-order cost (parse, recovery, engine, journal) is not.
  await prepare(perAccountFor(Math.max(4 * max, 12_000), C.wsMs))
  const batched = await phase('closed', 'http', C.wsMs, undefined, BATCH)
  ctx.figure({ key: 'sequencer_batched_orders_per_s', value: batched.rate, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: `closed loop over HTTP, ${BATCH} orders per request (JSON-RPC batch)` })
  ctx.figure({ key: 'sequencer_batched_p99_ms_at_max_load', value: quantile(batched.latencies, 0.99), unit: 'ms', note: `closed loop, ${accountsTotal} batches of ${BATCH} in flight` })
  {
    const rate = batched.rate / 2
    await prepare(perAccountFor(rate, C.latencyMs))
    await settle()
    const r = await phase('open', 'http', C.latencyMs, rate, BATCH)
    ctx.figure({ key: 'sequencer_batched_p50_ms_at_half_load', value: quantile(r.latencies, 0.5), unit: 'ms', note: `open loop at ${Math.round(rate)} orders/s offered (${Math.round(r.rate)} accepted/s); batches of ${BATCH} orders due at once, scheduled at a fixed rate` })
    ctx.figure({ key: 'sequencer_batched_p99_ms_at_half_load', value: quantile(r.latencies, 0.99), unit: 'ms', note: 'target <= 25 ms at half of 10,000/s' })
  }
  // 5b. Where the node process's time goes: a CPU profile of it during one more closed-loop phase
  // (profiling slows it down, so this phase's rate is not a figure).
  // (BENCH_PROFILE_BATCH=10 profiles JSON-RPC batches of 10 instead of single orders, and
  // BENCH_PROFILE_LOAD=0.5 an open loop at half the maximum instead of a closed loop.)
  const profileBatch = Number(process.env.BENCH_PROFILE_BATCH ?? 1)
  const profileLoad = Number(process.env.BENCH_PROFILE_LOAD ?? 0)
  await prepare(perAccountFor(profileBatch > 1 ? Math.max(4 * max, 12_000) : max, C.profileMs))
  if (profileLoad) await settle()
  const { summary } = await profiled(() => phase(profileLoad ? 'open' : 'closed', 'http', C.profileMs, profileLoad ? profileLoad * max : undefined, profileBatch))
  ctx.progress(`CPU profile of the node process during that ${(C.profileMs / 1000).toFixed(0)} s ${profileLoad ? 'open' : 'closed'} loop (self time, share of wall time):`)
  for (const a of summary.areas) if (a.share >= 0.005) ctx.progress(`  ${(100 * a.share).toFixed(1).padStart(5)}%  ${a.area}`)
  ctx.progress('  top functions:')
  for (const f of summary.top) ctx.progress(`  ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.frame}`)
  ctx.progress(`  longest stretches without an idle sample (a request arriving then waits that long), and what ran in them:`)
  for (const b of summary.busiest) ctx.progress(`  ${b.ms.toFixed(1).padStart(6)} ms  ${b.areas.map((a) => `${a.area} ${(100 * a.share).toFixed(0)}%`).join(', ')}`)
  const idle = summary.areas.find((a) => a.area === 'idle')?.share ?? 0
  ctx.figure({ key: 'sequencer_profile_busy_share', value: 1 - idle, unit: 'fraction', note: 'non-idle samples of the node main thread during the profiled phase' })

  const rejected = phases.reduce((a, m) => a + Object.values(m.errors).reduce((x, y) => x + y, 0), 0)
  ctx.figure({ key: 'sequencer_rejected_orders', value: rejected, unit: 'orders', note: 'should be 0: every bench order is valid' })

  // 6. Every batch on L1, then derive them all with a fresh verifier.
  const seq = dev.node.sequencer
  ctx.progress('waiting for the last batch to close and every batch to be posted on L1')
  // (a batch closed in the engine may still wait for its roots: its row is 'open' until then)
  for (let t = 0; seq.openBatch || seq.journal.lastBatch()?.status !== 'posted'; t++) {
    if (t > 1_200) throw new Error('batches were not all posted within 120 s')
    if (t % 50 === 49) ctx.progress(`${seq.journal.batches('closed').length} closed batch(es) still to post`)
    await sleep(100)
  }
  const last = seq.journal.lastBatch()!
  ctx.progress(`all ${last.index + 1} batches posted; reading them back from L1`)
  const reader = new InboxReader(l1, s.deployment.inbox, s.deployment.deployBlock)
  const t0 = now()
  const polled = await reader.poll()
  const readMs = now() - t0
  const orders = polled.batches.reduce((a, b) => a + signedItems(b.data), 0)
  const dataBytes = polled.batches.reduce((a, b) => a + b.data.length, 0)
  ctx.figure({ key: 'l1_bytes_per_order', value: dataBytes / orders, unit: 'bytes/order', note: `${dataBytes} bytes of batch data in ${polled.batches.length} batches / ${orders} signed items; target <= 100` })
  const verifierDir = tempDir('bench-verifier')
  try {
    // Configured as the node's: batches on a worker thread, signatures recovered ahead on a pool.
    const verifier = await Verifier.create({ l1, inbox: s.deployment.inbox, fromBlock: s.deployment.deployBlock, genesis: s.genesis, dbPath: path.join(verifierDir, 'verifier.sqlite'), thread: true, recoveryThreads: availableParallelism() })
    const t1 = now()
    const derived = await verifier.sync()
    const deriveMs = now() - t1
    await verifier.stop()
    const head = derived.at(-1)
    if (!head || head.index !== last.index || head.stateRoot !== last.stateRoot)
      throw new Error(`derived state root ${head?.stateRoot} at batch ${head?.index}, the sequencer's is ${last.stateRoot} at ${last.index}`)
    ctx.progress(`derived ${derived.length} batches (${orders} orders) from L1 in ${(deriveMs / 1000).toFixed(2)} s (L1 read alone ${(readMs / 1000).toFixed(2)} s); state root matches the sequencer's`)
    ctx.figure({ key: 'derive_orders_per_s', value: (orders / deriveMs) * 1000, unit: 'orders/s', reference: 'sequencer_orders_per_s', note: 'fresh Verifier.sync over every batch: L1 reads + runBatch + state roots; target >= sequencing' })
    ctx.figure({ key: 'derive_l1_read_share', value: readMs / deriveMs, unit: 'fraction', note: 'InboxReader.poll alone / the whole derivation' })
  } finally {
    rmSync(verifierDir, { recursive: true, force: true })
  }
}

/**
 * Where one order's time goes inside the sequencer, without HTTP: a private Sequencer (same
 * code, temp journal) takes `n` orders through `submit`, then each stage of submit is timed on
 * its own over the same kind of input.
 */
async function stageBreakdown(ctx: BenchContext, n: number) {
  ctx.progress(`in-process breakdown of Sequencer.submit over ${n} orders`)
  const dir = tempDir('bench-stages')
  const oracleKey = benchKey('stages-oracle', 0)
  const genesis = devnetGenesis(privateKeyToAccount(oracleKey).address)
  const signer = new FastSigner(DEFAULT_L2_CHAIN_ID)
  const accounts = 64
  const keys = Array.from({ length: accounts }, (_, i) => benchKey('stages', i))
  const open = async (name: string, threads = false) => {
    // threads: configured as the node runs it (cli/node.ts): recovery pool, root and journal threads.
    const seq = await Sequencer.open({ journalPath: path.join(dir, `${name}.sqlite`), genesis, ...(threads ? { recoveryThreads: availableParallelism(), rootThread: true, journalThread: true } : {}) })
    seq.addDelayed(keys.map((k, i) => ({
      index: i,
      bytes: encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: '0x00000000000000000000000000000000b1d6e000', timestamp: 0n, payload: encodeDepositPayload(privateKeyToAccount(k).address, ASSET_COLLATERAL, 5_000_000_000n) }),
    })))
    const oracle: TxMessage = { kind: 'OraclePrice', message: { market: BTC_PERP.id, price: MID, timestamp: BigInt(Math.floor(Date.now() / 1000)) } }
    await seq.submit(oracle, signer.sign(hexToBytes(oracleKey), oracle))
    return seq
  }
  const makeOrders = () => {
    const nonces = new Array<bigint>(accounts).fill(0n)
    return Array.from({ length: n }, (_, j) => {
      const i = j % accounts
      const isBuy = j % 2 === 0
      const tx: TxMessage = { kind: 'Order', message: { market: BTC_PERP.id, isBuy, price: MID + BigInt((j * 7) % 9 - 4) * BTC_PERP.tickSize, size: BigInt(1 + (j % 5)), nonce: nonces[i]!++ } }
      const signature = signer.sign(hexToBytes(keys[i]!), tx)
      const wire = { message: { ...tx.message, price: String((tx.message as { price: bigint }).price), size: String((tx.message as { size: bigint }).size), nonce: String((tx.message as { nonce: bigint }).nonce) }, signature }
      return { tx, signature, body: JSON.stringify({ jsonrpc: '2.0', id: j, method: 'vdx_placeOrder', params: wire }) }
    })
  }
  const orders = makeOrders()
  const us = (ms: number) => (ms * 1000) / n
  const seqA = await open('submit')
  const seqB = await open('stages')
  const seqC = await open('threads', true)
  try {
    let t = now()
    // Submitted in one turn, as concurrent requests would be: one group commit at the end.
    const accepted = await Promise.all(orders.map((o) => seqA.submit(o.tx, o.signature)))
    const submitMs = now() - t
    const stage = (key: string, ms: number, note: string) => ctx.figure({ key: `sequencer_stage_${key}_us`, value: us(ms), unit: 'µs/order', note })
    ctx.figure({ key: 'sequencer_submit_in_process_per_s', value: (n / submitMs) * 1000, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: 'Sequencer.submit called directly (no HTTP, no JSON), journal fsync included, all on one thread' })
    t = now()
    const acceptedC = await Promise.all(orders.map((o) => seqC.submit(o.tx, o.signature)))
    const threadsMs = now() - t
    if (acceptedC.length !== n) throw new Error('the threaded sequencer did not accept every order')
    ctx.figure({ key: 'sequencer_submit_in_process_threads_per_s', value: (n / threadsMs) * 1000, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: 'the same, as the node runs it: recovery on worker threads, journal commits on a thread' })

    t = now()
    const parsed = orders.map((o) => parseSignedParams('Order', (JSON.parse(o.body) as { params: unknown }).params))
    stage('parse', now() - t, 'JSON.parse + parseSignedParams')
    t = now()
    const digester = new TxDigester(DEFAULT_L2_CHAIN_ID)
    const digests = parsed.map((p) => digester.digest(p.tx))
    stage('eip712_hash', now() - t, 'TxDigester (sequencer/digest.ts, hash-wasm keccak)')
    t = now()
    const recovered = parsed.map((p, i) => ecrecoverUncached(digests[i]!, signatureToWire(p.signature))!)
    stage('ecrecover', now() - t, 'libsecp256k1 recovery, uncached (+ hex decoding)')
    t = now()
    for (const r of recovered) getAddress(getAddress(bytesToHex(r)))
    stage('address_checksum', now() - t, 'viem getAddress, twice (recoverSigner and submit)')
    t = now()
    for (const a of accepted) JSON.stringify(jsonify({ status: 'accepted', signer: a.signer, batch: a.batch, orderId: a.result.orderId, filledSize: a.result.filledSize, remaining: a.resting, fills: a.result.fills }))
    stage('reply', now() - t, 'vdx_placeOrder reply: jsonify + JSON.stringify')
    const items = parsed.map((p) => encodeItem(p.tx, p.signature))
    const addr = privateKeyToAccount(keys[0]!).address
    t = now()
    for (let i = 0; i < n; i++) seqB.engine.nonce(addr)
    stage('nonce_query', now() - t, 'engine q_nonce (the nonce check)')
    const batch = seqB.openBatch!.index
    t = now()
    for (const item of items) seqB.engine.execItem(item)
    stage('engine_exec', now() - t, 'NativeEngine.execItem (its ecrecover host call hits the memo filled by validation)')
    t = now()
    seqB.journal.db.transaction(() => {
      for (const item of items) seqB.journal.appendItem(batch, item)
    })()
    stage('journal_append', now() - t, 'SQLite INSERTs in one group-commit transaction (WAL, synchronous=FULL), per order')
  } finally {
    seqA.close()
    seqB.close()
    seqC.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
