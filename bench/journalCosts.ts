/**
 * What the journal's batch queries and commits cost on this machine's disk, outside the bench
 * sections (no devnet): `npx tsx bench/journalCosts.ts [batches]`. It fills a temp journal with
 * batches of 100 KB of data, most of them posted, and times the reconciler's and vdx_getStatus's
 * lookups as they are (through batches_status) and as they were before that index (a scan that
 * walks each row's overflow pages), then a group commit of five items, a batch's close (its data
 * written) and its mark as posted (SQLite rewrites the whole row).
 */
import path from 'node:path'
import { Journal } from '../sequencer/journal.js'
import { tempDir } from '../test/helpers/devnet.js'
import { now, quantile } from './lib.js'

const batches = Number(process.argv[2] ?? 2_000)
const j = new Journal(path.join(tempDir('journal-costs'), 'journal.sqlite'))
const data = new Uint8Array(100_000).fill(7)
const roots = { stateRoot: `0x${'01'.repeat(32)}`, machineRoot: `0x${'02'.repeat(32)}`, outboxRoot: `0x${'03'.repeat(32)}` } as const
const item = new Uint8Array(97).fill(1)

const ms = (xs: number[], q: number) => quantile(xs, q).toFixed(2)
const timed = (n: number, f: () => void) => {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = now()
    f()
    out.push(now() - t)
  }
  return out
}

const commit = timed(300, () => j.db.transaction(() => { for (let k = 0; k < 5; k++) j.appendItem(0, item) })())

/** Closes and posts `n` batches from `from`; a node's journal thread commits with auto-checkpoint off. */
function fill(journal: Journal, from: number, n: number) {
  const close: number[] = []
  const posted: number[] = []
  for (let i = from; i < from + n; i++) {
    journal.openBatch(i, 0n, 1n)
    close.push(...timed(1, () => journal.closeBatch(i, data, roots, [])))
    if (i >= from + n - 3) continue
    posted.push(...timed(1, () => journal.markPosted(i, `0x${i.toString(16).padStart(64, '0')}`, BigInt(100 + i))))
  }
  return { close, posted }
}
const other = new Journal(path.join(tempDir('journal-costs'), 'journal.sqlite'))
other.db.pragma('wal_autocheckpoint = 0')
const noCheckpoint = fill(other, 0, Math.min(batches, 400))
other.close()
const { close, posted } = fill(j, 0, batches)
const columns = 'idx, status, state_root, l1_tx, l1_block'
const scanSince = j.db.prepare(`SELECT ${columns} FROM batches NOT INDEXED WHERE status = 'posted' AND (l1_block IS NULL OR l1_block >= ?) ORDER BY idx`)
const scanLast = j.db.prepare("SELECT * FROM batches NOT INDEXED WHERE status = 'posted' ORDER BY idx")
const since = BigInt(100 + batches - 40)
console.log(`journal of ${batches} batches of 100 KB (${batches - 3} posted), SQLite WAL, synchronous=FULL:`)
console.log(`  group commit of 5 items: p50 ${ms(commit, 0.5)} ms, p99 ${ms(commit, 0.99)} ms`)
console.log(`  closeBatch (100 KB of data): p50 ${ms(close, 0.5)} ms, max ${ms(close, 1)} ms`)
console.log(`  markPosted (rewrites that row): p50 ${ms(posted, 0.5)} ms, max ${ms(posted, 1)} ms`)
console.log(`  the same with wal_autocheckpoint = 0 (the node's journal thread; ${Math.min(batches, 400)} batches): closeBatch max ${ms(noCheckpoint.close, 1)} ms, markPosted max ${ms(noCheckpoint.posted, 1)} ms`)
console.log(`  postedSince (last 40 blocks): ${ms(timed(5, () => j.postedSince(since)), 0.5)} ms; as a scan: ${ms(timed(5, () => scanSince.all(Number(since))), 0.5)} ms`)
console.log(`  lastPosted: ${ms(timed(5, () => j.lastPosted()), 0.5)} ms; every posted batch, to take the last (vdx_getStatus before): ${ms(timed(3, () => scanLast.all().at(-1)), 0.5)} ms`)
j.close()
