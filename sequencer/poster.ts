/**
 * Posts closed batches to SequencerInbox through a BullMQ queue on Redis, one job per batch
 * (job id = batch index, so re-enqueueing after a restart never duplicates a job), processed in
 * order with retries and backoff.
 *
 * Exactly-once on L1 comes from the contract: `addSequencerBatch` takes the expected sequence
 * number, so a retried post of a batch that already landed reverts instead of duplicating it. A
 * job first asks L1 whether its batch is there (and that it is *this* batch, by accumulator)
 * before sending anything.
 */
import { Queue, Worker, UnrecoverableError, type ConnectionOptions } from 'bullmq'
import { type Address, type Hex, zeroHash } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { batchAccumulator } from '../executor/inboxReader.js'
import type { L1Public, L1Wallet } from '../contracts/l1.js'
import type { Journal } from './journal.js'

export interface BatchPosterOptions {
  journal: Journal
  connection: ConnectionOptions
  l1: L1Public
  wallet: L1Wallet
  inbox: Address
  /** Redis key prefix (default "veridex"); the queue name itself is unique per journal. */
  prefix?: string
  log?: (line: string) => void
  onPosted?: (index: number, tx: Hex, block: bigint) => void
  /**
   * Records a batch as posted; default: `journal.markPosted` on this thread. A node passes its
   * sequencer's, which commits on the journal thread (Sequencer.markPosted).
   */
  markPosted?: (index: number, tx: Hex, block: bigint) => Promise<void> | void
  /**
   * Called when L1 holds another batch at an index the journal has (a forced inclusion): it must
   * rebuild the journal on top of L1 (sequencer/reconcile.ts); the job then tries again. Without
   * it, such a job fails for good.
   */
  onForeignBatch?: (index: number) => Promise<void>
}

/** Exponential from 250 ms, capped at 2 s: a batch waiting on its predecessor must not back off for minutes. */
export const cappedBackoff = (attemptsMade: number) => Math.min(2_000, 250 * 2 ** Math.max(0, attemptsMade - 1))

export class BatchPoster {
  readonly queue: Queue
  private worker?: Worker
  private readonly log: (line: string) => void
  private readonly name: string

  constructor(private readonly opts: BatchPosterOptions) {
    this.name = `batches-${opts.journal.instanceId}`
    this.queue = new Queue(this.name, { connection: opts.connection, prefix: opts.prefix ?? 'veridex' })
    this.log = opts.log ?? (() => {})
    this.queue.on('error', (err) => this.log(`poster: queue error, retrying: ${err.message.split('\n')[0]}`))
  }

  /** Starts the worker and enqueues every batch the journal holds as closed but not posted. */
  async start() {
    await this.reclaimOrphans()
    this.worker = new Worker(this.name, (job) => this.post(job.data.index as number), {
      connection: this.opts.connection,
      prefix: this.opts.prefix ?? 'veridex',
      concurrency: 1,
      // A job whose worker died (a crash, a lost Redis connection) comes back rather than failing.
      maxStalledCount: 1_000_000,
      settings: { backoffStrategy: cappedBackoff },
    })
    this.worker.on('failed', (job, err) => {
      if (job) this.log(`poster: batch ${job.data.index} attempt ${job.attemptsMade} failed: ${err.message.split('\n')[0]}`)
    })
    this.worker.on('error', (err) => this.log(`poster: queue error, retrying: ${err.message.split('\n')[0]}`))
    await this.requeue()
  }

  /**
   * Enqueues every batch the journal holds as closed but not posted; also after a reconcile,
   * when those indexes may name other batches than their old jobs were made for.
   */
  async requeue() {
    for (const b of this.opts.journal.batches('closed')) {
      if (await this.ensureQueued(b.index)) continue
      // A job backing off (waiting for an earlier batch) need not wait out its delay.
      const job = await this.queue.getJob(`batch-${b.index}`)
      if (job && (await job.isDelayed())) await job.promote().catch(() => {})
    }
  }

  /**
   * Jobs left active by a process that died (kill -9) keep their lock until it expires; only this
   * process posts this journal's batches, so they are orphans: back to waiting, now.
   */
  private async reclaimOrphans() {
    for (const job of await this.queue.getJobs(['active'])) {
      await job.moveToWait()
      this.log(`poster: batch ${job.data.index} was being posted by a process that stopped; retrying it`)
    }
  }

  /**
   * Enqueues a batch unless a live job for it exists. A job that failed for good keeps its id,
   * and BullMQ ignores an add with a taken id, so it is removed first.
   */
  async ensureQueued(index: number): Promise<boolean> {
    const job = await this.queue.getJob(`batch-${index}`)
    if (job) {
      const state = await job.getState()
      if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return false
      await job.remove()
    }
    await this.enqueue(index)
    return true
  }

  enqueue(index: number) {
    return this.queue.add(
      'post',
      { index },
      { jobId: `batch-${index}`, attempts: 1_000, backoff: { type: 'capped' }, removeOnComplete: true, removeOnFail: 1000 },
    )
  }

  /** The inbox accumulator this batch must produce, from L1's previous accumulators. */
  async expectedAcc(index: number, header: { afterDelayedCount: bigint; timestamp: bigint }, data: Uint8Array): Promise<Hex> {
    const c = { address: this.opts.inbox, abi: sequencerInboxAbi } as const
    const prev = index === 0 ? zeroHash : ((await this.opts.l1.readContract({ ...c, functionName: 'batchAccs', args: [BigInt(index - 1)] })) as Hex)
    const delayedAcc = header.afterDelayedCount === 0n
      ? zeroHash
      : ((await this.opts.l1.readContract({ ...c, functionName: 'delayedAccs', args: [header.afterDelayedCount - 1n] })) as Hex)
    return batchAccumulator(prev, header, data, delayedAcc)
  }

  private async post(index: number, reconciled = false): Promise<void> {
    const b = this.opts.journal.batch(index)
    // A job older than a reconcile that dropped its batch (sequencer/reconcile.ts): nothing to
    // post. Completing it frees the job id for the batch that takes the index later.
    if (!b) return this.log(`poster: batch ${index} is no longer in the journal (reconciled with L1); nothing to post`)
    if (b.status === 'posted') return
    if (b.status !== 'closed' || !b.data) throw new Error(`batch ${index} is still open`)
    const c = { address: this.opts.inbox, abi: sequencerInboxAbi } as const
    const onL1 = Number(await this.opts.l1.readContract({ ...c, functionName: 'batchCount' }))
    if (onL1 < index) throw new Error(`waiting for batch ${onL1} to land before batch ${index}`)
    const header = { afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp }
    if (onL1 > index) {
      const acc = (await this.opts.l1.readContract({ ...c, functionName: 'batchAccs', args: [BigInt(index)] })) as Hex
      if (acc !== (await this.expectedAcc(index, header, b.data))) {
        if (this.opts.onForeignBatch && !reconciled) {
          this.log(`poster: L1 holds another batch ${index} (a forced inclusion?): reconciling the journal with L1`)
          await this.opts.onForeignBatch(index)
          return this.post(index, true)
        }
        throw new UnrecoverableError(`L1 holds a different batch ${index} (a forced inclusion?): this sequencer's journal no longer matches L1 and must be rebuilt`)
      }
      const logs = await this.opts.l1.getContractEvents({ ...c, eventName: 'BatchDelivered', args: { batchIndex: BigInt(index) }, fromBlock: 0n })
      const log = logs[0]
      await this.markPosted(index, log?.transactionHash ?? zeroHash, log?.blockNumber ?? 0n)
      this.log(`poster: batch ${index} was already on L1`)
      this.opts.onPosted?.(index, log?.transactionHash ?? zeroHash, log?.blockNumber ?? 0n)
      return
    }
    // Never on top of a batch that is not ours: if L1 holds a forced batch at index - 1, this one
    // was built on other state and must be re-sequenced (sequencer/reconcile.ts), not posted.
    if (index > 0 && this.opts.journal.batch(index - 1)?.status !== 'posted') throw new Error(`waiting for batch ${index - 1} to be posted before batch ${index}`)
    const hash = await this.opts.wallet.writeContract({
      ...c,
      functionName: 'addSequencerBatch',
      args: [BigInt(index), `0x${Buffer.from(b.data).toString('hex')}`, b.afterDelayedCount, b.timestamp],
    })
    const receipt = await this.opts.l1.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`addSequencerBatch for batch ${index} reverted in tx ${hash}`)
    await this.markPosted(index, hash, receipt.blockNumber)
    this.log(`poster: batch ${index} posted in L1 block ${receipt.blockNumber} (${b.data.length} bytes, gas ${receipt.gasUsed})`)
    this.opts.onPosted?.(index, hash, receipt.blockNumber)
  }

  private async markPosted(index: number, tx: Hex, block: bigint) {
    if (this.opts.markPosted) await this.opts.markPosted(index, tx, block)
    else this.opts.journal.markPosted(index, tx, block)
  }

  async close() {
    await this.worker?.close()
    await this.queue.close()
  }
}
