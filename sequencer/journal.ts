/**
 * The sequencer's durable journal: a SQLite file in WAL mode with synchronous=FULL, so a row is
 * on disk before the transaction that wrote it returns. Every accepted item is appended here
 * before its reply is sent; on restart the engine state is rebuilt by replaying the journal.
 */
import Database from 'better-sqlite3'
import { randomUUID } from 'node:crypto'
import type { Hex } from 'viem'
import type { WithdrawalRecord } from '../executor/engine/types.js'

export type BatchStatus = 'open' | 'closed' | 'posted'

export interface BatchRow {
  index: number
  afterDelayedCount: bigint
  timestamp: bigint
  status: BatchStatus
  /** Batch data (format byte + items); set when the batch closes. */
  data?: Uint8Array
  stateRoot?: Hex
  machineRoot?: Hex
  outboxRoot?: Hex
  l1Tx?: Hex
  l1Block?: bigint
}

export interface JournalItem { seq: number; batch: number; item: Uint8Array }

interface RawBatch {
  idx: number
  after_delayed: number
  timestamp: number
  status: BatchStatus
  data: Buffer | null
  state_root: string | null
  machine_root: string | null
  outbox_root: string | null
  l1_tx: string | null
  l1_block: number | null
}

const toBatch = (r: RawBatch): BatchRow => ({
  index: r.idx,
  afterDelayedCount: BigInt(r.after_delayed),
  timestamp: BigInt(r.timestamp),
  status: r.status,
  data: r.data ? new Uint8Array(r.data) : undefined,
  stateRoot: (r.state_root ?? undefined) as Hex | undefined,
  machineRoot: (r.machine_root ?? undefined) as Hex | undefined,
  outboxRoot: (r.outbox_root ?? undefined) as Hex | undefined,
  l1Tx: (r.l1_tx ?? undefined) as Hex | undefined,
  l1Block: r.l1_block === null ? undefined : BigInt(r.l1_block),
})

/** Every batches column but the data, for queries that do not need it. */
const NO_DATA = 'idx, after_delayed, timestamp, status, NULL AS data, state_root, machine_root, outbox_root, l1_tx, l1_block'

export class Journal {
  readonly db: Database.Database
  private stmts

  constructor(path: string) {
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS batches (
        idx INTEGER PRIMARY KEY, after_delayed INTEGER NOT NULL, timestamp INTEGER NOT NULL,
        status TEXT NOT NULL, data BLOB, state_root TEXT, machine_root TEXT, outbox_root TEXT,
        l1_tx TEXT, l1_block INTEGER);
      CREATE TABLE IF NOT EXISTS items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, batch INTEGER NOT NULL, item BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS items_batch ON items(batch);
      -- A row's data (~100 KB) lies in overflow pages that SQLite walks to reach the columns
      -- stored after it: queries by status or L1 block must find their few rows here, not scan.
      CREATE INDEX IF NOT EXISTS batches_status ON batches(status, l1_block);
      CREATE TABLE IF NOT EXISTS delayed (idx INTEGER PRIMARY KEY, message BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS withdrawals (
        idx INTEGER PRIMARY KEY, batch INTEGER NOT NULL, l2_sender TEXT NOT NULL,
        recipient TEXT NOT NULL, asset INTEGER NOT NULL, amount TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS withdrawals_sender ON withdrawals(l2_sender);
    `)
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      openBatch: this.db.prepare("INSERT INTO batches(idx, after_delayed, timestamp, status) VALUES (?, ?, ?, 'open')"),
      appendItem: this.db.prepare('INSERT INTO items(batch, item) VALUES (?, ?)'),
      closeBatch: this.db.prepare(
        "UPDATE batches SET status = 'closed', data = ?, state_root = ?, machine_root = ?, outbox_root = ? WHERE idx = ? AND status = 'open'",
      ),
      markPosted: this.db.prepare("UPDATE batches SET status = 'posted', l1_tx = ?, l1_block = ? WHERE idx = ?"),
      markUnposted: this.db.prepare("UPDATE batches SET status = 'closed', l1_tx = NULL, l1_block = NULL WHERE idx = ? AND status = 'posted'"),
      // Two searches of batches_status (an OR of both would read every posted row).
      postedSince: this.db.prepare<[number], RawBatch>(
        `SELECT ${NO_DATA} FROM batches WHERE status = 'posted' AND l1_block IS NULL
         UNION ALL SELECT ${NO_DATA} FROM batches WHERE status = 'posted' AND l1_block >= ? ORDER BY idx`,
      ),
      // MAX over batches_status alone (ORDER BY idx would read every posted row first).
      lastPosted: this.db.prepare<[], RawBatch>(`SELECT ${NO_DATA} FROM batches WHERE idx = (SELECT MAX(idx) FROM batches WHERE status = 'posted')`),
      batch: this.db.prepare<[number], RawBatch>('SELECT * FROM batches WHERE idx = ?'),
      batches: this.db.prepare<[], RawBatch>('SELECT * FROM batches ORDER BY idx'),
      batchesNoData: this.db.prepare<[], RawBatch>(`SELECT ${NO_DATA} FROM batches ORDER BY idx`),
      batchesWithStatus: this.db.prepare<[string], RawBatch>('SELECT * FROM batches WHERE status = ? ORDER BY idx'),
      lastBatch: this.db.prepare<[], RawBatch>('SELECT * FROM batches ORDER BY idx DESC LIMIT 1'),
      items: this.db.prepare<[number], { seq: number; batch: number; item: Buffer }>('SELECT seq, batch, item FROM items WHERE batch = ? ORDER BY seq'),
      itemCount: this.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM items WHERE batch = ?'),
      putDelayed: this.db.prepare('INSERT OR IGNORE INTO delayed(idx, message) VALUES (?, ?)'),
      delayed: this.db.prepare<[], { idx: number; message: Buffer }>('SELECT idx, message FROM delayed ORDER BY idx'),
      putWithdrawal: this.db.prepare('INSERT INTO withdrawals(idx, batch, l2_sender, recipient, asset, amount) VALUES (?, ?, ?, ?, ?, ?)'),
      withdrawalsOf: this.db.prepare<[string], { idx: number; batch: number; l2_sender: string; recipient: string; asset: number; amount: string }>(
        'SELECT * FROM withdrawals WHERE l2_sender = ? ORDER BY idx',
      ),
    }
  }

  /**
   * A random id made when the journal file is created. It names this sequencer's BullMQ queue,
   * so nodes sharing a Redis never see each other's jobs, even when (as on anvil) two
   * deployments have the same contract addresses.
   */
  get instanceId(): string {
    let id = this.meta('instance')
    if (!id) {
      id = randomUUID()
      this.setMeta('instance', id)
    }
    return id
  }

  meta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value
  }

  setMeta(key: string, value: string) {
    this.stmts.setMeta.run(key, value)
  }

  openBatch(index: number, afterDelayedCount: bigint, timestamp: bigint) {
    this.stmts.openBatch.run(index, afterDelayedCount, timestamp)
  }

  /** Appends an accepted item; durable when this returns. */
  appendItem(batch: number, item: Uint8Array) {
    this.stmts.appendItem.run(batch, item)
  }

  closeBatch(index: number, data: Uint8Array, roots: { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex }, withdrawals: WithdrawalRecord[]) {
    this.db.transaction(() => {
      const r = this.stmts.closeBatch.run(data, roots.stateRoot, roots.machineRoot, roots.outboxRoot, index)
      if (r.changes !== 1) throw new Error(`batch ${index} is not open`)
      for (const w of withdrawals) this.stmts.putWithdrawal.run(w.index, index, w.l2Sender, w.to, w.asset, w.amount.toString())
    })()
  }

  markPosted(index: number, l1Tx: Hex, l1Block: bigint) {
    this.stmts.markPosted.run(l1Tx, l1Block, index)
  }

  /**
   * Forgets batches `index` and later (their items and withdrawals too): sequencer/reconcile.ts,
   * inside its transaction, before it writes what L1 holds there instead.
   */
  truncateFrom(index: number) {
    this.db.prepare('DELETE FROM items WHERE batch >= ?').run(index)
    this.db.prepare('DELETE FROM withdrawals WHERE batch >= ?').run(index)
    this.db.prepare('DELETE FROM batches WHERE idx >= ?').run(index)
  }

  /**
   * Records a batch found on L1 (a forced one) as posted, with its items; its roots are filled
   * in by the replay that executes it ({@link setRoots}).
   */
  adoptBatch(b: { index: number; afterDelayedCount: bigint; timestamp: bigint; data: Uint8Array; items: Uint8Array[]; l1Tx: Hex; l1Block: bigint }) {
    this.db.prepare("INSERT INTO batches(idx, after_delayed, timestamp, status, data, l1_tx, l1_block) VALUES (?, ?, ?, 'posted', ?, ?, ?)")
      .run(b.index, b.afterDelayedCount, b.timestamp, b.data, b.l1Tx, b.l1Block)
    for (const item of b.items) this.stmts.appendItem.run(b.index, item)
  }

  /** Fills in the roots and withdrawals of an adopted batch once replay has executed it. */
  setRoots(index: number, roots: { stateRoot: Hex; machineRoot: Hex; outboxRoot: Hex }, withdrawals: WithdrawalRecord[]) {
    this.db.transaction(() => {
      this.db.prepare('UPDATE batches SET state_root = ?, machine_root = ?, outbox_root = ? WHERE idx = ?').run(roots.stateRoot, roots.machineRoot, roots.outboxRoot, index)
      for (const w of withdrawals) this.stmts.putWithdrawal.run(w.index, index, w.l2Sender, w.to, w.asset, w.amount.toString())
    })()
  }

  /** An L1 reorg dropped this batch's post: it is closed again, to be posted again. */
  markUnposted(index: number): boolean {
    return this.stmts.markUnposted.run(index).changes === 1
  }

  /** Batches posted at or after L1 block `block`, without their data (batch(index) has it). */
  postedSince(block: bigint): BatchRow[] {
    return this.stmts.postedSince.all(Number(block)).map(toBatch)
  }

  /** The last batch posted, without its data. */
  lastPosted(): BatchRow | undefined {
    const r = this.stmts.lastPosted.get()
    return r && toBatch(r)
  }

  batch(index: number): BatchRow | undefined {
    const r = this.stmts.batch.get(index)
    return r && toBatch(r)
  }

  batches(status?: BatchStatus): BatchRow[] {
    return (status ? this.stmts.batchesWithStatus.all(status) : this.stmts.batches.all()).map(toBatch)
  }

  /** Every batch without its data, in order: what a replay needs, without reading ~100 KB a batch. */
  batchesWithoutData(): BatchRow[] {
    return this.stmts.batchesNoData.all().map(toBatch)
  }

  lastBatch(): BatchRow | undefined {
    const r = this.stmts.lastBatch.get()
    return r && toBatch(r)
  }

  items(batch: number): JournalItem[] {
    return this.stmts.items.all(batch).map((r) => ({ seq: r.seq, batch: r.batch, item: new Uint8Array(r.item) }))
  }

  itemCount(batch: number): number {
    return this.stmts.itemCount.get(batch)!.n
  }

  putDelayed(index: number, message: Uint8Array) {
    this.stmts.putDelayed.run(index, message)
  }

  delayedMessages(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const r of this.stmts.delayed.all()) {
      if (r.idx !== out.length) throw new Error(`journal is missing delayed message ${out.length}`)
      out.push(new Uint8Array(r.message))
    }
    return out
  }

  withdrawalsOf(l2Sender: string) {
    return this.stmts.withdrawalsOf.all(l2Sender).map((r) => ({
      index: BigInt(r.idx),
      batch: r.batch,
      l2Sender: r.l2_sender,
      to: r.recipient,
      asset: r.asset,
      amount: BigInt(r.amount),
    }))
  }

  close() {
    this.db.close()
  }
}
