/**
 * "Bad input leaves no trace": a snapshot of a running sequencer's journal rows and engine memory
 * (scratch excluded), and an assertion that a refused request got the expected JSON-RPC error and
 * changed neither.
 */
import { expect } from 'chai'
import { keccak256 } from 'viem'
import { VeridexRpcError } from '../../sdk/client.js'
import type { Sequencer } from '../../sequencer/sequencer.js'

export function sequencerSnapshot(seq: Sequencer): { rows: number; memory: string } {
  const rows = seq.journal.db.prepare('SELECT (SELECT COUNT(*) FROM items) + (SELECT COUNT(*) FROM batches) AS n').get() as { n: number }
  const memory = new Uint8Array(seq.engine.memory.buffer).slice()
  memory.fill(0, seq.engine.scratchPtr, seq.engine.scratchPtr + seq.engine.scratchLen)
  return { rows: rows.n, memory: keccak256(memory) }
}

/** `p` must fail with JSON-RPC error `code` whose message (or data) matches, leaving `seq` as it was. */
export async function expectRefused(seq: () => Sequencer, p: Promise<unknown>, code: number, messagePart: RegExp) {
  const before = sequencerSnapshot(seq())
  try {
    await p
    expect.fail(`expected error ${code}`)
  } catch (e) {
    if (!(e instanceof VeridexRpcError)) throw e
    expect(e.code, e.message).to.equal(code)
    expect(`${e.message} ${JSON.stringify(e.data ?? {})}`).to.match(messagePart)
  }
  expect(sequencerSnapshot(seq()), 'no trace in journal or state').to.deep.equal(before)
}
