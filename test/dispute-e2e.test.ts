/**
 * Disputes end to end on a devnet (real anvil, Redis, SQLite): a dishonest proposer's assertions
 * (a corrupted root; the right root with too few VM steps) are challenged by the node's challenger
 * and lose, their bonds going to the challenger; an honest
 * validator's assertion over the same batches is then confirmed; a lying challenger against an
 * honest assertion loses to the proposer's defender. Every move is made by the services
 * (prover/dispute), with trace work on BullMQ workers.
 */
import { expect } from 'chai'
import { type Address, type Hex, parseEventLogs, zeroAddress } from 'viem'
import { disputeGameAbi, rollupAbi } from '../contracts/out/artifacts.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import type { Devnet } from '../cli/devnet.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { loadEngineProgramFile } from '../executor/vm/engine.js'
import { DisputeAgent } from '../prover/dispute/agent.js'
import { GameStatus, lyingFrom, type MoveReport, readGame } from '../prover/dispute/player.js'
import { bisectionPoints } from '../prover/dispute/segments.js'
import { TraceQueue } from '../prover/dispute/traceQueue.js'
import { AssertionStatus, Proposer, readAssertion } from '../prover/proposer.js'
import { testDevnet, until } from './helpers/devnet.js'

const flip = (h: Hex): Hex => `${h.slice(0, -2)}${(Number.parseInt(h.slice(-2), 16) ^ 1).toString(16).padStart(2, '0')}` as Hex

describe('disputes end to end on a devnet', function () {
  this.timeout(300_000)
  let dev: Devnet
  const moves: MoveReport[] = []
  let lies = 0

  before(async () => {
    dev = await testDevnet({
      challengePeriodSeconds: 20,
      // short clocks: the lying challenger below cannot make its last move and loses on time
      disputeClockSeconds: 25,
      // the devnet's proposer lies in every assertion: first a corrupted machine root, then the
      // right root with half the VM steps (the machine is still running there), then roots again
      proposerTamper: (c) => (++lies === 2 ? { ...c, steps: c.steps / 2n } : { ...c, machineRoot: flip(c.machineRoot) }),
      onDisputeMove: (_side, m) => moves.push(m),
    })
  })
  after(async () => { await dev?.stop() })

  const l1 = () => l1Public(dev.state.l1)
  const game = () => dev.state.deployment.disputeGame
  const rollup = () => dev.state.deployment.rollup

  async function gamesOn(assertion: bigint) {
    const count = (await l1().readContract({ address: game(), abi: disputeGameAbi, functionName: 'gameCount' })) as bigint
    const out = []
    for (let id = 0n; id < count; id++) {
      const g = await readGame(l1(), game(), id)
      if (g.assertionId === assertion) out.push(g)
    }
    return out
  }

  it('the challenger beats a dishonest proposer; the assertion is rejected and its bond paid to the challenger', async () => {
    const pub = l1()
    const challenger = l1Wallet(dev.state.l1, dev.state.keys.challenger).account.address
    const bond = (await pub.readContract({ address: rollup(), abi: rollupAbi, functionName: 'bond' })) as bigint
    // the devnet posts an opening oracle price, so batch 0 exists and the liar asserts it
    const a = await until('an assertion by the dishonest proposer', async () => {
      const n = (await pub.readContract({ address: rollup(), abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      return n > 1n ? readAssertion(pub, rollup(), 1n) : undefined
    })
    expect(dev.node.verifier.verified(Number(a.inboxPosition) - 1)!.stateRoot).to.not.equal(a.stateRoot)
    const g = await until('the challenger to win', async () => {
      const gs = await gamesOn(a.id)
      return gs.find((x) => x.status === GameStatus.ChallengerWon)
    }, 120_000)
    expect(g.challenger).to.equal(challenger)
    expect((await readAssertion(pub, rollup(), a.id)).status).to.equal(AssertionStatus.Rejected)
    // the Rollup paid the assertion's bond to the challenger, by a push that went through (a refused
    // push would have been credited instead); the game may be over before this test starts, so the
    // events are read, not balances (the challenger also locks bonds in its other games meanwhile)
    const from = dev.state.deployment.deployBlock
    const rejected = await pub.getContractEvents({ address: rollup(), abi: rollupAbi, eventName: 'AssertionRejected', args: { id: a.id }, fromBlock: from })
    expect((rejected[0]!.args as { bondRecipient: Address }).bondRecipient).to.equal(challenger)
    const credited = await pub.getContractEvents({ address: rollup(), abi: rollupAbi, eventName: 'BondCredited', args: { account: challenger }, fromBlock: from })
    expect(credited).to.have.length(0)
    expect(bond > 0n).to.equal(true)
    const resolved = await pub.getContractEvents({ address: game(), abi: disputeGameAbi, eventName: 'GameResolved', args: { gameId: g.id }, fromBlock: from })
    expect((resolved[0]!.args as { winner: Address }).winner).to.equal(challenger)
    // both sides moved; the bisection ended in a one-step proof by the challenger
    const mine = moves.filter((m) => m.game === g.id)
    expect(mine.some((m) => m.kind === 'prove')).to.equal(true)
    expect(mine.filter((m) => m.kind === 'bisect').length).to.be.greaterThan(0)
  })

  it('the players split segments exactly as DisputeGame does', async () => {
    const degree = (await l1().readContract({ address: game(), abi: disputeGameAbi, functionName: 'degree' })) as bigint
    for (const [start, len] of [[0n, 1n], [0n, 15n], [7n, 16n], [0n, 28_837n], [1_000n, 999_999_937n], [(1n << 40n) + 3n, 1n << 32n]] as const) {
      const onChain = (await l1().readContract({ address: game(), abi: disputeGameAbi, functionName: 'bisectionPoints', args: [start, len] })) as readonly bigint[]
      expect(bisectionPoints(start, len, degree), `[${start}, +${len}]`).to.deep.equal([...onChain])
    }
  })

  it('the challenger also beats the right root claimed with too few VM steps', async () => {
    const pub = l1()
    const a = await until('the dishonest proposer\'s second assertion', async () => {
      const n = (await pub.readContract({ address: rollup(), abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      return n > 2n ? readAssertion(pub, rollup(), 2n) : undefined
    })
    expect(a.stateRoot).to.equal(dev.node.verifier.verified(Number(a.inboxPosition) - 1)!.stateRoot)
    const parent = await readAssertion(pub, rollup(), a.parentId)
    expect(a.steps < dev.node.verifier.stepsBetween(parent.inboxPosition, a.inboxPosition)).to.equal(true)
    await until('the challenger to win', async () => (await gamesOn(a.id)).find((x) => x.status === GameStatus.ChallengerWon), 120_000)
    expect((await readAssertion(pub, rollup(), a.id)).status).to.equal(AssertionStatus.Rejected)
  })

  it('an honest validator then asserts the same batches and is confirmed; a lying challenger loses to its defender', async () => {
    const pub = l1()
    const deployer = l1Wallet(dev.state.l1, dev.state.keys.deployer)
    const validator = l1Wallet(dev.state.l1, dev.state.keys.validator, undefined, { sharedNonces: true })
    await pub.waitForTransactionReceipt({ hash: await deployer.writeContract({ address: rollup(), abi: rollupAbi, functionName: 'setValidator', args: [validator.account.address, true] }) })
    const honest = new Proposer({ l1: pub, wallet: validator, rollup: rollup(), verifier: dev.node.verifier, pollMs: 300 })
    const program = loadEngineProgramFile(engineWasmPath())
    const traces = new TraceQueue({ redisUrl: dev.redis.url })
    const log = process.env.VERIDEX_TEST_LOG ? (l: string) => console.log(l) : undefined
    const base = { l1: pub, rollup: rollup(), game: game(), sequencerInbox: dev.state.deployment.inbox, fromBlock: dev.state.deployment.deployBlock, verifier: dev.node.verifier, program, traces, pollMs: 300, log }
    const defender = new DisputeAgent({ ...base, wallet: validator, challenge: false, defend: true, onMove: (m) => moves.push(m) })
    // a challenger that tells the truth for the first step only
    const liar = new DisputeAgent({
      ...base,
      wallet: l1Wallet(dev.state.l1, dev.state.keys.traders[5]!),
      challenge: false,
      defend: false,
      claims: (_a, h) => lyingFrom(h, 1n, `0x${'ee'.repeat(32)}`),
      onMove: (m) => moves.push(m),
    })
    honest.start()
    defender.start()
    try {
      const mineOf = async () => {
        const n = (await pub.readContract({ address: rollup(), abi: rollupAbi, functionName: 'assertionCount' })) as bigint
        for (let id = n - 1n; id > 0n; id--) {
          const a = await readAssertion(pub, rollup(), id)
          if (a.proposer === validator.account.address) return a
        }
        return undefined
      }
      const a = await until('the honest assertion', mineOf, 60_000)
      expect(a.stateRoot).to.equal(dev.node.verifier.verified(Number(a.inboxPosition) - 1)!.stateRoot)
      const gameId = await liar.challenge(a.id)
      liar.start()
      const g = await until('the defender to win', async () => {
        const x = await readGame(pub, game(), gameId)
        return x.status === GameStatus.Active ? undefined : x
      }, 120_000)
      // the liar's last move is a one-step proof that yields the defender's own hash: it cannot win,
      // so it runs out of time and the defender claims the game
      expect(g.status).to.equal(GameStatus.AsserterWon)
      const confirmed = await until('the honest assertion to be confirmed', async () => {
        const x = await readAssertion(pub, rollup(), a.id)
        return x.status === AssertionStatus.Confirmed ? x : undefined
      }, 90_000)
      expect(confirmed.outboxRoot).to.equal(a.outboxRoot)
      // the resolution is on L1 for anyone to read
      const logs = await pub.getContractEvents({ address: game(), abi: disputeGameAbi, eventName: 'GameResolved', fromBlock: dev.state.deployment.deployBlock })
      const resolved = parseEventLogs({ abi: disputeGameAbi, logs }).find((l) => (l.args as { gameId: bigint }).gameId === gameId)
      expect((resolved!.args as { winner: Address }).winner).to.equal(validator.account.address)
      expect((resolved!.args as { winner: Address }).winner).to.not.equal(zeroAddress)
    } finally {
      await liar.stop()
      await defender.stop()
      await honest.stop()
      await traces.close()
    }
  })
})
