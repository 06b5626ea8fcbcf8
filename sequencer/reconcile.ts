/**
 * Puts the sequencer back on top of L1 after someone else wrote the inbox: a `forceInclusion`
 * batch landed at an index where the journal holds batches of its own that were never posted
 * (the sequencer was down, or its poster blocked, past the force-inclusion delay).
 *
 * L1 is the truth. The journal keeps every batch up to the first one L1 disagrees with, adopts
 * the batches L1 holds from there (as posted; replay executes them, so the forced batch's delayed
 * messages run first), and then re-sequences every item it had acknowledged in the batches it
 * dropped, in their original order, into new batches after L1's; delayed messages the forced
 * batches did not consume run again at the point among them where they had. Those items run on a changed
 * state, so their outcome may differ from the soft confirmation they got (an order may fill
 * differently, a withdrawal may get another outbox index, an item may now be rejected): a soft
 * confirmation is final only once its batch is on L1 (docs/reliability.md "Censorship").
 *
 * The rewrite is one SQLite transaction: a crash leaves the old journal, and the next start
 * reconciles again. Runs at node start and whenever the poster finds a batch on L1 that is not
 * the journal's (BatchPoster `onForeignBatch`).
 */
import { type Address, type Hex, decodeFunctionData, hexToBytes } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { L1Public } from '../contracts/l1.js'
import { InboxReader } from '../executor/inboxReader.js'
import { BATCH_FORMAT_RAW, ITEM_DELAYED, ITEM_LENGTH, ResultCode, decodeItem } from '../sdk/protocol.js'
import type { BatchRow, Journal } from './journal.js'
import type { Sequencer } from './sequencer.js'
import { TxDigester } from './digest.js'
import { recoverSigner } from './validate.js'

export interface ReconcileOptions {
  l1: L1Public
  inbox: Address
  /** The inbox's deploy block: where log scans start. */
  fromBlock: bigint
  log?: (line: string) => void
}

/** One batch as L1 holds it. `data` is read from calldata only where a comparison needs it. */
export interface L1BatchRef {
  index: number
  afterDelayedCount: bigint
  timestamp: bigint
  forced: boolean
  txHash: Hex
  blockNumber: bigint
  data?: Uint8Array
}

export interface DroppedItem {
  /** The batch it had been acknowledged in. */
  oldBatch: number
  /** Item type byte (docs/protocol.md §3). */
  type: number
  signer?: Address
  /** The engine's result code now (sdk/protocol.ts ResultCode). */
  code: number
}

export interface ReconcileReport {
  /** First batch index where the journal and L1 disagreed. */
  divergedAt: number
  /** Batches taken from L1, from divergedAt on. */
  adopted: { index: number; forced: boolean; afterDelayedCount: bigint; l1Tx: Hex }[]
  /** Acknowledged items executed again after them, in their original order. */
  resequenced: number
  /** Those the engine now rejects: their soft confirmation did not hold. */
  dropped: DroppedItem[]
  /** The new batches the re-sequenced items went into (closed, for the poster). */
  newBatches: number[]
  ms: number
}

/**
 * A reconcile failed after it began rewriting: the journal is intact (its transaction rolled
 * back) but the in-memory engine is not, so the process must restart.
 */
export class ReconcileFatalError extends Error {
  override name = 'ReconcileFatalError'
}

/** Blocks per getLogs call; public endpoints cap ranges. */
const LOG_RANGE = 5_000n

/** Every BatchDelivered on L1, in index order (logs only: no calldata yet). */
async function readL1Batches(o: ReconcileOptions): Promise<L1BatchRef[]> {
  const head = await o.l1.getBlockNumber()
  const out: L1BatchRef[] = []
  for (let from = o.fromBlock; from <= head; from += LOG_RANGE) {
    const to = from + LOG_RANGE - 1n < head ? from + LOG_RANGE - 1n : head
    const logs = await o.l1.getContractEvents({ address: o.inbox, abi: sequencerInboxAbi, eventName: 'BatchDelivered', fromBlock: from, toBlock: to })
    for (const log of logs) {
      const a = log.args as { batchIndex: bigint; afterDelayedCount: bigint; timestamp: bigint; forced: boolean }
      if (Number(a.batchIndex) !== out.length) throw new Error(`L1 batch ${a.batchIndex} out of order: expected ${out.length}`)
      out.push({ index: out.length, afterDelayedCount: a.afterDelayedCount, timestamp: a.timestamp, forced: a.forced, txHash: log.transactionHash, blockNumber: log.blockNumber })
    }
  }
  return out
}

/** The batch data a sequencer posted, from its addSequencerBatch calldata. */
async function readBatchData(l1: L1Public, b: L1BatchRef): Promise<Uint8Array> {
  const tx = await l1.getTransaction({ hash: b.txHash })
  const call = decodeFunctionData({ abi: sequencerInboxAbi, data: tx.input })
  if (call.functionName !== 'addSequencerBatch') throw new Error(`L1 batch ${b.index} was not posted by addSequencerBatch (tx ${b.txHash})`)
  return hexToBytes(call.args[1] as Hex)
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0

/**
 * Whether the journal's batch is the one L1 holds at its index: posted in that very transaction,
 * or the same header and data. `undefined` when L1's data is needed and not read yet.
 */
function sameBatch(row: BatchRow | undefined, b: L1BatchRef): boolean | undefined {
  if (!row || row.status === 'open') return false
  if (row.status === 'posted' && row.l1Tx === b.txHash) return true
  if (b.forced || !row.data) return false
  if (!b.data) return undefined
  return row.afterDelayedCount === b.afterDelayedCount && row.timestamp === b.timestamp && sameBytes(row.data, b.data)
}

/** The first index where the journal and L1 disagree, or -1; undefined if some L1 data is missing. */
function divergence(journal: Journal, l1: L1BatchRef[]): number | undefined {
  for (const b of l1) {
    const same = sameBatch(journal.batch(b.index), b)
    if (same === undefined) return undefined
    if (!same) return b.index
  }
  return -1
}

/** The items of a batch's data, as the engine's run_batch would walk them (docs/protocol.md §4). */
export function splitItems(data: Uint8Array): Uint8Array[] {
  const items: Uint8Array[] = []
  if (data.length === 0 || data[0] !== BATCH_FORMAT_RAW) return items
  for (let at = 1; at < data.length; ) {
    const len = ITEM_LENGTH[data[at]!]
    if (len === undefined || at + len > data.length) break
    items.push(data.slice(at, at + len))
    at += len
  }
  return items
}

/**
 * Reconciles the sequencer's journal and state with L1 (see the file comment). Returns undefined
 * when they already agree. Serialize calls ({@link Reconciler}). Errors reading L1 leave
 * everything as it was; a failure once the rewrite began is a ReconcileFatalError: the journal is
 * intact, the in-memory engine is not, and the process must restart (and reconcile again).
 */
export async function reconcileWithL1(seq: Sequencer, o: ReconcileOptions): Promise<ReconcileReport | undefined> {
  const started = Date.now()
  const log = o.log ?? (() => {})
  const journal = seq.journal
  const l1 = await readL1Batches(o)

  // Read L1's data where the journal's batch may differ, and for every batch from there on
  // (they may be adopted). Normally that is none: posted batches match by transaction hash.
  const first = l1.findIndex((b) => sameBatch(journal.batch(b.index), b) !== true)
  if (first < 0) return undefined
  // The forced batches' delayed messages must be known before replay executes them: exactly the
  // ones L1's batches consumed. Later ones reach the sequencer through the node's delayed reader,
  // no nearer L1's head than --l1-confirmations: taken from the head here, a reorg could take back
  // a deposit after orders that spent it were acknowledged.
  const consumed = l1.reduce((n, b) => (b.afterDelayedCount > n ? b.afterDelayedCount : n), 0n)
  const { delayed } = await new InboxReader(o.l1, o.inbox, o.fromBlock, { delayedOnly: true }).poll()
  seq.addDelayed(delayed.filter((d) => BigInt(d.index) < consumed).map((d) => ({ index: d.index, bytes: d.bytes })))
  for (const b of l1.slice(first)) if (!b.forced) b.data = await readBatchData(o.l1, b)
  const engine = await seq.freshEngine()

  // From here on, synchronous: no submission, tick or L1 read interleaves. Everything acknowledged
  // is committed first (with a journal thread: drained), so the rewrite below, on this thread's
  // connection, races no commit of the writer's.
  seq.flush(true)
  const d = divergence(journal, l1)
  if (d === undefined) throw new Error('reconcile: L1 batch data missing for a comparison (the journal changed under it); run it again')
  if (d < 0) return undefined
  // The acknowledged items, in order, and where among them the journal had read delayed messages
  // (as "up to count" marks), so that a message the forced batches leave out runs again where it ran.
  const pending: ({ batch: number; item: Uint8Array } | { delayedUpTo: bigint })[] = []
  let cursor = d > 0 ? journal.batch(d - 1)!.afterDelayedCount : 0n
  for (const row of journal.batches()) {
    if (row.index < d) continue
    for (const { item } of journal.items(row.index)) {
      if (item[0] !== ITEM_DELAYED) pending.push({ batch: row.index, item })
      else pending.push({ delayedUpTo: (cursor += BigInt(new DataView(item.buffer, item.byteOffset).getUint32(1))) })
    }
    if (row.afterDelayedCount > cursor) pending.push({ delayedUpTo: (cursor = row.afterDelayedCount) })
  }
  const items = pending.filter((p) => 'item' in p)
  const adopted = l1.slice(d)
  const digester = new TxDigester(seq.genesis.chainId)
  const dropped: DroppedItem[] = []
  const newBatches: number[] = []
  const onClosed = (b: { index: number }) => newBatches.push(b.index)
  let rewriting = false
  seq.on('batchClosed', onClosed)
  try {
    seq.withDirectJournal(() => journal.db.transaction(() => {
      rewriting = true
      journal.truncateFrom(d)
      for (const b of adopted) {
        const data = b.data ?? new Uint8Array(0)
        journal.adoptBatch({ index: b.index, afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp, data, items: splitItems(data), l1Tx: b.txHash, l1Block: b.blockNumber })
      }
      seq.reload(engine)
      let cap = seq.engine.delayedRead()
      seq.capDelayed(cap)
      for (const p of pending) {
        if ('delayedUpTo' in p) {
          if (p.delayedUpTo > cap) seq.capDelayed((cap = p.delayedUpTo))
          continue
        }
        const r = seq.resequence(p.item)
        if (r.code === ResultCode.OK) continue
        let signer: Address | undefined
        try {
          const dec = decodeItem(p.item)
          if ('tx' in dec) signer = recoverSigner(digester, dec.tx, dec.signature)
        } catch {
          // an undecodable item cannot have been acknowledged; report it without a signer
        }
        dropped.push({ oldBatch: p.batch, type: p.item[0]!, signer, code: r.code })
      }
      seq.closeBatch()
    })())
  } catch (e) {
    if (rewriting) throw new ReconcileFatalError(`reconcile failed while rebuilding on top of L1 batch ${d}: ${(e as Error).message}`)
    throw e
  } finally {
    seq.capDelayed(undefined)
    seq.off('batchClosed', onClosed)
  }
  const report: ReconcileReport = {
    divergedAt: d,
    adopted: adopted.map((b) => ({ index: b.index, forced: b.forced, afterDelayedCount: b.afterDelayedCount, l1Tx: b.txHash })),
    resequenced: items.length,
    dropped,
    newBatches,
    ms: Date.now() - started,
  }
  recordReport(journal, report)
  log(
    `reconcile: L1 differs from the journal at batch ${d}: adopted ${adopted.length} L1 batch(es) (${adopted.filter((b) => b.forced).length} forced), ` +
      `re-sequenced ${items.length} acknowledged item(s) into batch(es) ${newBatches.join(', ') || '(none)'}, ${dropped.length} now rejected, in ${report.ms} ms`,
  )
  for (const x of dropped) log(`reconcile: an item acknowledged in batch ${x.oldBatch} (type ${x.type}${x.signer ? `, from ${x.signer}` : ''}) is now rejected with code ${x.code}`)
  return report
}

const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x))

/** Keeps each reconciliation in the journal file, for operators (`reconciliations` table). */
function recordReport(journal: Journal, r: ReconcileReport) {
  journal.db.exec(`CREATE TABLE IF NOT EXISTS reconciliations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, diverged_at INTEGER NOT NULL,
    adopted TEXT NOT NULL, resequenced INTEGER NOT NULL, dropped TEXT NOT NULL, new_batches TEXT NOT NULL, ms INTEGER NOT NULL)`)
  journal.db
    .prepare('INSERT INTO reconciliations(at, diverged_at, adopted, resequenced, dropped, new_batches, ms) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(Date.now(), r.divergedAt, json(r.adopted), r.resequenced, json(r.dropped), json(r.newBatches), r.ms)
}

/** Past reconciliations recorded in a journal, oldest first. */
export function reconciliations(journal: Journal): (Omit<ReconcileReport, 'adopted' | 'ms'> & { at: number; adopted: unknown[]; ms: number })[] {
  const exists = journal.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'reconciliations'").get()
  if (!exists) return []
  return journal.db
    .prepare<[], { at: number; diverged_at: number; adopted: string; resequenced: number; dropped: string; new_batches: string; ms: number }>('SELECT * FROM reconciliations ORDER BY id')
    .all()
    .map((r) => ({ at: r.at, divergedAt: r.diverged_at, adopted: JSON.parse(r.adopted), resequenced: r.resequenced, dropped: JSON.parse(r.dropped), newBatches: JSON.parse(r.new_batches), ms: r.ms }))
}

/** Runs one reconciliation at a time: concurrent requests share the one in progress. */
export class Reconciler {
  private running?: Promise<ReconcileReport | undefined>
  constructor(private readonly seq: Sequencer, private readonly opts: ReconcileOptions) {}

  run(): Promise<ReconcileReport | undefined> {
    this.running ??= reconcileWithL1(this.seq, this.opts).finally(() => (this.running = undefined))
    return this.running
  }
}
