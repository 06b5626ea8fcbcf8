/**
 * Plays DisputeGame games (docs/disputes.md) for one account, on either side: reads the opponent's
 * latest bisection from the Bisected events, finds the first part whose start it agrees with and
 * whose end it does not, and either bisects that part with its own hashes or, when the part is one
 * step, submits the one-step proof. It also claims a win on time when the opponent's clock runs out.
 *
 * The hashes come from a ClaimSource: an honest one is the assertion's VM trace (hashes through
 * the BullMQ trace workers); tests and `veridex demo fraud` wrap it to lie.
 */
import { type Address, type Hex, bytesToHex } from 'viem'
import { disputeGameAbi } from '../../contracts/out/artifacts.js'
import type { L1Public, L1Wallet } from '../../contracts/l1.js'
import type { ExecutionContext } from '../../executor/vm/module.js'
import { bisectionPoints, firstDisagreement, roundsFor } from './segments.js'

export const GameStatus = { None: 0, Active: 1, ChallengerWon: 2, AsserterWon: 3, Closed: 4 } as const

/** What a party claims about a trace: its hashes at any points, and the proof of any step. */
export interface ClaimSource {
  hashes(points: readonly bigint[]): Promise<Hex[]>
  proveStep(k: bigint): Promise<Uint8Array>
  /** The one-step proof's context (for logging gas only; the game builds its own). */
  context?: ExecutionContext
}

export interface GameState {
  id: bigint
  assertionId: bigint
  challenger: Address
  asserter: Address
  start: bigint
  len: bigint
  asserterToMove: boolean
  status: number
  lastMoveAt: bigint
  challengerTimeLeft: bigint
  asserterTimeLeft: bigint
}

export async function readGame(l1: L1Public, game: Address, id: bigint): Promise<GameState> {
  const g = (await l1.readContract({ address: game, abi: disputeGameAbi, functionName: 'game', args: [id] })) as Omit<GameState, 'id' | 'status'> & { status: number }
  return { ...g, id, status: Number(g.status) }
}

/** The latest bisection of a game (the one its commitment holds), from its Bisected events. */
export async function latestBisection(l1: L1Public, game: Address, id: bigint, fromBlock: bigint): Promise<{ start: bigint; len: bigint; hashes: Hex[]; mover: Address }> {
  const logs = await l1.getContractEvents({ address: game, abi: disputeGameAbi, eventName: 'Bisected', args: { gameId: id }, fromBlock })
  const last = logs[logs.length - 1]
  if (!last) throw new Error(`game ${id} has no bisection yet`)
  const a = last.args as { start: bigint; len: bigint; hashes: Hex[]; mover: Address }
  return { start: a.start, len: a.len, hashes: [...a.hashes], mover: a.mover }
}

export interface MoveReport {
  game: bigint
  kind: 'bisect' | 'prove' | 'timeout'
  /** The disputed segment after the move (bisect), or the proven step. */
  start: bigint
  len: bigint
  /** Bisection rounds left after this move (⌈log_D(len)⌉). */
  roundsLeft: number
  tx: Hex
  gasUsed: bigint
  ms: number
}

export interface PlayerOptions {
  l1: L1Public
  wallet: L1Wallet
  game: Address
  /** Block to scan Bisected events from (the deployment block). */
  fromBlock: bigint
  degree: bigint
  log?: (line: string) => void
  onMove?: (m: MoveReport) => void
}

/** One account's moves in one game. */
export class Player {
  private conceded = false
  constructor(private readonly opts: PlayerOptions, readonly gameId: bigint, private readonly claims: ClaimSource) {}

  private get me(): Address {
    return this.opts.wallet.account.address
  }

  /**
   * Makes the move due now, if any: returns the move made, or undefined when it is the opponent's
   * turn (and their clock is still running) or the game is over.
   */
  async act(): Promise<MoveReport | undefined> {
    const { l1, game, log } = this.opts
    const g = await readGame(l1, game, this.gameId)
    if (g.status !== GameStatus.Active) return undefined
    const moverIsMe = (g.asserterToMove ? g.asserter : g.challenger).toLowerCase() === this.me.toLowerCase()
    const t0 = performance.now()
    if (!moverIsMe) {
      // the opponent's clock: what it had at its last turn, running since; L1 time is the pending
      // block's (on an idle chain the latest block's time stands still)
      const left = g.asserterToMove ? g.asserterTimeLeft : g.challengerTimeLeft
      const now = (await l1.getBlock({ blockTag: 'pending' })).timestamp
      if (now < g.lastMoveAt + left) return undefined
      const r = await this.send('timeout', [this.gameId])
      log?.(`dispute ${this.gameId}: the opponent's clock ran out; claimed the win (${r.tx})`)
      return this.report('timeout', g.start, g.len, r, t0)
    }
    if (this.conceded) return undefined
    const b = await latestBisection(l1, game, this.gameId, this.opts.fromBlock)
    const points = bisectionPoints(b.start, b.len, this.opts.degree)
    const ours = await this.claims.hashes(points)
    const i = firstDisagreement(b.hashes, ours)
    const partStart = points[i]!
    const partLen = points[i + 1]! - partStart
    if (partLen === 1n) {
      const proof = await this.claims.proveStep(partStart)
      let r: { tx: Hex; gasUsed: bigint }
      try {
        r = await this.send('oneStepProve', [this.gameId, b.hashes, BigInt(i), bytesToHex(proof)])
      } catch (e) {
        if (!/ProofMatchesClaim/.test(String((e as Error).message))) throw e
        // the step executes to the opponent's hash: our claim was the false one, and no move can win
        this.conceded = true
        log?.(`dispute ${this.gameId}: step ${partStart} executes to the opponent's hash, so our claim is false; conceding (the clock will run out)`)
        return undefined
      }
      log?.(`dispute ${this.gameId}: proved step ${partStart} on L1 (${proof.length} bytes, ${r.gasUsed} gas)`)
      return this.report('prove', partStart, 1n, r, t0)
    }
    const newPoints = bisectionPoints(partStart, partLen, this.opts.degree)
    const mine = await this.claims.hashes(newPoints)
    const r = await this.send('bisect', [this.gameId, b.hashes, BigInt(i), mine])
    log?.(`dispute ${this.gameId}: bisected steps ${partStart}..${partStart + partLen} (${roundsFor(partLen, this.opts.degree)} rounds left, ${r.gasUsed} gas)`)
    return this.report('bisect', partStart, partLen, r, t0)
  }

  private report(kind: MoveReport['kind'], start: bigint, len: bigint, r: { tx: Hex; gasUsed: bigint }, t0: number): MoveReport {
    const m: MoveReport = { game: this.gameId, kind, start, len, roundsLeft: roundsFor(len, this.opts.degree), tx: r.tx, gasUsed: r.gasUsed, ms: performance.now() - t0 }
    this.opts.onMove?.(m)
    return m
  }

  private async send(functionName: 'bisect' | 'oneStepProve' | 'timeout', args: readonly unknown[]): Promise<{ tx: Hex; gasUsed: bigint }> {
    const { l1, wallet, game } = this.opts
    // eth_estimateGas runs at the pending block's time, but whether a move writes the mover's clock
    // slot depends on the time it is mined at: leave a margin (docs/disputes.md)
    const estimate = await l1.estimateContractGas({ address: game, abi: disputeGameAbi, functionName, args: args as never, account: wallet.account })
    const tx = await wallet.writeContract({ address: game, abi: disputeGameAbi, functionName, args: args as never, chain: wallet.chain, account: wallet.account, gas: (estimate * 3n) / 2n + 30_000n })
    const receipt = await l1.waitForTransactionReceipt({ hash: tx })
    if (receipt.status !== 'success') throw new Error(`${functionName} in dispute ${this.gameId} reverted (${tx})`)
    return { tx, gasUsed: receipt.gasUsed }
  }
}

/**
 * A dishonest claim source for tests and `veridex demo fraud`: the honest trace everywhere except
 * from step `from` on, where it claims `end` (the wrong state root of a tampered assertion). It
 * bisects like an honest party until the last step, whose proof exposes it.
 */
export function lyingFrom(honest: ClaimSource, from: bigint, end: Hex): ClaimSource {
  return {
    hashes: async (points) => {
      const h = await honest.hashes(points)
      return h.map((x, i) => (points[i]! >= from ? end : x))
    },
    proveStep: (k) => honest.proveStep(k),
  }
}
