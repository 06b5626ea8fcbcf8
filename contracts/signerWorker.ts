/** The thread side of contracts/signerThread.ts: signs one L1 transaction per message, in order. */
import { parentPort } from 'node:worker_threads'
import type { Hex, TransactionSerializable } from 'viem'
import { signTransactionInline } from './l1Signer.js'

parentPort!.on('message', async (m: { id: number; key: Hex; transaction: TransactionSerializable }) => {
  try {
    parentPort!.postMessage({ id: m.id, serialized: await signTransactionInline(m.key, m.transaction) })
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message })
  }
})
