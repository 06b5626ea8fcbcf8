/**
 * `dispute`: whole bisection games over real traces of ~10^6, 10^7 and 10^8 VM steps, on an anvil
 * with 1-second blocks, played by the real services (prover/dispute): the Verifier derives the
 * batches from L1, a dishonest Proposer (it flips the last byte of the machine root) asserts them
 * in one assertion, the challenger's DisputeAgent opens a game, the proposer's DisputeAgent
 * defends its claim (the honest trace up to the claimed step count, its root there), and an
 * in-process BullMQ TraceWorker (Redis) computes every machine hash, as `startNode` wires them.
 *
 * Per size: signed batches from bench/workload.ts (~2,360 VM steps per item, 1,000 items per
 * batch, under the inbox's 120,000-byte limit). Their deposits go through the real Bridge and the
 * batches are posted straight into the SequencerInbox as the sequencer key (test/dispute.test.ts
 * does the same), with a block per transaction; then anvil switches to 1-second blocks and the
 * services start. Measured from the evil assertion's receipt to the game's end: wall seconds,
 * bisection rounds (the challenge is the first), L1 transactions and gas per side.
 *
 * The clock. A false asserter that must prove the last step cannot (the step executes to the
 * challenger's hash), so it concedes and the game ends when its clock runs out; that happens when
 * the number of rounds is odd (the challenger made the last bisection). The clock is therefore
 * DISPUTE_CLOCK_S (120 s): long enough that no honest move comes near it (the challenger's clock
 * use is reported), short enough that such a game ends in minutes; `*_decided_s` is the time to
 * the last move made, after which only the liar's clock runs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type Address, type Hex, bytesToHex, createTestClient, hexToBytes, http, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startAnvil } from '../contracts/anvil.js'
import { deployVeridex } from '../contracts/deploy.js'
import { l1Chain, l1Public, l1Wallet } from '../contracts/l1.js'
import { bridgeAbi, disputeGameAbi, sequencerInboxAbi, testCollateralAbi } from '../contracts/out/artifacts.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { genesisRoots } from '../executor/genesis.js'
import { Verifier } from '../executor/verifier.js'
import { loadEngineProgramFile } from '../executor/vm/engine.js'
import { DisputeAgent } from '../prover/dispute/agent.js'
import { CHECKPOINT_EVERY } from '../prover/dispute/assertionTrace.js'
import { GameStatus, lyingFrom, readGame } from '../prover/dispute/player.js'
import { roundsFor } from '../prover/dispute/segments.js'
import { TraceQueue, TraceWorker } from '../prover/dispute/traceQueue.js'
import { Proposer } from '../prover/proposer.js'
import { BATCH_HEADER_LEN } from '../sdk/protocol.js'
import { ensureRedis } from '../cli/redis.js'
import { DisputeTally } from '../cli/demoFraud.js'
import { type BenchContext, type BenchSection, sleep } from './lib.js'
import { FastSigner } from './signer.js'
import { MEASURE_CHAIN_ID, buildSignedWorkload } from './workload.js'

const STEPS_PER_ITEM = 2_360
const ITEMS_PER_BATCH = 1_000
const DISPUTE_CLOCK_S = 120n
const DEGREE = 16n
const flip = (h: Hex): Hex => `${h.slice(0, -2)}${(Number.parseInt(h.slice(-2), 16) ^ 1).toString(16).padStart(2, '0')}` as Hex
const label = (n: number) => `1e${Math.round(Math.log10(n))}`

export function parseSizes(s: string): number[] {
  return s.split(',').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0)
}

async function runOne(ctx: BenchContext, target: number, run: number): Promise<void> {
  const key = `dispute_${label(target)}`
  const wanted = Math.max(1, Math.round(target / STEPS_PER_ITEM))
  const batches = Math.ceil(wanted / ITEMS_PER_BATCH)
  const perBatch = Math.ceil(wanted / batches)
  const items = batches * perBatch
  const tBuild = performance.now()
  const signer = new FastSigner(MEASURE_CHAIN_ID)
  ctx.progress(`${key}: building ${batches} signed batch(es) of ${perBatch} items (~${(items * STEPS_PER_ITEM).toExponential(1)} VM steps), each item checked on a reference engine`)
  const w = await buildSignedWorkload({ batches, itemsPerBatch: perBatch, sign: (k, tx) => signer.item(hexToBytes(k), tx) })
  const biggest = Math.max(...w.batches.map((b) => b.length - BATCH_HEADER_LEN))
  ctx.progress(`${key}: built in ${((performance.now() - tBuild) / 1000).toFixed(1)} s; ${w.delayed.length} deposits, largest batch ${biggest} bytes`)

  const redis = await ensureRedis()
  // a chain id per run: the proposer's shared nonce manager caches nonces per (address, chain id)
  const anvil = await startAnvil({ accounts: 10, chainId: 31337 + run })
  const dir = mkdtempSync(path.join(tmpdir(), 'veridex-bench-dispute-'))
  const stops: (() => Promise<unknown>)[] = []
  let peakRss = 0
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss) }, 250)
  try {
    const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
    const l1 = l1Public(cfg)
    const [deployerKey, sequencerKey, proposerKey, challengerKey] = anvil.privateKeys as Hex[]
    const roots = await genesisRoots(w.config)
    const d = await deployVeridex({
      rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, deployerKey: deployerKey!,
      sequencer: privateKeyToAccount(sequencerKey!).address, proposer: privateKeyToAccount(proposerKey!).address,
      moduleRoot: roots.moduleRoot, genesisMachineRoot: roots.machineRoot, genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: 3600n, bondWei: parseEther('1'), forceInclusionDelaySeconds: 86_400n,
      // the workload's batches carry small L2 timestamps, far from anvil's clock
      maxTimeVariationSeconds: 2n ** 62n,
      disputeDegree: DEGREE, disputeClockSeconds: DISPUTE_CLOCK_S,
    })

    // L1 inputs, a block per transaction (not measured): deposits through the Bridge, then the batches
    const tL1 = performance.now()
    const deployer = l1Wallet(cfg, deployerKey!)
    const mined = async (hash: Hex) => {
      const r = await l1.waitForTransactionReceipt({ hash })
      if (r.status !== 'success') throw new Error(`setup transaction ${hash} reverted`)
      return r
    }
    let total = 0n
    const deposits = w.delayed.map((m) => {
      const p = m.subarray(m.length - 32)
      const amount = BigInt(bytesToHex(p.subarray(24, 32)))
      total += amount
      return { to: bytesToHex(p.subarray(0, 20)) as Address, amount }
    })
    await mined(await deployer.writeContract({ address: d.collateral, abi: testCollateralAbi, functionName: 'mint', args: [deployer.account.address, total] }))
    await mined(await deployer.writeContract({ address: d.collateral, abi: testCollateralAbi, functionName: 'approve', args: [d.bridge, total] }))
    for (const x of deposits) await mined(await deployer.writeContract({ address: d.bridge, abi: bridgeAbi, functionName: 'depositERC20', args: [x.to, x.amount], gas: 300_000n }))
    const seq = l1Wallet(cfg, sequencerKey!)
    const messages = [w.setup, ...w.batches]
    for (const [i, m] of messages.entries()) {
      const v = new DataView(m.buffer, m.byteOffset, m.byteLength)
      const afterDelayed = v.getBigUint64(0)
      const timestamp = v.getBigUint64(8)
      await mined(await seq.writeContract({ address: d.inbox, abi: sequencerInboxAbi, functionName: 'addSequencerBatch', args: [BigInt(i), bytesToHex(m.subarray(BATCH_HEADER_LEN)), afterDelayed, timestamp], gas: 5_000_000n }))
    }
    ctx.progress(`${key}: ${deposits.length} deposits and ${messages.length} batches on L1 in ${((performance.now() - tL1) / 1000).toFixed(1)} s; switching anvil to 1-second blocks`)
    const test = createTestClient({ mode: 'anvil', chain: l1Chain(cfg), transport: http(anvil.rpcUrl) })
    await test.setAutomine(false)
    await test.setIntervalMining({ interval: 1 })

    // The services, wired as cli/node.ts wires them
    const tVerify = performance.now()
    const verifier = await Verifier.create({ l1, inbox: d.inbox, fromBlock: d.deployBlock, genesis: w.config, dbPath: path.join(dir, 'verifier.sqlite') })
    stops.push(() => verifier.stop())
    while ((verifier.head()?.index ?? -1) < messages.length - 1) await verifier.sync()
    const verifySeconds = (performance.now() - tVerify) / 1000
    const steps = verifier.stepsBetween(0n, BigInt(messages.length))
    ctx.progress(`${key}: the verifier derived ${messages.length} batches (${steps} VM steps, each batch run natively and on the VM) in ${verifySeconds.toFixed(1)} s`)
    verifier.start()

    // service logs: only trouble is shown
    const svcLog = (l: string) => { if (/retrying|failed|error|revert/i.test(l)) ctx.progress(`${key}: ${l.split('\n')[0]}`) }
    const program = loadEngineProgramFile(engineWasmPath())
    const traces = new TraceQueue({ redisUrl: redis.url })
    stops.push(() => traces.close())
    let hashMs = 0
    let hashJobs = 0
    const worker = new TraceWorker({
      redisUrl: redis.url, program, name: `bench-worker`,
      log: (l) => {
        svcLog(l)
        const m = / in (\d+) ms$/.exec(l)
        if (m) { hashMs += Number(m[1]); hashJobs++ }
      },
    })
    stops.push(() => worker.close())
    const degree = DEGREE
    const tallyT0 = performance.now()
    const tally = new DisputeTally(degree, undefined, tallyT0)
    const base = { l1, rollup: d.rollup, game: d.disputeGame, sequencerInbox: d.inbox, fromBlock: d.deployBlock, verifier, program, traces, log: svcLog }
    let opened: { game: bigint; tx: Hex } | undefined
    const challenger = new DisputeAgent({
      ...base, wallet: l1Wallet(cfg, challengerKey!), challenge: true, defend: false,
      onMove: (m) => tally.move('challenger', m),
      onGame: (e) => { if (e.type === 'opened' && e.tx) opened = { game: e.game, tx: e.tx } },
    })
    const proposerWallet = l1Wallet(cfg, proposerKey!, undefined, { sharedNonces: true })
    const defender = new DisputeAgent({
      ...base, wallet: proposerWallet, challenge: false, defend: true,
      claims: (a, honest) => lyingFrom(honest, a.steps, a.stateRoot),
      onMove: (m) => tally.move('asserter', m),
    })
    let evilAt: number | undefined
    let evilId: bigint | undefined
    const proposer = new Proposer({
      l1, wallet: proposerWallet, rollup: d.rollup, verifier, log: svcLog,
      tamper: (c) => ({ ...c, machineRoot: flip(c.machineRoot) }),
      onEvent: (e) => { if (e.type === 'asserted' && evilAt === undefined) { evilAt = performance.now(); evilId = e.id } },
    })
    stops.push(() => proposer.stop(), () => defender.stop(), () => challenger.stop())
    challenger.start()
    defender.start()
    proposer.start()
    const deadline = Date.now() + 3600_000
    while (evilAt === undefined) {
      if (Date.now() > deadline) throw new Error('no assertion')
      await sleep(50)
    }
    // one lie is enough: after a rejection it would post the same one again
    await proposer.stop()
    ctx.progress(`${key}: the false assertion ${evilId} over ${steps} steps is on L1; the game runs (at most ${roundsFor(steps, degree)} bisection rounds, then a one-step proof)`)
    let openedAt: number | undefined
    let lastRounds = 0
    let status = GameStatus.Active as number
    for (;;) {
      if (Date.now() > deadline) throw new Error('the game did not end within an hour')
      if (opened && openedAt === undefined) {
        openedAt = performance.now()
        const r = await l1.getTransactionReceipt({ hash: opened.tx })
        tally.challenge(opened.tx, r.gasUsed, steps)
        ctx.progress(`${key}: game ${opened.game} opened ${((openedAt - evilAt) / 1000).toFixed(1)} s after the assertion (challenge: ${r.gasUsed} gas)`)
      }
      if (opened) {
        const g = await readGame(l1, d.disputeGame, opened.game)
        if (tally.rounds !== lastRounds) {
          lastRounds = tally.rounds
          const t = tally.txs[tally.txs.length - 1]!
          ctx.progress(`${key}: round ${lastRounds}: ${t.side} ${t.kind}, ${t.len} steps in play, ${t.roundsLeft} rounds left`)
        }
        if (g.status !== GameStatus.Active) { status = g.status; break }
      }
      await sleep(200)
    }
    let wallS = (performance.now() - evilAt) / 1000
    await sleep(1500) // the winner's report of its last move arrives after its receipt
    const last = tally.txs.filter((t) => t.kind !== 'timeout').reduce((a, t) => Math.max(a, t.at), 0)
    const decidedS = (tallyT0 + last - evilAt) / 1000
    // the game's end as first seen, by this loop's poll or by the winning agent's receipt
    if (tally.txs.some((t) => t.kind === 'prove')) wallS = Math.min(wallS, decidedS)
    const g = await readGame(l1, d.disputeGame, opened!.game)
    const clockUsed = Number(DISPUTE_CLOCK_S - g.challengerTimeLeft)
    const how = tally.txs.some((t) => t.kind === 'prove') ? 'one-step proof' : tally.txs.some((t) => t.kind === 'timeout') ? 'the liar\'s clock ran out' : 'unknown'
    if (status !== GameStatus.ChallengerWon) throw new Error(`${key}: the game ended with status ${status}, not a challenger win`)
    ctx.progress(`${key}: the challenger won (${how}) ${wallS.toFixed(1)} s after the assertion; trace hashing ${(hashMs / 1000).toFixed(1)} s in ${hashJobs} jobs; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MB`)
    for (const l of tally.summary()) ctx.progress(`${key}: ${l.trim()}`)
    const task = verifier.traceTask(0n, BigInt(messages.length))
    ctx.progress(`${key}: engine memory ${task.memory.length} bytes; ${Math.ceil(Number(steps) / CHECKPOINT_EVERY)} trace checkpoints of one memory copy each`)

    ctx.figure({ key: `${key}_steps`, value: Number(steps), unit: 'steps', note: 'actual trace length of the disputed assertion' })
    ctx.figure({ key: `${key}_wall_s`, value: wallS, unit: 's', note: 'evil assertion on L1 -> game resolved (1-second L1 blocks)' })
    ctx.figure({ key: `${key}_decided_s`, value: decidedS, unit: 's', note: 'evil assertion on L1 -> last bisection or proof mined' })
    ctx.figure({ key: `${key}_challenge_s`, value: ((openedAt ?? evilAt) - evilAt) / 1000, unit: 's', note: 'evil assertion on L1 -> game opened (includes the first full trace run)' })
    ctx.figure({ key: `${key}_trace_hash_s`, value: hashMs / 1000, unit: 's', note: 'trace worker time computing machine hashes, both sides' })
    ctx.figure({ key: `${key}_rounds`, value: tally.rounds, unit: 'rounds', note: 'bisection rounds, the challenge included' })
    ctx.figure({ key: `${key}_resolved_by_proof`, value: how === 'one-step proof' ? 1 : 0, unit: 'bool', note: '1: one-step proof; 0: the false asserter had to prove the last step and ran out of clock' })
    ctx.figure({ key: `${key}_l1_txs_challenger`, value: tally.count('challenger'), unit: 'txs' })
    ctx.figure({ key: `${key}_l1_txs_asserter`, value: tally.count('asserter'), unit: 'txs' })
    ctx.figure({ key: `${key}_l1_txs_per_side`, value: Math.max(tally.count('challenger'), tally.count('asserter')), unit: 'txs', note: 'max of the two sides' })
    ctx.figure({ key: `${key}_gas_challenger`, value: Number(tally.gas('challenger')), unit: 'gas' })
    ctx.figure({ key: `${key}_gas_asserter`, value: Number(tally.gas('asserter')), unit: 'gas' })
    ctx.figure({ key: `${key}_gas_total`, value: Number(tally.gasTotal), unit: 'gas' })
    ctx.figure({ key: `${key}_challenger_clock_used_s`, value: clockUsed, unit: 's', note: `of the ${DISPUTE_CLOCK_S} s clock` })
    ctx.figure({ key: `${key}_verify_s`, value: verifySeconds, unit: 's', note: 'verifier derivation of the batches (not part of the dispute)' })
    ctx.figure({ key: `${key}_peak_rss_mb`, value: peakRss / 2 ** 20, unit: 'MB' })
  } finally {
    clearInterval(rssTimer)
    for (const s of stops.reverse()) await s().catch(() => undefined)
    await anvil.stop()
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export const disputeSection: BenchSection = {
  name: 'dispute',
  description: 'bisection games over real 1e6/1e7/1e8-step traces on anvil with 1-s blocks: rounds, L1 txs and gas per side, wall time',
  async run(ctx) {
    // COMPUTED, not measured: the bound for a 2^32-step range with the deployed degree. The
    // challenger makes the odd rounds (the challenge first), the asserter the even ones, and the
    // party to move when one step remains proves it.
    const r = roundsFor(2n ** 32n, DEGREE)
    const challengerTxs = Math.ceil(r / 2) + (r % 2 === 0 ? 1 : 0)
    const asserterTxs = Math.floor(r / 2) + (r % 2 === 1 ? 1 : 0)
    ctx.figure({ key: 'dispute_2p32_rounds_bound', value: r, unit: 'rounds', note: `computed: roundsFor(2^32, ${DEGREE})` })
    ctx.figure({ key: 'dispute_2p32_l1_txs_per_side_bound', value: Math.max(challengerTxs, asserterTxs), unit: 'txs', note: `computed, not measured: ${challengerTxs} challenger + ${asserterTxs} asserter (test/dispute.test.ts scenario 5 measured 5 + 4)` })
    ctx.progress(`2^32-step bound (computed, not measured): ${r} bisection rounds + a proof = ${challengerTxs} challenger / ${asserterTxs} asserter L1 transactions (target <= 10 per side)`)
    const sizes = ctx.opts.disputeSizes ?? (ctx.opts.quick ? [1e6, 1e7] : [1e6, 1e7, 1e8])
    for (const [i, n] of sizes.entries()) await runOne(ctx, n, i)
  },
}
