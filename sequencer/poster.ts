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
import { type Address, type Hex, bytesToHex, concat, encodePacked, keccak256, zeroHash } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
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
}

export class BatchPoster {
  readonly queue: Queue
  private worker?: Worker
  private readonly log: (line: string) => void
  private readonly name: string

  constructor(private readonly opts: BatchPosterOptions) {
    this.name = `batches-${opts.journal.instanceId}`
    this.queue = new Queue(this.name, { connection: opts.connection, prefix: opts.prefix ?? 'veridex' })
    this.log = opts.log ?? (() => {})
  }

  /** Starts the worker and enqueues every batch the journal holds as closed but not posted. */
  async start() {
    this.worker = new Worker(this.name, (job) => this.post(job.data.index as number), {
      connection: this.opts.connection,
      prefix: this.opts.prefix ?? 'veridex',
      concurrency: 1,
    })
    this.worker.on('failed', (job, err) => {
      if (job) this.log(`poster: batch ${job.data.index} attempt ${job.attemptsMade} failed: ${err.message.split('\n')[0]}`)
    })
    for (const b of this.opts.journal.batches('closed')) {
      // A job that failed for good keeps its id, and BullMQ ignores an add with a taken id.
      const stale = await this.queue.getJob(`batch-${b.index}`)
      if (stale && (await stale.isFailed())) await stale.remove()
      await this.enqueue(b.index)
    }
  }

  enqueue(index: number) {
    return this.queue.add(
      'post',
      { index },
      { jobId: `batch-${index}`, attempts: 1_000, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: true, removeOnFail: 1000 },
    )
  }

  /** The inbox accumulator this batch must produce, from L1's previous accumulators. */
  private async expectedAcc(index: number, header: { afterDelayedCount: bigint; timestamp: bigint }, data: Uint8Array): Promise<Hex> {
    const c = { address: this.opts.inbox, abi: sequencerInboxAbi } as const
    const prev = index === 0 ? zeroHash : ((await this.opts.l1.readContract({ ...c, functionName: 'batchAccs', args: [BigInt(index - 1)] })) as Hex)
    const delayedAcc = header.afterDelayedCount === 0n
      ? zeroHash
      : ((await this.opts.l1.readContract({ ...c, functionName: 'delayedAccs', args: [header.afterDelayedCount - 1n] })) as Hex)
    const dataHash = keccak256(concat([encodePacked(['uint64', 'uint64'], [header.afterDelayedCount, header.timestamp]), bytesToHex(data)]))
    return keccak256(concat([prev, dataHash, delayedAcc]))
  }

  private async post(index: number): Promise<void> {
    const b = this.opts.journal.batch(index)
    if (!b) throw new UnrecoverableError(`batch ${index} is not in the journal`)
    if (b.status === 'posted') return
    if (b.status !== 'closed' || !b.data) throw new Error(`batch ${index} is still open`)
    const c = { address: this.opts.inbox, abi: sequencerInboxAbi } as const
    const onL1 = Number(await this.opts.l1.readContract({ ...c, functionName: 'batchCount' }))
    if (onL1 < index) throw new Error(`waiting for batch ${onL1} to land before batch ${index}`)
    const header = { afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp }
    if (onL1 > index) {
      const acc = (await this.opts.l1.readContract({ ...c, functionName: 'batchAccs', args: [BigInt(index)] })) as Hex
      if (acc !== (await this.expectedAcc(index, header, b.data)))
        throw new UnrecoverableError(`L1 holds a different batch ${index} (a forced inclusion?): this sequencer's journal no longer matches L1 and must be rebuilt`)
      const logs = await this.opts.l1.getContractEvents({ ...c, eventName: 'BatchDelivered', args: { batchIndex: BigInt(index) }, fromBlock: 0n })
      const log = logs[0]
      this.opts.journal.markPosted(index, log?.transactionHash ?? zeroHash, log?.blockNumber ?? 0n)
      this.log(`poster: batch ${index} was already on L1`)
      this.opts.onPosted?.(index, log?.transactionHash ?? zeroHash, log?.blockNumber ?? 0n)
      return
    }
    const hash = await this.opts.wallet.writeContract({
      ...c,
      functionName: 'addSequencerBatch',
      args: [BigInt(index), `0x${Buffer.from(b.data).toString('hex')}`, b.afterDelayedCount, b.timestamp],
    })
    const receipt = await this.opts.l1.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`addSequencerBatch for batch ${index} reverted in tx ${hash}`)
    this.opts.journal.markPosted(index, hash, receipt.blockNumber)
    this.log(`poster: batch ${index} posted in L1 block ${receipt.blockNumber} (${b.data.length} bytes, gas ${receipt.gasUsed})`)
    this.opts.onPosted?.(index, hash, receipt.blockNumber)
  }

  async close() {
    await this.worker?.close()
    await this.queue.close()
  }
}
