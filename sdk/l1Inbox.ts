/**
 * The trader's way around the sequencer (docs/reliability.md "Censorship"): send an L2
 * transaction through SequencerInbox's delayed inbox, authenticated by the L1 sender instead of
 * a signature, and, if the sequencer has not included it after forceInclusionDelay, force it into
 * the inbox yourself. Plain viem over any L1 endpoint; the sequencer is never contacted.
 */
import { type Address, type Hex, BaseError, ContractFunctionRevertedError, bytesToHex, parseEventLogs } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { L1Public, L1Wallet } from '../contracts/l1.js'
import { encodeUnsignedItem, type TxMessage } from './protocol.js'

const inboxOf = (inbox: Address) => ({ address: inbox, abi: sequencerInboxAbi }) as const

export interface DelayedReceipt {
  /** The L1 transaction. */
  tx: Hex
  /** Index of the delayed message: what an L1 batch must consume to include it. */
  delayedIndex: bigint
  block: bigint
  /** L1 time it was enqueued at: the force-inclusion clock starts here. */
  timestamp: bigint
  /** Earliest L1 time at which anyone may force it in (timestamp + forceInclusionDelay). */
  forceableAt: bigint
}

/**
 * Sends an Order, Cancel, Transfer or Withdraw through the L1 delayed inbox. The L2 executes it
 * as coming from `wallet`'s address; its nonce field is ignored (L1 orders it exactly once), so
 * any value works. The sequencer includes it in its next batch; if it does not,
 * {@link forceInclude} gets it in after the delay.
 */
export async function sendL2TxViaL1(l1: L1Public, wallet: L1Wallet, inbox: Address, tx: TxMessage): Promise<DelayedReceipt> {
  if (tx.kind === 'OraclePrice') throw new Error('oracle prices cannot be sent through L1: only Order, Cancel, Transfer and Withdraw can')
  const payload = bytesToHex(encodeUnsignedItem(tx))
  const hash = await wallet.writeContract({ ...inboxOf(inbox), functionName: 'sendL2Message', args: [payload] })
  const receipt = await l1.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`sendL2Message reverted in L1 tx ${hash}`)
  const [ev] = parseEventLogs({ abi: sequencerInboxAbi, logs: receipt.logs, eventName: 'DelayedMessage' })
  if (!ev) throw new Error(`L1 tx ${hash} emitted no DelayedMessage`)
  const { index, timestamp } = ev.args as { index: bigint; timestamp: bigint }
  const delay = (await l1.readContract({ ...inboxOf(inbox), functionName: 'forceInclusionDelay' })) as bigint
  return { tx: hash, delayedIndex: index, block: receipt.blockNumber, timestamp, forceableAt: timestamp + delay }
}

export interface ForceInclusionStatus {
  /** Delayed messages enqueued on L1. */
  delayedCount: bigint
  /** Delayed messages already consumed by L1 batches (the sequencer's or forced ones). */
  totalDelayedRead: bigint
  forceInclusionDelay: bigint
  /** The clock forceInclusion is judged by: the L1 head's time, or the wall clock if later. */
  l1Time: bigint
  /** The largest newDelayedCount forceInclusion accepts now; equals totalDelayedRead if none. */
  forceableCount: bigint
  /** When the oldest message not yet consumed may be forced (undefined if none is waiting). */
  nextForceableAt?: bigint
}

/** What the delayed inbox holds that no L1 batch has consumed yet, and what may be forced now. */
export async function forceInclusionStatus(l1: L1Public, inbox: Address): Promise<ForceInclusionStatus> {
  const c = inboxOf(inbox)
  const [delayedCount, totalDelayedRead, forceInclusionDelay, head] = await Promise.all([
    l1.readContract({ ...c, functionName: 'delayedCount' }) as Promise<bigint>,
    l1.readContract({ ...c, functionName: 'totalDelayedRead' }) as Promise<bigint>,
    l1.readContract({ ...c, functionName: 'forceInclusionDelay' }) as Promise<bigint>,
    l1.getBlock({ blockTag: 'latest' }),
  ])
  // An idle automining L1 (a devnet) makes no blocks: its next one will carry the wall clock.
  const wall = BigInt(Math.floor(Date.now() / 1000))
  const l1Time = head.timestamp > wall ? head.timestamp : wall
  const status: ForceInclusionStatus = { delayedCount, totalDelayedRead, forceInclusionDelay, l1Time, forceableCount: totalDelayedRead }
  if (delayedCount === totalDelayedRead) return status
  const ready = async (i: bigint) => ((await l1.readContract({ ...c, functionName: 'delayedTimestamp', args: [i] })) as bigint) + forceInclusionDelay
  status.nextForceableAt = await ready(totalDelayedRead)
  // Messages are enqueued in time order: binary search the last one old enough.
  let lo = totalDelayedRead
  let hi = delayedCount
  while (lo < hi) {
    const mid = (lo + hi) / 2n
    if ((await ready(mid)) <= l1Time) lo = mid + 1n
    else hi = mid
  }
  status.forceableCount = lo
  return status
}

/** forceInclusion was called too early, or there is nothing to force. */
export class ForceInclusionError extends Error {
  override name = 'ForceInclusionError'
  constructor(message: string, readonly status: ForceInclusionStatus) {
    super(message)
  }
}

export interface ForceInclusionReceipt {
  tx: Hex
  block: bigint
  /** The forced batch's index in the inbox. */
  batchIndex: bigint
  /** Delayed messages consumed once the forced batch is executed. */
  newDelayedCount: bigint
}

const when = (t: bigint) => new Date(Number(t) * 1000).toISOString()

/**
 * Forces every delayed message that has waited forceInclusionDelay (or the first `upTo` of them)
 * into the inbox as an empty batch; anyone may call it. Throws a ForceInclusionError saying when
 * it becomes possible if it is too soon, or that there is nothing to force.
 */
export async function forceInclude(l1: L1Public, wallet: L1Wallet, inbox: Address, opts: { upTo?: bigint } = {}): Promise<ForceInclusionReceipt> {
  const s = await forceInclusionStatus(l1, inbox)
  if (s.delayedCount === s.totalDelayedRead)
    throw new ForceInclusionError(`nothing to force: L1 batches already include all ${s.delayedCount} delayed message(s)`, s)
  const target = opts.upTo ?? s.forceableCount
  if (target <= s.totalDelayedRead)
    throw new ForceInclusionError(
      `too soon: delayed message ${s.totalDelayedRead} may be forced from L1 time ${s.nextForceableAt} (${when(s.nextForceableAt!)}, ${s.nextForceableAt! - s.l1Time} s from now); try again then`,
      s,
    )
  if (target > s.delayedCount) throw new ForceInclusionError(`--count ${target} is past the ${s.delayedCount} delayed message(s) on L1`, s)
  let hash: Hex
  try {
    const { request } = await l1.simulateContract({ ...inboxOf(inbox), functionName: 'forceInclusion', args: [target], account: wallet.account })
    hash = await wallet.writeContract(request)
  } catch (e) {
    const revert = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : undefined
    if (revert instanceof ContractFunctionRevertedError && revert.data?.errorName === 'ForceInclusionTooSoon') {
      const readyAt = revert.data.args?.[0] as bigint
      throw new ForceInclusionError(`too soon: the first ${target} delayed message(s) may be forced from L1 time ${readyAt} (${when(readyAt)}); try again then`, s)
    }
    throw e
  }
  const receipt = await l1.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`forceInclusion reverted in L1 tx ${hash}`)
  const [ev] = parseEventLogs({ abi: sequencerInboxAbi, logs: receipt.logs, eventName: 'BatchDelivered' })
  if (!ev) throw new Error(`L1 tx ${hash} emitted no BatchDelivered`)
  return { tx: hash, block: receipt.blockNumber, batchIndex: (ev.args as { batchIndex: bigint }).batchIndex, newDelayedCount: target }
}

/**
 * The index of the first L1 batch that consumes delayed message `delayedIndex`, or undefined if
 * none does yet. Batches' delayed counts only grow, so this is a binary search over batchInfo.
 */
export async function batchIncludingDelayed(l1: L1Public, inbox: Address, delayedIndex: bigint): Promise<bigint | undefined> {
  const c = inboxOf(inbox)
  const read = (await l1.readContract({ ...c, functionName: 'totalDelayedRead' })) as bigint
  if (read <= delayedIndex) return undefined
  const count = (await l1.readContract({ ...c, functionName: 'batchCount' })) as bigint
  let lo = 0n
  let hi = count - 1n
  while (lo < hi) {
    const mid = (lo + hi) / 2n
    const [, after] = (await l1.readContract({ ...c, functionName: 'batchInfo', args: [mid] })) as readonly [Hex, bigint, bigint]
    if (after > delayedIndex) hi = mid
    else lo = mid + 1n
  }
  return lo
}

/** Polls L1 until a batch includes delayed message `delayedIndex`; returns that batch's index. */
export async function waitForDelayedInclusion(
  l1: L1Public,
  inbox: Address,
  delayedIndex: bigint,
  opts: { timeoutMs?: number; pollMs?: number } = {},
): Promise<bigint> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    const b = await batchIncludingDelayed(l1, inbox, delayedIndex)
    if (b !== undefined) return b
    if (Date.now() > deadline)
      throw new Error(`delayed message ${delayedIndex} is in no L1 batch after ${opts.timeoutMs ?? 120_000} ms: if the sequencer ignores it, run \`veridex force-include\` once its delay has passed`)
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500))
  }
}
