/**
 * The thread side of the journal's checkpoints (sequencer/journalWriter.ts): a third connection
 * that copies the WAL back into the database file every CHECKPOINT_MS, in PASSIVE mode, which
 * never blocks the journal thread's commits. Left to SQLite, the commit that crosses 1,000 WAL
 * pages runs the checkpoint itself, and the orders waiting on that commit wait up to ~25 ms longer
 * (`npx tsx bench/journalCosts.ts`).
 */
import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'
import { isStopMessage } from '../executor/tsWorker.js'

const CHECKPOINT_MS = 500

const { path } = workerData as { path: string }
const db = new Database(path)
db.pragma('busy_timeout = 5000')

// SQLite counts the frames of the current WAL and how many of them are checkpointed so far; a
// writer starts the WAL over once all are. The frames one round copied are the difference.
let last = { log: 0, checkpointed: 0 }

const timer = setInterval(() => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[]
    if (!r || r.log < 0) return
    const restarted = r.log < last.log || r.checkpointed < last.checkpointed
    const copied = restarted ? r.checkpointed : r.checkpointed - last.checkpointed
    last = r
    if (copied > 0) parentPort!.postMessage({ checkpointed: copied })
  } catch (e) {
    // Nothing is lost: the frames stay in the WAL, and the next round (or a restart) copies them.
    parentPort!.postMessage({ failed: (e as Error).message })
  }
}, CHECKPOINT_MS)

parentPort!.on('message', (m: unknown) => {
  if (!isStopMessage(m)) return
  clearInterval(timer)
  db.close()
  process.exit(0)
})
parentPort!.postMessage({ ready: true })
