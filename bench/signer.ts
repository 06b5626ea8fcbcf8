/**
 * Bulk EIP-712 signing for the benchmarks' inputs (never timed). viem's `signTypedData` signs
 * ~1,000 messages/s here, too slow to prepare tens of thousands of orders, so this computes the
 * same digest with the fast keccak and signs it with libsecp256k1. Both use RFC 6979
 * deterministic nonces and low-s, so the signatures are byte-identical to viem's:
 * `crossCheckWithViem` asserts that on a sample at every use.
 */
import { createRequire } from 'node:module'
import { type Hex, bytesToHex, hexToBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { TxDigester } from '../sequencer/digest.js'
import { eip712Domain, eip712Types, encodeItem, typedMessage, type TxMessage } from '../sdk/protocol.js'

const require = createRequire(import.meta.url)
const secp256k1 = require('secp256k1/bindings') as typeof import('secp256k1')

export class FastSigner {
  private readonly digester: TxDigester

  constructor(readonly chainId: number) {
    this.digester = new TxDigester(chainId)
  }

  /** The EIP-712 digest (what viem's hashTypedData returns). */
  digest(tx: TxMessage): Uint8Array {
    return this.digester.digest(tx)
  }

  /** The r ‖ s ‖ v hex signature viem's signTypedData would return. */
  sign(privateKey: Uint8Array, tx: TxMessage): Hex {
    const { signature, recid } = secp256k1.ecdsaSign(this.digest(tx), privateKey)
    const out = new Uint8Array(65)
    out.set(signature, 0)
    out[64] = 27 + recid
    return bytesToHex(out)
  }

  /** The batch item bytes of a signed transaction. */
  item(privateKey: Uint8Array, tx: TxMessage): Uint8Array {
    return encodeItem(tx, this.sign(privateKey, tx))
  }

  /** Throws unless viem signs each sample to exactly the same bytes. */
  async crossCheckWithViem(samples: { key: Hex; tx: TxMessage }[]) {
    for (const { key, tx } of samples) {
      const viem = await privateKeyToAccount(key).signTypedData({
        domain: eip712Domain(this.chainId),
        types: eip712Types,
        primaryType: tx.kind,
        // an Order's options, omitted or not, spelled out as the 11-field EIP-712 struct
        message: typedMessage(tx),
      } as unknown as Parameters<ReturnType<typeof privateKeyToAccount>['signTypedData']>[0])
      const fast = this.sign(hexToBytes(key), tx)
      if (viem !== fast) throw new Error(`bench signer disagrees with viem on ${tx.kind} ${JSON.stringify(tx.message, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}: ${fast} vs ${viem}`)
    }
  }
}
