import { expect } from 'chai'
import { type Hex, bytesToHex, getAddress, hashTypedData, hexToBytes, recoverTypedDataAddress, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Worker } from 'node:worker_threads'
import { RecoveryPool } from '../sequencer/recoveryPool.js'
import { ecrecover } from '../executor/vm/ecrecover.js'
import { eip712Domain, eip712Types, encodeDelayedItem, encodeItem, signatureToWire, typedMessage, type TxMessage } from '../sdk/protocol.js'
import { signTx } from '../sdk/sign.js'
import { rng } from './helpers/rng.js'

const CHAIN = 424242
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The same signature with s' = n − s and v flipped: valid for secp256k1, refused by EIP-2. */
function highS(signature: Hex): Hex {
  const b = hexToBytes(signature)
  const s = BigInt(bytesToHex(b.subarray(32, 64)))
  b.set(hexToBytes(toHex(N - s, { size: 32 })), 32)
  b[64] = b[64] === 27 ? 28 : 27
  return bytesToHex(b)
}

/** viem's answer: the signer, or undefined where the sequencer must refuse (EIP-2 high s, bad v). */
async function viemSigner(tx: TxMessage, signature: Hex): Promise<string | undefined> {
  const b = hexToBytes(signature)
  const v = b[64]! < 27 ? b[64]! + 27 : b[64]!
  if (v !== 27 && v !== 28) return undefined
  if (BigInt(bytesToHex(b.subarray(32, 64))) > N / 2n) return undefined
  try {
    return await recoverTypedDataAddress({ domain: eip712Domain(CHAIN), types: eip712Types, primaryType: tx.kind, message: typedMessage(tx) as never, signature })
  } catch {
    return undefined
  }
}

describe('recovery pool (worker threads) agrees with viem', function () {
  this.timeout(120_000)
  let pool: RecoveryPool
  before(() => {
    pool = new RecoveryPool({ chainId: CHAIN, threads: 2 })
  })
  after(() => pool.close())

  it('recovers the signer and digest of every kind, and refuses bad v, high s, garbage and tampered messages', async () => {
    const r = rng(7)
    const kinds = ['Order', 'Cancel', 'Transfer', 'Withdraw', 'OraclePrice', 'CancelAll', 'Replace'] as const
    const cases: { tx: TxMessage; signature: Hex; why: string }[] = []
    for (let i = 0; i < 70; i++) {
      const account = privateKeyToAccount(generatePrivateKey())
      const kind = kinds[i % kinds.length]!
      const tx = {
        // every other order carries the v1 options (a stop with a trigger and an expiry: 111 bytes)
        Order: () => ({ kind, message: { market: r.int(4), isBuy: r.chance(0.5), price: r.big(1n << 60n), size: r.big(1n << 40n), nonce: BigInt(i), ...(i % 2 ? { orderType: 2, timeInForce: 1, reduceOnly: true, triggerPrice: r.big(1n << 60n), expiry: BigInt(1_700_000_000 + i) } : {}) } }),
        CancelAll: () => ({ kind, message: { market: r.int(4), nonce: BigInt(i) } }),
        Replace: () => ({ kind, message: { orderId: r.big(1n << 63n), price: r.big(1n << 60n), size: r.big(1n << 40n), nonce: BigInt(i) } }),
        Cancel: () => ({ kind, message: { orderId: r.big(1n << 63n), nonce: BigInt(i) } }),
        Transfer: () => ({ kind, message: { to: getAddress(toHex(r.bytes(20))), asset: r.int(2), amount: r.big(1n << 50n), nonce: BigInt(i) } }),
        Withdraw: () => ({ kind, message: { to: getAddress(toHex(r.bytes(20))), asset: r.int(2), amount: r.big(1n << 50n), nonce: BigInt(i) } }),
        OraclePrice: () => ({ kind, message: { market: r.int(4), price: r.big(1n << 60n), timestamp: BigInt(1_700_000_000 + i) } }),
      }[kind]() as TxMessage
      const signature = await signTx(account, CHAIN, tx)
      cases.push({ tx, signature, why: `valid ${kind}` })
      if (i % 5 === 0) cases.push({ tx, signature: highS(signature), why: `high-s ${kind}` })
      if (i % 5 === 1) {
        const b = hexToBytes(signature)
        b[64] = 29
        cases.push({ tx, signature: bytesToHex(b), why: `bad v ${kind}` })
      }
      if (i % 5 === 2) cases.push({ tx, signature: bytesToHex(new Uint8Array(65).fill(0xff)), why: 'garbage' })
      if (i % 5 === 3) {
        const b = hexToBytes(signature)
        b[10]! ^= 1
        cases.push({ tx, signature: bytesToHex(b), why: `flipped r bit ${kind}` })
      }
      if (i % 5 === 4 && tx.kind !== 'OraclePrice') {
        const tampered = { ...tx, message: { ...tx.message, nonce: (tx.message as { nonce: bigint }).nonce + 1n } } as TxMessage
        cases.push({ tx: tampered, signature, why: `message changed after signing ${kind}` })
      }
    }
    // One at a time (the per-turn path) and all at once (recoverMany, split across threads).
    const single = await Promise.all(cases.map((c) => pool.recover(encodeItem(c.tx, c.signature))))
    const many = await pool.recoverMany(cases.map((c) => encodeItem(c.tx, c.signature)))
    let refused = 0
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!
      const expected = await viemSigner(c.tx, c.signature)
      const digest = hashTypedData({ domain: eip712Domain(CHAIN), types: eip712Types, primaryType: c.tx.kind, message: typedMessage(c.tx) as never })
      for (const got of [single[i], many[i]]) {
        expect(got, c.why).to.not.equal(undefined)
        expect(bytesToHex(got!.digest), `digest, ${c.why}`).to.equal(digest)
        expect(got!.signer, `signer, ${c.why}`).to.equal(expected)
      }
      if (!expected) refused++
      // The answer is in the main thread's memo, and equals a fresh recovery there.
      const mem = ecrecover(hexToBytes(digest), signatureToWire(c.signature))
      expect(mem && getAddress(bytesToHex(mem)), `memo, ${c.why}`).to.equal(expected)
    }
    expect(refused, 'the invalid cases were exercised').to.be.greaterThan(30)
  })

  it('answers items that are not signed transactions (DELAYED, unknown type, truncated) with undefined', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const tx: TxMessage = { kind: 'Cancel', message: { orderId: 1n, nonce: 0n } }
    const item = encodeItem(tx, await account.signTypedData({ domain: eip712Domain(CHAIN), types: eip712Types, primaryType: 'Cancel', message: tx.message }))
    const got = await pool.recoverMany([encodeDelayedItem(3), Uint8Array.of(0x7f, 1, 2, 3), item.subarray(0, item.length - 1), new Uint8Array(0), item])
    expect(got.slice(0, 4)).to.deep.equal([undefined, undefined, undefined, undefined])
    expect(got[4]!.signer).to.equal(account.address)
  })

  it('gives the same answers on the calling thread (threads: 0) and after a worker thread dies', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const items = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const tx: TxMessage = { kind: 'Cancel', message: { orderId: BigInt(i), nonce: BigInt(i) } }
      return encodeItem(tx, await account.signTypedData({ domain: eip712Domain(CHAIN), types: eip712Types, primaryType: 'Cancel', message: tx.message }))
    }))
    const inline = new RecoveryPool({ chainId: CHAIN, threads: 0 })
    expect((await inline.recoverMany(items)).map((x) => x?.signer)).to.deep.equal(items.map(() => account.address))
    await inline.close()
    const lines: string[] = []
    const fragile = new RecoveryPool({ chainId: CHAIN, threads: 2, log: (l) => lines.push(l) })
    const answers = fragile.recoverMany(items)
    // The jobs leave on the next turn; this malformed one reaches thread 0 first and kills it (an
    // uncaught error in the thread), so its job dies with it. Not worker.terminate(): stopping a
    // thread inside a secp256k1 call aborts the process (executor/tsWorker.ts stopWorker).
    const [victim] = (fragile as unknown as { threads: { worker: Worker }[] }).threads
    const died = new Promise((resolve) => victim!.worker.once('exit', resolve))
    victim!.worker.postMessage({ id: -1 })
    expect(await died).to.equal(1)
    expect((await answers).map((x) => x?.signer)).to.deep.equal(items.map(() => account.address))
    expect(fragile.size).to.equal(1)
    await fragile.close()
  })
  it('close() while threads are inside secp256k1 calls, 8 times: answers stay right and the process lives', async () => {
    // Before stopWorker, close() called worker.terminate() and one time in a few the addon's
    // C++ exception aborted the whole process (exit 134) — CI's mocha run died that way.
    const account = privateKeyToAccount(generatePrivateKey())
    const signed = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const tx: TxMessage = { kind: 'Cancel', message: { orderId: BigInt(i), nonce: BigInt(i) } }
      return encodeItem(tx, await account.signTypedData({ domain: eip712Domain(CHAIN), types: eip712Types, primaryType: 'Cancel', message: tx.message }))
    }))
    const items = Array.from({ length: 200 }, () => signed).flat() // ~100 ms of work per thread
    const r = rng(6)
    for (let round = 0; round < 8; round++) {
      const p = new RecoveryPool({ chainId: CHAIN, threads: 2 })
      await p.ready()
      const answers = p.recoverMany(items)
      await new Promise((resolve) => setTimeout(resolve, 5 + r.int(60)))
      await p.close()
      expect((await answers).map((x) => x?.signer), `round ${round}`).to.deep.equal(items.map(() => account.address))
    }
  })
})
