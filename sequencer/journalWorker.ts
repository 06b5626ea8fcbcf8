/**
 * The thread side of sequencer/journalWriter.ts: owns a second connection to the journal and
 * commits what it is sent, in order. Writes that arrive while a commit (an fsync) is under way
 * share the next one.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Journal } from './journal.js'
import type { JournalWrite } from './journalWriter.js'
import { isStopMessage } from '../executor/tsWorker.js'

const { path, state } = workerData as { path: string; state: SharedArrayBuffer }
const journal = new Journal(path)
// The checkpoint thread copies the WAL back (sequencer/checkpointWorker.ts): no commit here
// waits for a checkpoint, unless that thread stops and asks for SQLite's default back.
journal.db.pragma('wal_autocheckpoint = 0')
const progress = new Int32Array(state)

let queue: { id: number; write: JournalWrite }[] = []
let scheduled = false

function apply(w: JournalWrite) {
  if (w.kind === 'items') {
    for (const o of w.opens) journal.openBatch(o.batch, o.afterDelayedCount, o.timestamp)
    let start = 0
    w.ends.forEach((end, i) => {
      journal.appendItem(w.batches[i]!, w.bytes.subarray(start, end))
      start = end
    })
  } else if (w.kind === 'close') {
    journal.closeBatch(w.index, w.data, w.roots, w.withdrawals) // a savepoint inside the commit
  } else {
    journal.markPosted(w.index, w.l1Tx, w.l1Block)
  }
}

function commit() {
  scheduled = false
  const writes = queue
  queue = []
  try {
    journal.db.transaction(() => {
      for (const q of writes) apply(q.write)
    })()
  } catch (e) {
    Atomics.store(progress, 1, 1)
    Atomics.notify(progress, 0)
    parentPort!.postMessage({ failed: (e as Error).message })
    return
  }
  const last = writes.at(-1)!.id
  Atomics.store(progress, 0, last)
  Atomics.notify(progress, 0)
  parentPort!.postMessage({ committed: last })
}

parentPort!.on('message', (m: { id: number; write: JournalWrite } | { autocheckpoint: number }) => {
  if ('autocheckpoint' in m) {
    journal.db.pragma(`wal_autocheckpoint = ${m.autocheckpoint}`)
    return
  }
  if (isStopMessage(m)) {
    if (queue.length) commit()
    journal.close()
    process.exit(0)
  }
  queue.push(m)
  if (!scheduled) {
    scheduled = true
    setImmediate(commit)
  }
})
parentPort!.postMessage({ ready: true })
