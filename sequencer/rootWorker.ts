/** The thread side of sequencer/rootThread.ts: roots of snapshots, answered in the order sent. */
import { parentPort } from 'node:worker_threads'
import { SnapshotRoots, type StateSnapshot } from './stateSnapshot.js'
import { isStopMessage } from '../executor/tsWorker.js'

const roots = new SnapshotRoots()

parentPort!.on('message', (m: { id: number; snapshot: StateSnapshot; position: bigint }) => {
  if (isStopMessage(m)) process.exit(0)
  parentPort!.postMessage({ id: m.id, roots: roots.compute(m.snapshot, m.position) })
})
parentPort!.postMessage({ ready: true })
