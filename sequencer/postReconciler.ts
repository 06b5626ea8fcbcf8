/**
 * Keeps the journal's "posted" marks true to L1, and the poster's queue true to the journal.
 *
 * - An L1 reorg can drop a batch's post after the journal marked it posted: each round compares
 *   the recently posted batches (those L1 may still reorg: the last 64 blocks, or more when the
 *   node reads L1 deeper, up to its finalized block with `--l1-confirmations finalized`) with
 *   SequencerInbox, and a batch L1 no longer has is closed again and queued, so it is posted
 *   again, in order.
 * - Redis can lose jobs (a restart with no persistence, an eviction): every closed batch without
 *   a live job is queued again. Posting is idempotent (the poster checks L1 first and the inbox
 *   takes the expected sequence number), so queueing too often costs nothing but a read.
 */
import { type Address, type Hex, BlockNotFoundError } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { L1Public } from '../contracts/l1.js'
import type { L1Confirmations } from '../executor/inboxReader.js'
import { PollLoop } from '../executor/pollLoop.js'
import type { Journal } from './journal.js'
import type { BatchPoster } from './poster.js'

export interface PostReconcilerOptions {
  journal: Journal
  poster: BatchPoster
  l1: L1Public
  inbox: Address
  /**
   * How deep L1 may still reorg, as the node reads it (`--l1-confirmations`: a number of blocks,
   * `safe` or `finalized`). A post is checked until it is deeper than that, and at least until it
   * is MIN_CHECKED_DEPTH blocks deep.
   */
  confirmations?: L1Confirmations
  pollMs?: number
  log?: (line: string) => void
}

/** Blocks a post is checked for at least, whatever the node's confirmations. */
export const MIN_CHECKED_DEPTH = 64n

export interface ReconcileRound {
  /** Batches L1 no longer holds, queued to be posted again. */
  reorged: number[]
  /** Closed batches that had no live job (Redis lost it) and were queued again. */
  requeued: number[]
  /** Batches whose L1 slot holds something else (a forced inclusion after a reorg): cannot be repaired here. */
  conflicts: number[]
}

export class PostReconciler {
  private readonly loop: PollLoop
  private readonly log: (line: string) => void
  /** Totals since start, for operators and tests. */
  readonly totals = { rounds: 0, reorged: 0, requeued: 0, conflicts: 0 }
  /**
   * L1 accumulators already found equal to the journal's batch, by index: rounds every 2 s over
   * the last 64 blocks' batches would otherwise read and hash each ~100 KB batch ~30 times. An
   * index whose L1 accumulator changes (a reorg that re-mined it, a forced batch) is checked again.
   */
  private readonly matched = new Map<number, Hex>()
  /** Indexes found holding another batch on L1, with the accumulator they had then. */
  private readonly conflicting = new Map<number, Hex>()

  constructor(private readonly o: PostReconcilerOptions) {
    this.log = o.log ?? (() => {})
    this.loop = new PollLoop(() => this.round(), o.pollMs ?? 2_000, (e) => this.log(`poster: reconcile failed, retrying: ${e.message.split('\n')[0]}`))
  }

  async round(): Promise<ReconcileRound> {
    const { journal, poster, l1, inbox } = this.o
    const c = { address: inbox, abi: sequencerInboxAbi } as const
    const out: ReconcileRound = { reorged: [], requeued: [], conflicts: [] }
    const from = await this.checkedFrom(await l1.getBlockNumber({ cacheTime: 0 }))
    // The journal first, L1 second: a batch marked posted before batchCount is read was mined
    // before it, so a count below it is a reorg, not a post racing this round.
    const recent = journal.postedSince(from)
    const onL1 = Number(await l1.readContract({ ...c, functionName: 'batchCount' }))
    const onL1Recent: typeof recent = []
    for (const b of recent) {
      if (b.index >= onL1) {
        if (journal.markUnposted(b.index)) out.reorged.push(b.index)
      } else onL1Recent.push(b)
    }
    // Newest first: an accumulator commits to every batch before it, so one still equal to what
    // an earlier round found matching vouches for all older ones. A round then reads one
    // accumulator plus one per batch posted since, and loads only those batches' data.
    for (let k = onL1Recent.length - 1; k >= 0; k--) {
      const b = onL1Recent[k]!
      const acc = (await l1.readContract({ ...c, functionName: 'batchAccs', args: [BigInt(b.index)] })) as Hex
      if (this.matched.get(b.index) === acc) {
        // Older batches are as L1 held them then: the conflicts found below still stand.
        for (const i of this.conflicting.keys()) if (i < b.index) out.conflicts.push(i)
        break
      }
      const data = journal.batch(b.index)?.data
      if (data && acc === (await poster.expectedAcc(b.index, b, data))) {
        this.matched.set(b.index, acc)
        this.conflicting.delete(b.index)
      } else {
        this.conflicting.set(b.index, acc)
        out.conflicts.push(b.index)
      }
    }
    out.conflicts.sort((x, y) => x - y)
    // Only the window is ever looked at again.
    const windowStart = recent[0]?.index ?? onL1
    for (const index of this.matched.keys()) if (index < windowStart) this.matched.delete(index)
    for (const index of this.conflicting.keys()) if (index < windowStart) this.conflicting.delete(index)
    if (out.reorged.length) this.log(`poster: L1 reorg dropped batch(es) ${out.reorged.join(', ')} (L1 has ${onL1}); posting them again`)
    if (out.conflicts.length) this.log(`poster: L1 holds other batches at ${out.conflicts.join(', ')} than this journal: it must be rebuilt from L1`)
    const reorged = new Set(out.reorged)
    for (const b of journal.batches('closed')) {
      if ((await poster.ensureQueued(b.index)) && !reorged.has(b.index)) out.requeued.push(b.index)
    }
    if (out.requeued.length) this.log(`poster: batch(es) ${out.requeued.join(', ')} had no job in Redis; queued again`)
    this.totals.rounds++
    this.totals.reorged += out.reorged.length
    this.totals.requeued += out.requeued.length
    this.totals.conflicts += out.conflicts.length
    return out
  }

  /** The oldest L1 block whose posts L1 may still reorg, so this round checks them. */
  private async checkedFrom(head: bigint): Promise<bigint> {
    const below = (depth: bigint) => (head > depth ? head - depth : 0n)
    const c = this.o.confirmations ?? 0n
    let from = below(MIN_CHECKED_DEPTH)
    if (typeof c === 'bigint') return c > MIN_CHECKED_DEPTH ? below(c) : from
    try {
      const labelled = (await this.o.l1.getBlock({ blockTag: c })).number
      if (labelled < from) from = labelled
    } catch (e) {
      // nothing finalized yet (a young chain): every post may still be reorged
      if (!(e instanceof BlockNotFoundError)) throw e
      from = 0n
    }
    return from
  }

  start() {
    this.loop.start()
  }

  stop() {
    return this.loop.stop()
  }
}
