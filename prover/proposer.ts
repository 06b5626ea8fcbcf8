/**
 * The proposer: posts the verifier's state roots to the Rollup as assertions with a bond, and
 * confirms them once their challenge period is over. It asserts only what it derived from L1
 * itself (the Verifier), never what the sequencer says.
 */
import type { Address, Hex } from 'viem'
import { rollupAbi } from '../contracts/out/artifacts.js'
import type { L1Public, L1Wallet } from '../contracts/l1.js'
import { PollLoop } from '../executor/pollLoop.js'
import type { Verifier } from '../executor/verifier.js'

export const AssertionStatus = { Pending: 1, Confirmed: 2, Rejected: 3 } as const

export interface Assertion {
  id: bigint
  parentId: bigint
  stateRoot: Hex
  machineRoot: Hex
  outboxRoot: Hex
  inboxPosition: bigint
  /** VM steps claimed from the parent's state root. */
  steps: bigint
  createdAt: bigint
  proposer: Address
  status: number
}

export async function readAssertion(l1: L1Public, rollup: Address, id: bigint): Promise<Assertion> {
  const a = (await l1.readContract({ address: rollup, abi: rollupAbi, functionName: 'getAssertion', args: [id] })) as Omit<Assertion, 'id'>
  return { ...a, id, status: Number(a.status) }
}

export interface ProposerOptions {
  l1: L1Public
  wallet: L1Wallet
  rollup: Address
  verifier: Verifier
  /** Minimum time between two assertions. */
  assertIntervalMs?: number
  pollMs?: number
  log?: (line: string) => void
  /**
   * Changes what the proposer claims (a dishonest proposer for tests and `veridex demo fraud`);
   * honest nodes never set it.
   */
  tamper?: (claim: AssertionClaim) => AssertionClaim
  onEvent?: (e: { type: 'asserted' | 'confirmed'; id: bigint; inboxPosition: bigint; stateRoot: Hex; tx: Hex }) => void
}

/** What an assertion claims about inbox position `position`. */
export interface AssertionClaim { position: bigint; machineRoot: Hex; outboxRoot: Hex; steps: bigint }

export class Proposer {
  private readonly loop: PollLoop
  private lastAssertAt = 0
  /** The Rollup's immutables, read once. */
  private immutables?: { challengePeriod: bigint; bond: bigint }
  private readonly log: (line: string) => void

  constructor(private readonly opts: ProposerOptions) {
    this.log = opts.log ?? (() => {})
    this.loop = new PollLoop(() => this.step(), opts.pollMs ?? 500, (e) => this.log(`proposer: ${e.message.split('\n')[0]}; retrying`))
  }

  private read<T>(functionName: string, args: unknown[] = []): Promise<T> {
    return this.opts.l1.readContract({ address: this.opts.rollup, abi: rollupAbi, functionName: functionName as never, args: args as never }) as Promise<T>
  }

  private async rollupImmutables() {
    this.immutables ??= { challengePeriod: await this.read<bigint>('challengePeriod'), bond: await this.read<bigint>('bond') }
    return this.immutables
  }

  /**
   * The tip our next assertion extends: the newest assertion that is not rejected and that this
   * node agrees with (the verifier's root at its position, at least the VM steps it takes), so an
   * honest proposer never builds on a wrong assertion, which would fall with it.
   */
  private async tip(count: bigint): Promise<Assertion> {
    const { l1, rollup, verifier } = this.opts
    for (let id = count - 1n; id >= 0n; id--) {
      const a = await readAssertion(l1, rollup, id)
      if (a.status === AssertionStatus.Rejected) continue
      if (id === 0n || a.status === AssertionStatus.Confirmed) return a
      const v = verifier.verified(Number(a.inboxPosition) - 1)
      if (!v || v.stateRoot !== a.stateRoot) continue
      const parent = await readAssertion(l1, rollup, a.parentId)
      if (a.steps >= verifier.stepsBetween(parent.inboxPosition, a.inboxPosition)) return a
    }
    throw new Error('the rollup has no genesis assertion')
  }

  /**
   * One round: confirm what is ripe, then assert new verified batches. It reads L1 once per round
   * for what can change (latestConfirmed, assertionCount, the assertions it looks at) and the
   * Rollup's immutables once, because on a public endpoint every call counts against a quota.
   */
  async step(): Promise<void> {
    const { l1, wallet, rollup, verifier } = this.opts
    const { challengePeriod: period, bond } = await this.rollupImmutables()
    const latestConfirmed = await this.read<bigint>('latestConfirmed')
    const count = await this.read<bigint>('assertionCount')
    let now: bigint | undefined
    for (let id = latestConfirmed + 1n; id < count; id++) {
      const a = await readAssertion(l1, rollup, id)
      if (a.status !== AssertionStatus.Pending || a.parentId !== latestConfirmed) continue
      if (now === undefined) {
        const block = await l1.getBlock({ blockTag: 'latest' })
        const wall = BigInt(Math.floor(Date.now() / 1000))
        now = wall > block.timestamp ? wall : block.timestamp
      }
      if (a.createdAt + period > now) break
      const mine = verifier.verified(Number(a.inboxPosition) - 1)
      if (!mine || mine.stateRoot !== a.stateRoot) {
        this.log(`proposer: not confirming assertion ${id}: its root differs from the one derived from L1 (challenge it)`)
        break
      }
      const hash = await wallet.writeContract({ address: rollup, abi: rollupAbi, functionName: 'confirmAssertion', args: [id] })
      const r = await l1.waitForTransactionReceipt({ hash })
      if (r.status !== 'success') throw new Error(`confirmAssertion(${id}) reverted in ${hash}`)
      this.log(`proposer: confirmed assertion ${id} (inbox position ${a.inboxPosition})`)
      this.opts.onEvent?.({ type: 'confirmed', id, inboxPosition: a.inboxPosition, stateRoot: a.stateRoot, tx: hash })
      break // one per round keeps parent order simple; the next round picks up the child
    }

    const head = verifier.head()
    if (!head || Date.now() - this.lastAssertAt < (this.opts.assertIntervalMs ?? 0)) return
    const tip = await this.tip(count)
    const position = BigInt(head.index + 1)
    if (position <= tip.inboxPosition) return
    // the exact count: a dispute bisects [0, steps], and fewer steps than the VM takes would lose
    const honest: AssertionClaim = { position, machineRoot: head.machineRoot, outboxRoot: head.outboxRoot, steps: verifier.stepsBetween(tip.inboxPosition, position) }
    const claim = this.opts.tamper ? this.opts.tamper(honest) : honest
    const hash = await wallet.writeContract({
      address: rollup,
      abi: rollupAbi,
      functionName: 'createAssertion',
      args: [tip.id, claim.machineRoot, position, claim.outboxRoot, claim.steps],
      value: bond,
    })
    const r = await l1.waitForTransactionReceipt({ hash })
    if (r.status !== 'success') throw new Error(`createAssertion reverted in ${hash}`)
    this.lastAssertAt = Date.now()
    const id = (await this.read<bigint>('assertionCount')) - 1n
    const posted = await readAssertion(l1, rollup, id)
    if (!this.opts.tamper && posted.stateRoot !== head.stateRoot)
      throw new Error(`assertion ${id}: the Rollup computed state root ${posted.stateRoot}, the verifier ${head.stateRoot}; the state root formula differs between contracts and executor`)
    const steps = claim.steps
    this.log(`proposer: asserted ${id} at inbox position ${position} (${steps} VM steps), state root ${posted.stateRoot}`)
    this.opts.onEvent?.({ type: 'asserted', id, inboxPosition: position, stateRoot: posted.stateRoot, tx: hash })
  }

  start() {
    this.loop.start()
  }

  async stop() {
    await this.loop.stop()
  }
}
