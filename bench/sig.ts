/**
 * `sig`: the reference every sequencer and engine figure is compared with — raw public-key
 * recovery with libsecp256k1 on one core (executor/vm/ecrecover.ts, the function the sequencer
 * and the engine's host call use), over pre-signed EIP-712 order digests. For context, viem's
 * recoverTypedDataAddress and hashTypedData, and the fast digest (hash-wasm keccak).
 */
import { type Hex, bytesToHex, hashTypedData, hexToBytes, recoverTypedDataAddress } from 'viem'
import { ecrecoverUncached as ecrecover } from '../executor/vm/ecrecover.js'
import { eip712Domain, eip712Types, signatureToWire, type TxMessage, typedMessage } from '../sdk/protocol.js'
import { FastSigner } from './signer.js'
import { type BenchSection, benchKey, rate, rateAsync } from './lib.js'

const CHAIN_ID = 424242

export const sigSection: BenchSection = {
  name: 'sig',
  description: 'reference: libsecp256k1 public-key recovery on one core; viem recovery and EIP-712 hashing for context',
  async run(ctx) {
    const quick = ctx.opts.quick
    const signer = new FastSigner(CHAIN_ID)
    const n = 2_000
    const keys = Array.from({ length: 16 }, (_, i) => benchKey('sig', i))
    const txs: TxMessage[] = Array.from({ length: n }, (_, i) => ({
      kind: 'Order',
      message: { market: 1, isBuy: i % 2 === 0, price: 60_000_000_000n + BigInt(i % 50) * 1_000_000n, size: BigInt(1 + (i % 7)), nonce: BigInt(i) },
    }))
    // viem needs every field of an Order spelled out (sdk/protocol.ts typedMessage)
    const typed = txs.map(typedMessage)
    const signed = txs.map((tx, i) => {
      const key = keys[i % keys.length]!
      const sig = signer.sign(hexToBytes(key), tx)
      return { tx, sig, wire: signatureToWire(sig), digest: signer.digest(tx), key }
    })
    await signer.crossCheckWithViem(signed.slice(0, 8).map((s) => ({ key: s.key, tx: s.tx })))
    // Sanity: the fast path recovers what viem recovers.
    const check = await recoverTypedDataAddress({ domain: eip712Domain(CHAIN_ID), types: eip712Types, primaryType: 'Order', message: typed[0] as never, signature: signed[0]!.sig })
    if (bytesToHex(ecrecover(signed[0]!.digest, signed[0]!.wire)!) !== check.toLowerCase()) throw new Error('ecrecover disagrees with viem')
    ctx.progress(`pre-signed ${n} order digests; measuring libsecp256k1 recovery`)

    const ms = quick ? 700 : 3_000
    // Warm up, then measure.
    rate(200, 100, (i) => ecrecover(signed[i % n]!.digest, signed[i % n]!.wire))
    const rec = rate(ms, 100, (i) => {
      const s = signed[i % n]!
      if (!ecrecover(s.digest, s.wire)) throw new Error('recovery failed')
    })
    ctx.figure({ key: 'sig_recover_per_s_one_core', value: rec.perSecond, unit: 'recoveries/s', reference: 'sig_recover_per_s_one_core', note: 'the reference (libsecp256k1, executor/vm/ecrecover.ts)' })
    ctx.progress(`libsecp256k1: ${Math.round(rec.perSecond)} recoveries/s; measuring viem recoverTypedDataAddress`)

    const viem = await rateAsync(quick ? 500 : 2_000, (i) => {
      const s = signed[i % n]!
      return recoverTypedDataAddress({ domain: eip712Domain(CHAIN_ID), types: eip712Types, primaryType: 'Order', message: typed[i % n] as never, signature: s.sig as Hex })
    })
    ctx.figure({ key: 'sig_viem_recover_per_s', value: viem.perSecond, unit: 'recoveries/s', reference: 'sig_recover_per_s_one_core', note: 'viem recoverTypedDataAddress (noble), includes the EIP-712 hash' })

    const hash = rate(quick ? 500 : 2_000, 50, (i) => {
      hashTypedData({ domain: eip712Domain(CHAIN_ID), types: eip712Types, primaryType: 'Order', message: typed[i % n] as never })
    })
    ctx.figure({ key: 'eip712_hash_per_s', value: hash.perSecond, unit: 'hashes/s', reference: 'sig_recover_per_s_one_core', note: 'viem hashTypedData, for comparison' })

    const fast = rate(quick ? 300 : 1_000, 100, (i) => signer.digest(txs[i % n]!))
    ctx.figure({ key: 'eip712_hash_fast_per_s', value: fast.perSecond, unit: 'hashes/s', reference: 'sig_recover_per_s_one_core', note: 'the same digest with TxDigester (sequencer/digest.ts), what the sequencer uses' })
  },
}
