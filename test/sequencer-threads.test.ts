/**
 * The sequencer with its work spread over threads (signer recovery on a RecoveryPool, state
 * roots on a RootThread, journal commits on a JournalWriter) gives exactly what the single-threaded sequencer gives: the same
 * acceptances in arrival order, the same batches and roots in the journal, and a stop before a
 * batch's roots arrive loses nothing (the next open closes it on replay, with the same roots).
 */
import { expect } from 'chai'
import path from 'node:path'
import { bytesToHex, hexToBytes, recoverAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type BatchRecoveries, Sequencer } from '../sequencer/sequencer.js'
import { ExecutorThread } from '../executor/executorThread.js'
import type { BatchInput } from '../executor/batchExecutor.js'
import { type KnownRecoveries, ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { BTC_PERP, DEFAULT_L2_CHAIN_ID, devnetGenesis } from '../cli/config.js'
import { ASSET_COLLATERAL, DELAYED_DEPOSIT, ITEM_DELAYED, ResultCode, batchMessage, encodeDelayedMessage, encodeDepositPayload, type TxMessage } from '../sdk/protocol.js'
import { FastSigner } from '../bench/signer.js'
import { benchKey } from '../bench/lib.js'
import { engineErrorCode } from '../sequencer/validate.js'
import { RpcError } from '../sequencer/rpc/errors.js'
import { tempDir } from './helpers/devnet.js'

const MID = 60_000n * 1_000_000n
const ACCOUNTS = 8
const keys = Array.from({ length: ACCOUNTS }, (_, i) => benchKey('seq-threads', i))
const oracleKey = benchKey('seq-threads-oracle', 0)
const genesis = devnetGenesis(privateKeyToAccount(oracleKey).address)
const signer = new FastSigner(DEFAULT_L2_CHAIN_ID)

async function open(file: string, threads: boolean): Promise<Sequencer> {
  const seq = await Sequencer.open({
    journalPath: file,
    genesis,
    batchMaxBytes: 4_000, // ~40 orders per batch: many closes by size
    now: () => 1_800_000_000n,
    recoveryThreads: threads ? 2 : 0,
    rootThread: threads,
    journalThread: threads,
    log: (l) => {
      if (/FATAL/.test(l)) console.error(l)
    },
  })
  if (seq.delayedCount === 0) {
    seq.addDelayed(keys.map((k, i) => ({
      index: i,
      bytes: encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: '0x00000000000000000000000000000000b1d6e000', timestamp: 0n, payload: encodeDepositPayload(privateKeyToAccount(k).address, ASSET_COLLATERAL, 5_000_000_000n) }),
    })))
  }
  return seq
}

/** 300 orders round-robin over the accounts (sequential nonces), a bad signature every 37th. */
function workload() {
  const nonces = new Array<bigint>(ACCOUNTS).fill(0n)
  const oracle: TxMessage = { kind: 'OraclePrice', message: { market: BTC_PERP.id, price: MID, timestamp: 1_799_999_000n } }
  const out: { tx: TxMessage; signature: `0x${string}`; bad: boolean }[] = [{ tx: oracle, signature: signer.sign(hexToBytes(oracleKey), oracle), bad: false }]
  for (let j = 0; j < 300; j++) {
    const i = j % ACCOUNTS
    const bad = j % 37 === 36
    const tx: TxMessage = { kind: 'Order', message: { market: BTC_PERP.id, isBuy: j % 2 === 0, price: MID + BigInt((j * 7) % 9 - 4) * BTC_PERP.tickSize, size: BigInt(1 + (j % 5)), nonce: bad ? nonces[i]! : nonces[i]!++ } }
    // A high-s signature: refused before the engine sees it, whatever it would recover.
    const signature = bad ? (`0x${'11'.repeat(32)}${'ff'.repeat(32)}1b` as const) : signer.sign(hexToBytes(keys[i]!), tx)
    out.push({ tx, signature, bad })
  }
  return out
}

/** Submits everything in one turn (as concurrent requests would arrive); outcome per tx. */
async function run(seq: Sequencer, txs: ReturnType<typeof workload>) {
  return Promise.all(txs.map((t) => seq.submit(t.tx, t.signature).then(
    (a) => ({ ok: true as const, orderId: a.result.orderId, batch: a.batch, signer: a.signer }),
    (e: RpcError) => ({ ok: false as const, code: e.code }),
  )))
}

const journalView = (seq: Sequencer) => seq.journal.batches().map((b) => ({ index: b.index, status: b.status, stateRoot: b.stateRoot, data: b.data && Buffer.from(b.data).toString('hex'), items: seq.journal.items(b.index).length }))

describe('sequencer on threads (recovery pool, root thread, journal thread) equals the single-threaded sequencer', function () {
  this.timeout(120_000)
  const dir = tempDir('seq-threads')

  it('accepts the same transactions in arrival order and journals the same batches and roots; a stop before roots arrive is closed on replay', async () => {
    const txs = workload()
    const plain = await open(path.join(dir, 'plain.sqlite'), false)
    const threaded = await open(path.join(dir, 'threaded.sqlite'), true)
    const a = await run(plain, txs)
    const b = await run(threaded, txs)
    expect(b).to.deep.equal(a)
    expect(a.filter((x) => x.ok).length, 'every good order accepted (a reordered nonce would be refused)').to.equal(txs.filter((t) => !t.bad).length)
    // One latency reading per acknowledgement, none for a refusal.
    for (const seq of [plain, threaded]) expect(seq.ackLatency.total.count).to.equal(a.filter((x) => x.ok).length)
    for (const [i, x] of a.entries()) if (txs[i]!.bad) expect(x).to.deep.equal({ ok: false, code: engineErrorCode(ResultCode.BAD_SIGNATURE) })

    // Closes by size happened on both.
    expect(journalView(plain).filter((x) => x.status === 'closed').length).to.be.greaterThan(3)
    // A stop that comes after a close, and after the next batch got an item, but before the
    // closed batch's roots arrived: the root thread is made to never answer.
    ;(threaded as unknown as { rootThread: { compute: () => Promise<never> } }).rootThread.compute = () => new Promise<never>(() => {})
    const addr = privateKeyToAccount(keys[0]!).address
    const next: TxMessage = { kind: 'Order', message: { market: BTC_PERP.id, isBuy: true, price: MID - 10n * BTC_PERP.tickSize, size: 1n, nonce: plain.engine.nonce(addr) } }
    const nextSig = signer.sign(hexToBytes(keys[0]!), next)
    const dangling = plain.closeBatch()!.index
    await plain.submit(next, nextSig)
    plain.closeBatch()
    ;(threaded as unknown as { closeBatchSoon(): void }).closeBatchSoon()
    await threaded.submit(next, nextSig)
    expect(threaded.journal.batch(dangling)!.status, 'the closed batch still waits for its roots').to.equal('open')
    expect(threaded.journal.batch(dangling + 1)!.status).to.equal('open')
    threaded.close()
    plain.close()

    const reopened = await open(path.join(dir, 'threaded.sqlite'), true)
    const replain = await open(path.join(dir, 'plain.sqlite'), false)
    try {
      expect(reopened.journal.batch(dangling)!.status, 'closed on replay').to.equal('closed')
      expect(reopened.openBatch?.index, 'the last batch is open again').to.equal(dangling + 1)
      reopened.closeBatch()
      expect(journalView(reopened)).to.deep.equal(journalView(replain))
      expect(journalView(reopened).every((x) => x.status === 'closed' && x.stateRoot)).to.equal(true)
    } finally {
      reopened.close()
      replain.close()
    }
  })

  it('records batches closed by size on the root thread with the roots the engine itself gives', async () => {
    const txs = workload()
    const plain = await open(path.join(dir, 'plain2.sqlite'), false)
    const threaded = await open(path.join(dir, 'threaded2.sqlite'), true)
    const closed: number[] = []
    threaded.on('batchClosed', (c: { index: number }) => closed.push(c.index))
    await run(plain, txs)
    await run(threaded, txs)
    const closedPlain = journalView(plain).filter((x) => x.status === 'closed').length
    for (let t = 0; closed.length < closedPlain; t++) {
      if (t > 200) throw new Error(`only ${closed.length} of ${closedPlain} batches closed within 10 s`)
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(closed.length).to.be.greaterThan(3)
    expect(closed, 'batchClosed in batch order').to.deep.equal([...closed].sort((x, y) => x - y))
    expect(journalView(threaded)).to.deep.equal(journalView(plain))
    // The WAL is copied back by the checkpoint thread, never by a commit (on either connection).
    const writer = (threaded as unknown as { writer: { checkpoints: { rounds: number; frames: number; failures: number } } }).writer
    for (let t = 0; writer.checkpoints.rounds === 0; t++) {
      if (t > 100) throw new Error('the checkpoint thread copied nothing within 5 s')
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(writer.checkpoints.frames).to.be.greaterThan(0)
    // With nothing written meanwhile, later rounds copy (and count) nothing more.
    await new Promise((r) => setTimeout(r, 600))
    const idle = { ...writer.checkpoints }
    await new Promise((r) => setTimeout(r, 1_200))
    expect(writer.checkpoints).to.deep.equal(idle)
    expect(threaded.journal.db.pragma('wal_autocheckpoint', { simple: true })).to.equal(0)
    expect(plain.journal.db.pragma('wal_autocheckpoint', { simple: true }), 'without a journal thread, SQLite\'s default').to.equal(1000)
    // The poster's record of a landing commits on the journal thread, like every write there,
    // and is durable (visible to the main connection) once the promise resolves.
    const tx = `0x${'ab'.repeat(32)}` as const
    await Promise.all([threaded.markPosted(closed[0]!, tx, 7n), plain.markPosted(closed[0]!, tx, 7n)])
    expect(threaded.journal.batch(closed[0]!)).to.include({ status: 'posted', l1Tx: tx, l1Block: 7n })
    expect(journalView(threaded)).to.deep.equal(journalView(plain))
    plain.close()
    threaded.close()
    let refused = ''
    await threaded.markPosted(closed[1]!, tx, 8n).catch((e: Error) => (refused = e.message))
    expect(refused).to.match(/sequencer is stopped/)
  })

  it('hands each batch\'s signature recoveries on at its close: a verifier given them recovers nothing itself and reaches the same roots', async () => {
    const txs = workload()
    const seq = await open(path.join(dir, 'handed.sqlite'), true)
    const handed = new Map<number, KnownRecoveries>()
    seq.on('batchRecoveries', (r: BatchRecoveries) => handed.set(r.index, r.known))
    await run(seq, txs)
    seq.closeBatch()
    const batches = seq.journal.batches()
    const delayed = seq.journal.delayedMessages()
    const signedItems = new Map(batches.map((b) => [b.index, seq.journal.items(b.index).filter((x) => x.item[0] !== ITEM_DELAYED).length]))
    seq.close()
    expect(batches.length).to.be.greaterThan(3)

    // Each batch's recoveries are its signed items' (DELAYED items are not signed), each one what
    // libsecp256k1 and viem recover, and each a key the workload signed with.
    const allowed = new Set([...keys, oracleKey].map((k) => privateKeyToAccount(k).address.toLowerCase()))
    let entries = 0
    for (const b of batches) {
      const known = handed.get(b.index)
      expect(known, `recoveries of batch ${b.index}`).to.not.equal(undefined)
      expect(known!.count, `batch ${b.index}: one recovery per signed item`).to.equal(signedItems.get(b.index))
      for (let i = 0; i < known!.count; i++) {
        const digest = known!.digests.subarray(32 * i, 32 * i + 32)
        const vrs = known!.signatures.subarray(65 * i, 65 * i + 65)
        const signerHex = bytesToHex(known!.signers.subarray(20 * i, 20 * i + 20))
        expect(known!.ok[i]).to.equal(1)
        expect(bytesToHex(ecrecoverUncached(digest, vrs)!)).to.equal(signerHex)
        const viemSigner = await recoverAddress({ hash: bytesToHex(digest), signature: bytesToHex(new Uint8Array([...vrs.subarray(1), vrs[0]!])) })
        expect(viemSigner.toLowerCase()).to.equal(signerHex)
        expect(allowed.has(signerHex)).to.equal(true)
      }
      entries += known!.count
    }
    expect(entries).to.be.greaterThan(250)

    // Three verifiers' executors from genesis (each on its own thread, so with its own memo and
    // no recovery pool): given the recoveries; given recoveries of other digests with wrong
    // signers (what a mix-up would hand over: each digest with one byte flipped, each signer the
    // next entry's); and given none.
    const inputs = (known: (index: number) => KnownRecoveries | undefined): BatchInput[] =>
      batches.map((b) => ({ index: b.index, message: batchMessage({ afterDelayedCount: b.afterDelayedCount, timestamp: b.timestamp }, b.data!), known: known(b.index) }))
    const executors = await Promise.all([0, 1, 2].map(() => ExecutorThread.start(genesis, 0)))
    try {
      const [given, mismatched, none] = await Promise.all([
        executors[0]!.execute(delayed, inputs((i) => handed.get(i))),
        executors[1]!.execute(delayed, inputs((i) => {
          const k = handed.get(i)!
          const digests = k.digests.slice()
          for (let j = 0; j < k.count; j++) digests[32 * j]! ^= 0x80
          const signers = new Uint8Array(k.signers.length)
          signers.set(k.signers.subarray(20), 0)
          signers.set(k.signers.subarray(0, 20), k.signers.length - 20)
          return { ...k, digests, signers }
        })),
        executors[2]!.execute(delayed, inputs(() => undefined)),
      ])
      for (const r of [given, mismatched, none]) {
        expect(r.error).to.equal(undefined)
        expect(r.done.map((d) => d.stateRoot), 'the roots the sequencer journaled').to.deep.equal(batches.map((b) => b.stateRoot))
      }
      expect(given.done.map((d) => d.hostRecoveries), 'nothing recovered again').to.deep.equal(batches.map(() => 0))
      // Those answer none of the (digest, signature) pairs the engine asks about: never used.
      const recovered = (r: typeof given) => r.done.reduce((a, d) => a + d.hostRecoveries, 0)
      expect(recovered(mismatched)).to.be.at.least(entries)
      expect(recovered(none)).to.be.at.least(entries)
    } finally {
      await Promise.all(executors.map((e) => e.close()))
    }
  })

  it('a delayed message read again after an L1 reorg must be the one it included: the same is ignored, a different one refused with the fix', async () => {
    const seq = await open(path.join(dir, 'delayed-again.sqlite'), false)
    try {
      const count = seq.delayedCount
      const again = encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: '0x00000000000000000000000000000000b1d6e000', timestamp: 0n, payload: encodeDepositPayload(privateKeyToAccount(keys[0]!).address, ASSET_COLLATERAL, 5_000_000_000n) })
      seq.addDelayed([{ index: 0, bytes: again }])
      expect(seq.delayedCount).to.equal(count)
      const other = again.slice()
      other[other.length - 1]! ^= 1
      const next = encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: '0x00000000000000000000000000000000b1d6e000', timestamp: 0n, payload: encodeDepositPayload(privateKeyToAccount(keys[1]!).address, ASSET_COLLATERAL, 1n) })
      expect(() => seq.addDelayed([{ index: 0, bytes: other }, { index: count, bytes: next }])).to.throw(/delayed message 0 is no longer the one this sequencer included.*--l1-confirmations/)
      expect(seq.delayedCount, 'nothing of that call was taken').to.equal(count)
    } finally {
      await seq.close()
    }
  })
})
