/**
 * `veridex demo fraud`: a fraud proof end to end on a fresh private devnet. The devnet's proposer
 * turns evil (it flips a byte of the machine root it asserts) once two traders have traded; the
 * node's honest challenger opens a bisection game against the false assertion, both sides play it
 * to one VM step on L1, the one-step proof rejects the assertion and its bond goes to the
 * challenger; an honest validator then asserts the same batches and is confirmed. Prints every
 * move with its gas as the game runs, and returns the figures (the dispute bench reuses
 * DisputeTally).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type Address, type Hex, formatEther, parseEventLogs, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet, type L1Public } from '../contracts/l1.js'
import { disputeGameAbi, rollupAbi } from '../contracts/out/artifacts.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { loadEngineProgramFile } from '../executor/vm/engine.js'
import { DisputeAgent } from '../prover/dispute/agent.js'
import { GameStatus, type MoveReport, readGame } from '../prover/dispute/player.js'
import { roundsFor } from '../prover/dispute/segments.js'
import { TraceQueue } from '../prover/dispute/traceQueue.js'
import { type Assertion, AssertionStatus, Proposer, readAssertion } from '../prover/proposer.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL } from '../sdk/protocol.js'
import { BTC_PERP } from './config.js'

export type Side = 'challenger' | 'asserter'

export interface DisputeTx {
  side: Side
  kind: 'challenge' | MoveReport['kind']
  tx: Hex
  gas: bigint
  /** The segment bisected (challenge: the whole claim), or the step proven. */
  start: bigint
  len: bigint
  roundsLeft: number
  /** Milliseconds since the tally started. */
  at: number
}

/**
 * The L1 transactions of one game, per side: the challenge (the challenger's first bisection),
 * bisections, the one-step proof, a timeout claim.
 */
export class DisputeTally {
  readonly txs: DisputeTx[] = []
  /** `t0`: what the times are measured from (performance.now(); default: now). */
  constructor(private readonly degree: bigint, private readonly print?: (line: string) => void, private readonly t0 = performance.now()) {}

  challenge(tx: Hex, gas: bigint, steps: bigint) {
    this.add({ side: 'challenger', kind: 'challenge', tx, gas, start: 0n, len: steps, roundsLeft: roundsFor(steps, this.degree), at: performance.now() - this.t0 })
  }

  move(side: Side, m: MoveReport) {
    this.add({ side, kind: m.kind, tx: m.tx, gas: m.gasUsed, start: m.start, len: m.len, roundsLeft: m.roundsLeft, at: performance.now() - this.t0 })
  }

  private add(t: DisputeTx) {
    this.txs.push(t)
    if (!this.print) return
    const s = (performance.now() - this.t0) / 1000
    const who = t.side.padEnd(10)
    const gas = `gas ${t.gas.toLocaleString('en-US')}`
    if (t.kind === 'challenge' || t.kind === 'bisect') {
      const round = this.rounds
      this.print(`  round ${String(round).padStart(2)}  +${s.toFixed(1).padStart(5)} s  ${who} ${t.kind.padEnd(9)} steps ${t.start}..${t.start + t.len} (${t.len} steps in play, ${t.roundsLeft} round${t.roundsLeft === 1 ? '' : 's'} left)  ${gas}  ${t.tx}`)
    } else if (t.kind === 'prove') {
      this.print(`  proof     +${s.toFixed(1).padStart(5)} s  ${who} one-step proof of step ${t.start} -> ${t.start + 1n} executed on L1  ${gas}  ${t.tx}`)
    } else {
      this.print(`  timeout   +${s.toFixed(1).padStart(5)} s  ${who} claimed the win on time  ${gas}  ${t.tx}`)
    }
  }

  /** Bisection rounds so far (the challenge is the first). */
  get rounds(): number {
    return this.txs.filter((t) => t.kind === 'challenge' || t.kind === 'bisect').length
  }
  count(side: Side): number {
    return this.txs.filter((t) => t.side === side).length
  }
  gas(side: Side): bigint {
    return this.txs.filter((t) => t.side === side).reduce((a, t) => a + t.gas, 0n)
  }
  get gasTotal(): bigint {
    return this.gas('challenger') + this.gas('asserter')
  }

  summary(): string[] {
    const lines: string[] = []
    for (const side of ['challenger', 'asserter'] as const) {
      const txs = this.txs.filter((t) => t.side === side)
      lines.push(`  ${side}: ${txs.length} L1 transactions, ${this.gas(side).toLocaleString('en-US')} gas  (${txs.map((t) => `${t.kind} ${t.gas.toLocaleString('en-US')}`).join(', ')})`)
    }
    lines.push(`  total: ${this.txs.length} transactions, ${this.gasTotal.toLocaleString('en-US')} gas, ${this.rounds} bisection rounds`)
    return lines
  }
}

export interface FraudDemoResult {
  assertion: { id: bigint; parentId: bigint; inboxPosition: bigint; steps: bigint; claimedRoot: Hex; honestRoot: Hex }
  gameId: bigint
  rounds: number
  txs: DisputeTx[]
  challengerTxs: number
  asserterTxs: number
  challengerGas: bigint
  asserterGas: bigint
  gasTotal: bigint
  bondPaidTo: Address
  bond: bigint
  honestAssertionId: bigint
  /** From the evil assertion on L1 to the game's resolution. */
  disputeMs: number
  wallMs: number
}

const flipLastByte = (h: Hex): Hex => `${h.slice(0, -2)}${(Number.parseInt(h.slice(-2), 16) ^ 1).toString(16).padStart(2, '0')}` as Hex

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number, pollMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

export interface FraudDemoOptions {
  log?: (line: string) => void
  /** Print the node's own log lines too. */
  verbose?: boolean
  challengePeriodSeconds?: number
  disputeClockSeconds?: number
  /** Seconds between L1 blocks (default: a block per transaction). */
  l1BlockTime?: number
}

export async function runFraudDemo(o: FraudDemoOptions = {}): Promise<FraudDemoResult> {
  const log = o.log ?? ((l: string) => console.log(l))
  const started = performance.now()
  const dataDir = mkdtempSync(path.join(tmpdir(), 'veridex-demo-fraud-'))
  const { startDevnet } = await import('./devnet.js')

  // The proposer lies from the traders' batch on: it flips the last byte of the machine root.
  let lieFrom: bigint | undefined
  const moves: { side: Side; m: MoveReport }[] = []
  let tally: DisputeTally | undefined
  const onMove = (side: 'challenger' | 'defender', m: MoveReport) => {
    const s: Side = side === 'defender' ? 'asserter' : 'challenger'
    if (tally) tally.move(s, m)
    else moves.push({ side: s, m })
  }
  log('demo fraud: starting a private devnet (anvil, Redis, sequencer, verifier, an evil proposer, the honest challenger)')
  const dev = await startDevnet({
    port: 0,
    l1Port: 0,
    writeState: false,
    dataDir,
    challengePeriodSeconds: o.challengePeriodSeconds ?? 20,
    disputeClockSeconds: o.disputeClockSeconds ?? 600,
    l1BlockTime: o.l1BlockTime,
    batchMaxAgeMs: 500,
    proposerTamper: (c) => (lieFrom !== undefined && c.position > lieFrom ? { ...c, machineRoot: flipLastByte(c.machineRoot) } : c),
    onDisputeMove: onMove,
    log: o.verbose ? (l) => log(`  | ${l}`) : () => {},
  })
  const s = dev.state
  const l1: L1Public = l1Public(s.l1)
  const d = s.deployment
  const extra: { stop(): Promise<void> }[] = []
  try {
    log(`demo fraud: L1 ${s.l1.rpcUrl}, Rollup ${d.rollup}, DisputeGame ${d.disputeGame}; challenge period ${s.challengePeriodSeconds} s`)
    const degree = (await l1.readContract({ address: d.disputeGame, abi: disputeGameAbi, functionName: 'degree' })) as bigint
    const clock = (await l1.readContract({ address: d.disputeGame, abi: disputeGameAbi, functionName: 'clockSeconds' })) as bigint
    log(`demo fraud: bisection degree ${degree}, chess clock ${clock} s per side`)

    // 1. Two traders deposit on L1 and trade on L2, so there are batches to dispute.
    const client = new VeridexClient(s.sequencerUrl)
    const [alice, bob] = [privateKeyToAccount(s.keys.traders[0]!), privateKeyToAccount(s.keys.traders[1]!)]
    const deposit = parseUnits('50000', 6)
    for (const [name, acct, key] of [['alice', alice, s.keys.traders[0]!], ['bob', bob, s.keys.traders[1]!]] as const) {
      await depositCollateral(l1, l1Wallet(s.l1, key), d, acct.address, deposit)
      await until(`${name}'s deposit on L2`, async () => (BigInt((await client.account(acct.address)).balances[ASSET_COLLATERAL] ?? '0') >= deposit ? true : undefined), 90_000)
      log(`demo fraud: ${name} deposited 50,000 vUSD on L1 and it is credited on L2`)
    }
    let lastBatch = 0
    let fills = 0
    // Two pairs keep the lied-about trace between 16^3 and 16^4 VM steps: 4 bisection rounds, so
    // the honest challenger makes the one-step proof and the game ends at once (an odd count ends
    // on the liar's 600-s clock; docs/disputes.md). Engine v1's heavier batches put 8 orders past 16^4.
    const PAIRS = 2
    for (let i = 0; i < PAIRS; i++) {
      const price = (60_000n + BigInt(i)) * 1_000_000n
      const ask = await client.placeOrder(alice, { market: BTC_PERP.id, isBuy: false, price, size: 1_000n + BigInt(i) * 500n })
      const bid = await client.placeOrder(bob, { market: BTC_PERP.id, isBuy: true, price, size: 1_000n + BigInt(i) * 500n })
      // the proposer turns evil with the first traders' batch
      lieFrom ??= BigInt(Math.min(ask.batch, bid.batch))
      fills += bid.fills.length
      lastBatch = Math.max(lastBatch, ask.batch, bid.batch)
    }
    log(`demo fraud: alice and bob placed ${2 * PAIRS} orders (${fills} fills) in batches up to ${lastBatch}; the proposer now lies about every assertion from batch ${lieFrom} on`)

    // 2. The false assertion lands on L1.
    const proposer = privateKeyToAccount(s.keys.proposer).address
    const evil = await until('the evil assertion', async () => {
      const n = (await l1.readContract({ address: d.rollup, abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      for (let id = 1n; id < n; id++) {
        const a = await readAssertion(l1, d.rollup, id)
        if (a.proposer !== proposer || a.inboxPosition <= lieFrom!) continue
        const v = dev.node.verifier.verified(Number(a.inboxPosition) - 1)
        if (v && v.stateRoot !== a.stateRoot) return a
      }
      return undefined
    }, 120_000)
    const tEvil = performance.now()
    // it would post the same lie again once this one is rejected: stop its assertions (its defender plays on)
    await dev.node.proposer?.stop()
    const honestRoot = dev.node.verifier.verified(Number(evil.inboxPosition) - 1)!.stateRoot
    log('')
    log(`assertion ${evil.id} by the evil proposer ${proposer}:`)
    log(`  parent ${evil.parentId}, batches up to inbox position ${evil.inboxPosition}, ${evil.steps} VM steps claimed`)
    log(`  claimed state root ${evil.stateRoot}`)
    log(`  honest state root  ${honestRoot} (derived from L1 by the node's verifier)`)

    // 3. The challenger opens a game; both sides play it out.
    const game = await until('the challenger to open a game', async () => {
      const n = (await l1.readContract({ address: d.disputeGame, abi: disputeGameAbi, functionName: 'gameCount' })) as bigint
      for (let id = 0n; id < n; id++) {
        const g = await readGame(l1, d.disputeGame, id)
        if (g.assertionId === evil.id) return g
      }
      return undefined
    }, 120_000)
    tally = new DisputeTally(degree, log, tEvil)
    const created = (await l1.getContractEvents({ address: d.disputeGame, abi: disputeGameAbi, eventName: 'GameCreated', args: { gameId: game.id }, fromBlock: d.deployBlock }))[0]!
    const challengeReceipt = await l1.getTransactionReceipt({ hash: created.transactionHash })
    log(`game ${game.id} (times from the false assertion on L1): challenger ${game.challenger} vs asserter ${game.asserter} over ${evil.steps} steps (${roundsFor(evil.steps, degree)} bisection rounds at most, then a one-step proof)`)
    tally.challenge(created.transactionHash, challengeReceipt.gasUsed, evil.steps)
    for (const x of moves.splice(0)) if (x.m.game === game.id) tally.move(x.side, x.m)
    const resolved = await until('the game to end', async () => {
      const g = await readGame(l1, d.disputeGame, game.id)
      return g.status === GameStatus.Active ? undefined : g
    }, 2 * Number(clock) * 1000 + 120_000)
    const disputeMs = performance.now() - tEvil
    // the agents report a move after its receipt: let the last report arrive
    await until('the last move report', async () => (tally!.txs.some((t) => t.kind === 'prove' || t.kind === 'timeout') ? true : undefined), 10_000).catch(() => undefined)
    const after = await readAssertion(l1, d.rollup, evil.id)
    const rejected = (await l1.getContractEvents({ address: d.rollup, abi: rollupAbi, eventName: 'AssertionRejected', args: { id: evil.id }, fromBlock: d.deployBlock }))[0]
    const bond = (await l1.readContract({ address: d.rollup, abi: rollupAbi, functionName: 'bond' })) as bigint
    const bondPaidTo = (rejected?.args as { bondRecipient?: Address } | undefined)?.bondRecipient ?? ('0x' as Address)
    log('')
    log(`outcome: game ${game.id} ${resolved.status === GameStatus.ChallengerWon ? 'won by the challenger' : resolved.status === GameStatus.AsserterWon ? 'won by the ASSERTER' : 'closed'}; assertion ${evil.id} ${after.status === AssertionStatus.Rejected ? 'REJECTED' : `status ${after.status}`}; its bond of ${formatEther(bond)} ETH paid to ${bondPaidTo === game.challenger ? 'the challenger' : bondPaidTo} ${bondPaidTo}`)
    for (const l of tally.summary()) log(l)
    if (resolved.status !== GameStatus.ChallengerWon || after.status !== AssertionStatus.Rejected) throw new Error('the false assertion was not rejected')

    // 4. An honest validator asserts the same batches and is confirmed after the challenge period.
    const deployer = l1Wallet(s.l1, s.keys.deployer)
    const validator = l1Wallet(s.l1, s.keys.validator, undefined, { sharedNonces: true })
    await l1.waitForTransactionReceipt({ hash: await deployer.writeContract({ address: d.rollup, abi: rollupAbi, functionName: 'setValidator', args: [validator.account.address, true] }) })
    const honest = new Proposer({ l1, wallet: validator, rollup: d.rollup, verifier: dev.node.verifier, pollMs: 300 })
    const traces = new TraceQueue({ redisUrl: dev.redis.url })
    const defender = new DisputeAgent({
      l1, rollup: d.rollup, game: d.disputeGame, sequencerInbox: d.inbox, fromBlock: d.deployBlock, verifier: dev.node.verifier,
      program: loadEngineProgramFile(engineWasmPath()), traces, pollMs: 300, wallet: validator, challenge: false, defend: true,
    })
    extra.push(honest, defender, { stop: () => traces.close() })
    honest.start()
    defender.start()
    log('')
    log(`an honest validator ${validator.account.address} is registered and asserts the same batches`)
    const good: Assertion = await until('the honest assertion', async () => {
      const n = (await l1.readContract({ address: d.rollup, abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      for (let id = n - 1n; id > evil.id; id--) {
        const a = await readAssertion(l1, d.rollup, id)
        if (a.proposer === validator.account.address && a.inboxPosition >= evil.inboxPosition) return a
      }
      return undefined
    }, 60_000)
    log(`  assertion ${good.id}: parent ${good.parentId}, inbox position ${good.inboxPosition}, ${good.steps} steps, state root ${good.stateRoot}${good.stateRoot === honestRoot ? ' (the honest root)' : ''}`)
    log(`  waiting out the challenge period (${s.challengePeriodSeconds} s)…`)
    await until('the honest assertion to be confirmed', async () => ((await readAssertion(l1, d.rollup, good.id)).status === AssertionStatus.Confirmed ? true : undefined), (s.challengePeriodSeconds + 90) * 1000, 500)
    const confirmed = (await l1.readContract({ address: d.rollup, abi: rollupAbi, functionName: 'latestConfirmed' })) as bigint
    log(`  assertion ${good.id} CONFIRMED (latest confirmed: ${confirmed})`)

    const wallMs = performance.now() - started
    log('')
    log(`demo fraud complete in ${(wallMs / 1000).toFixed(1)} s wall time (the dispute: ${(disputeMs / 1000).toFixed(1)} s from the false assertion on L1 to the game's end)`)
    return {
      assertion: { id: evil.id, parentId: evil.parentId, inboxPosition: evil.inboxPosition, steps: evil.steps, claimedRoot: evil.stateRoot, honestRoot },
      gameId: game.id,
      rounds: tally.rounds,
      txs: tally.txs,
      challengerTxs: tally.count('challenger'),
      asserterTxs: tally.count('asserter'),
      challengerGas: tally.gas('challenger'),
      asserterGas: tally.gas('asserter'),
      gasTotal: tally.gasTotal,
      bondPaidTo,
      bond,
      honestAssertionId: good.id,
      disputeMs,
      wallMs,
    }
  } finally {
    for (const x of extra) await x.stop().catch(() => undefined)
    await dev.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** The L1 receipt of a game's creation, for callers that watch games themselves. */
export async function gameCreation(l1: L1Public, game: Address, gameId: bigint, fromBlock: bigint) {
  const created = (await l1.getContractEvents({ address: game, abi: disputeGameAbi, eventName: 'GameCreated', args: { gameId }, fromBlock }))[0]
  if (!created) throw new Error(`game ${gameId} has no GameCreated event`)
  const receipt = await l1.getTransactionReceipt({ hash: created.transactionHash })
  return { tx: created.transactionHash, gasUsed: receipt.gasUsed, logs: parseEventLogs({ abi: disputeGameAbi, logs: receipt.logs }) }
}
