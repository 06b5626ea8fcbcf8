/**
 * The dispute agent of a node: as challenger, it re-derives every assertion from L1 (the Verifier)
 * and opens a game against any whose state root or step count is wrong; as defender, it answers
 * every game opened against the assertions of its own account. It then plays all its games to the
 * end (player.ts), with the trace work fanned out to the BullMQ workers.
 *
 * An assertion over batches p..q−1 is wrong when its state root differs from the verifier's after
 * batch q−1, or when it claims fewer VM steps than the batches take (the machine would still be
 * running at the claimed step). Any larger step count is a true claim: the trace is padded.
 */
import { type Address, type Hex, parseEventLogs } from 'viem'
import { disputeGameAbi, rollupAbi } from '../../contracts/out/artifacts.js'
import type { L1Public, L1Wallet } from '../../contracts/l1.js'
import { PollLoop } from '../../executor/pollLoop.js'
import type { Verifier } from '../../executor/verifier.js'
import type { Program } from '../../executor/vm/program.js'
import { AssertionStatus, readAssertion, type Assertion } from '../proposer.js'
import { AssertionTrace } from './assertionTrace.js'
import { type ClaimSource, GameStatus, type MoveReport, Player, readGame } from './player.js'
import { bisectionPoints } from './segments.js'
import type { TraceQueue } from './traceQueue.js'

export interface DisputeAgentOptions {
  l1: L1Public
  wallet: L1Wallet
  rollup: Address
  game: Address
  sequencerInbox: Address
  /** Block to scan events from (the deployment block). */
  fromBlock: bigint
  verifier: Verifier
  program: Program
  traces: TraceQueue
  /** Open games against wrong assertions. */
  challenge: boolean
  /** Answer games against this account's assertions. */
  defend: boolean
  /** The claims to play for an assertion; default: the honest trace. Tests and demos wrap it to lie. */
  claims?: (a: Assertion, honest: ClaimSource) => ClaimSource
  pollMs?: number
  log?: (line: string) => void
  onMove?: (m: MoveReport) => void
  onGame?: (e: { type: 'opened' | 'resolved'; game: bigint; assertion: bigint; winner?: Address; tx?: Hex }) => void
}

export class DisputeAgent {
  private readonly players = new Map<bigint, Player>()
  /** The assertion each game of ours disputes. */
  private readonly assertionOf = new Map<bigint, bigint>()
  private readonly sources = new Map<bigint, ClaimSource>()
  private nextAssertion = 1n
  private nextGame = 0n
  private readonly loop: PollLoop
  private degree?: bigint
  private readonly log: (line: string) => void

  constructor(private readonly opts: DisputeAgentOptions) {
    this.log = opts.log ?? (() => {})
    this.loop = new PollLoop(() => this.step(), opts.pollMs ?? 500, (e) => this.log(`disputes: ${e.message.split('\n')[0]}; retrying`))
  }

  private get me(): Address {
    return this.opts.wallet.account.address
  }

  private async gameDegree(): Promise<bigint> {
    this.degree ??= (await this.opts.l1.readContract({ address: this.opts.game, abi: disputeGameAbi, functionName: 'degree' })) as bigint
    return this.degree
  }

  /** The honest claims about an assertion: its VM trace from the verifier's state at the parent. */
  private async source(a: Assertion): Promise<ClaimSource> {
    let s = this.sources.get(a.id)
    if (s) return s
    const parent = await readAssertion(this.opts.l1, this.opts.rollup, a.parentId)
    const task = this.opts.verifier.traceTask(parent.inboxPosition, a.inboxPosition)
    const key = await this.opts.traces.put(task)
    let local: AssertionTrace | undefined
    const honest: ClaimSource = {
      hashes: (points) => this.opts.traces.hashes(key, points),
      proveStep: async (k) => {
        local ??= new AssertionTrace(this.opts.program, task)
        return local.proveStep(k)
      },
    }
    s = this.opts.claims ? this.opts.claims(a, honest) : honest
    this.sources.set(a.id, s)
    return s
  }

  private player(gameId: bigint, a: Assertion, claims: ClaimSource, degree: bigint): Player {
    let p = this.players.get(gameId)
    if (!p) {
      this.assertionOf.set(gameId, a.id)
      p = new Player({ l1: this.opts.l1, wallet: this.opts.wallet, game: this.opts.game, fromBlock: this.opts.fromBlock, degree, log: this.log, onMove: this.opts.onMove }, gameId, claims)
      this.players.set(gameId, p)
      this.log(`dispute ${gameId}: playing ${a.proposer.toLowerCase() === this.me.toLowerCase() ? 'the asserter' : 'the challenger'} on assertion ${a.id}`)
    }
    return p
  }

  /** Whether the assertion is wrong by what this node derived from L1; undefined until it has verified that far. */
  wrong(a: Assertion, parent: Assertion): boolean | undefined {
    const v = this.opts.verifier.verified(Number(a.inboxPosition) - 1)
    if (!v) return undefined
    if (v.stateRoot !== a.stateRoot) return true
    return a.steps < this.opts.verifier.stepsBetween(parent.inboxPosition, a.inboxPosition)
  }

  /** Opens a game against assertion `id` with this node's honest bisection; returns the game id. */
  async challenge(id: bigint): Promise<bigint> {
    const { l1, wallet, game } = this.opts
    const a = await readAssertion(l1, this.opts.rollup, id)
    const degree = await this.gameDegree()
    const claims = await this.source(a)
    const hashes = await claims.hashes(bisectionPoints(0n, a.steps, degree))
    const bond = (await l1.readContract({ address: game, abi: disputeGameAbi, functionName: 'challengeBond' })) as bigint
    const estimate = await l1.estimateContractGas({ address: game, abi: disputeGameAbi, functionName: 'challenge', args: [id, hashes], value: bond, account: wallet.account })
    const tx = await wallet.writeContract({ address: game, abi: disputeGameAbi, functionName: 'challenge', args: [id, hashes], value: bond, chain: wallet.chain, account: wallet.account, gas: (estimate * 3n) / 2n + 30_000n })
    const receipt = await l1.waitForTransactionReceipt({ hash: tx })
    if (receipt.status !== 'success') throw new Error(`challenge of assertion ${id} reverted (${tx})`)
    const created = parseEventLogs({ abi: disputeGameAbi, eventName: 'GameCreated', logs: receipt.logs })[0]
    if (!created) throw new Error('the challenge transaction created no game')
    const gameId = created.args.gameId
    this.player(gameId, a, claims, degree)
    this.log(`dispute ${gameId}: challenged assertion ${id} (${a.steps} steps, ${receipt.gasUsed} gas)`)
    this.opts.onGame?.({ type: 'opened', game: gameId, assertion: id, tx })
    return gameId
  }

  /** One round: judge new assertions, pick up games against ours, make every move that is due. */
  async step(): Promise<void> {
    const { l1, rollup, game } = this.opts
    const degree = await this.gameDegree()
    if (this.opts.challenge) {
      const count = (await l1.readContract({ address: rollup, abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      for (let id = this.nextAssertion; id < count; id++) {
        const a = await readAssertion(l1, rollup, id)
        if (a.status !== AssertionStatus.Pending) { this.nextAssertion = id + 1n; continue }
        const parent = await readAssertion(l1, rollup, a.parentId)
        const verdict = this.wrong(a, parent)
        if (verdict === undefined) break // not derived that far yet: judge it next round
        if (verdict) {
          const deadline = (await l1.readContract({ address: rollup, abi: rollupAbi, functionName: 'challengeDeadline', args: [id] })) as bigint
          if ((await l1.getBlock({ blockTag: 'pending' })).timestamp >= deadline) {
            this.log(`challenger: assertion ${id} is wrong but its challenge period is over: it can no longer be disputed`)
          } else {
            this.log(`challenger: assertion ${id} (batches ${parent.inboxPosition}..${a.inboxPosition - 1n}) is wrong: challenging it`)
            // a failed challenge throws before the cursor moves: the next round tries again
            await this.challenge(id)
          }
        }
        this.nextAssertion = id + 1n
      }
    }
    // a game's asserter never changes and an ended game never restarts, so each game is looked at once
    const gameCount = (await l1.readContract({ address: game, abi: disputeGameAbi, functionName: 'gameCount' })) as bigint
    for (; this.nextGame < gameCount; this.nextGame++) {
      const id = this.nextGame
      if (!this.opts.defend || this.players.has(id)) continue
      const g = await readGame(l1, game, id)
      if (g.status !== GameStatus.Active || g.asserter.toLowerCase() !== this.me.toLowerCase()) continue
      const a = await readAssertion(l1, rollup, g.assertionId)
      this.player(id, a, await this.source(a), degree)
    }
    for (const [id, p] of this.players) {
      const g = await readGame(l1, game, id)
      if (g.status !== GameStatus.Active) {
        this.players.delete(id)
        // its trace (checkpoints included) is dropped once no game of ours is left on the assertion
        if (![...this.players.keys()].some((other) => this.assertionOf.get(other) === g.assertionId)) this.sources.delete(g.assertionId)
        this.assertionOf.delete(id)
        const winner = g.status === GameStatus.ChallengerWon ? g.challenger : g.status === GameStatus.AsserterWon ? g.asserter : undefined
        this.log(`dispute ${id}: over, ${winner ? `won by ${winner === g.challenger ? 'the challenger' : 'the asserter'} ${winner}` : 'closed'}`)
        this.opts.onGame?.({ type: 'resolved', game: id, assertion: g.assertionId, winner })
        continue
      }
      await p.act()
    }
  }

  /** Games this agent is playing. */
  active(): bigint[] {
    return [...this.players.keys()]
  }

  start() {
    this.loop.start()
  }

  async stop() {
    await this.loop.stop()
  }
}
