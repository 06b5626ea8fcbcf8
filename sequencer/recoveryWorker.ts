/**
 * The thread side of sequencer/recoveryPool.ts: one job (many items) per message, answered with
 * `recoverItems`, the same code the pool runs in-thread when it has no worker.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { TxDigester } from './digest.js'
import { isStopMessage } from '../executor/tsWorker.js'
import { recoverItems, type RecoveryJob } from './recoveryPool.js'

const digester = new TxDigester((workerData as { chainId: number }).chainId)

parentPort!.on('message', (job: RecoveryJob) => {
  if (isStopMessage(job)) process.exit(0)
  const answer = recoverItems(digester, job)
  parentPort!.postMessage(answer, [answer.digests.buffer, answer.signers.buffer, answer.status.buffer] as ArrayBuffer[])
})
parentPort!.postMessage({ ready: true })
