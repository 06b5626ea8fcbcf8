/**
 * Bulk EIP-712 signing for the benchmarks' inputs (never timed). viem's `signTypedData` signs
 * ~1,000 messages/s here, too slow to prepare tens of thousands of orders, so this computes the
 * same digest with the fast keccak and signs it with libsecp256k1. Both use RFC 6979
 * deterministic nonces and low-s, so the signatures are byte-identical to viem's:
 * `crossCheckWithViem` asserts that on a sample at every use.
 */
import { createRequire } from 'node:module'
import { type Hex, bytesToHex, hashDomain, hexToBytes, keccak256, toBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { keccak } from '../executor/vm/keccak.js'
import { eip712Domain, eip712Types, encodeItem, type TxMessage } from '../sdk/protocol.js'

const require = createRequire(import.meta.url)
const secp256k1 = require('secp256k1/bindings') as typeof import('secp256k1')

const typeString = (kind: keyof typeof eip712Types) =>
  `${kind}(${eip712Types[kind].map((f) => `${f.type} ${f.name}`).join(',')})`

const TYPEHASH = {
  Order: hexToBytes(keccak256(toBytes(typeString('Order')))),
  Cancel: hexToBytes(keccak256(toBytes(typeString('Cancel')))),
  OraclePrice: hexToBytes(keccak256(toBytes(typeString('OraclePrice')))),
}

export class FastSigner {
  private readonly prefix: Uint8Array
  private readonly buf = new Uint8Array(32 * 6)
  private readonly dv = new DataView(this.buf.buffer)
  private readonly outer = new Uint8Array(66)

  constructor(readonly chainId: number) {
    const domainSep = hexToBytes(hashDomain({ domain: eip712Domain(chainId), types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }] } }))
    this.prefix = new Uint8Array(34)
    this.prefix[0] = 0x19
    this.prefix[1] = 0x01
    this.prefix.set(domainSep, 2)
    this.outer.set(this.prefix, 0)
  }

  private word(i: number, v: bigint) {
    this.buf.fill(0, 32 * i, 32 * i + 32)
    this.dv.setBigUint64(32 * i + 24, v)
  }

  /** The EIP-712 digest of an Order, Cancel or OraclePrice (what viem's hashTypedData returns). */
  digest(tx: TxMessage): Uint8Array {
    let words: number
    switch (tx.kind) {
      case 'Order': {
        const m = tx.message
        this.buf.set(TYPEHASH.Order, 0)
        this.word(1, BigInt(m.market))
        this.word(2, m.isBuy ? 1n : 0n)
        this.word(3, m.price)
        this.word(4, m.size)
        this.word(5, m.nonce)
        words = 6
        break
      }
      case 'Cancel':
        this.buf.set(TYPEHASH.Cancel, 0)
        this.word(1, tx.message.orderId)
        this.word(2, tx.message.nonce)
        words = 3
        break
      case 'OraclePrice':
        this.buf.set(TYPEHASH.OraclePrice, 0)
        this.word(1, BigInt(tx.message.market))
        this.word(2, tx.message.price)
        this.word(3, tx.message.timestamp)
        words = 4
        break
      default:
        throw new Error(`FastSigner does not handle ${tx.kind}`)
    }
    this.outer.set(keccak(this.buf.subarray(0, 32 * words)), 34)
    return keccak(this.outer)
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
        message: tx.message,
      } as unknown as Parameters<ReturnType<typeof privateKeyToAccount>['signTypedData']>[0])
      const fast = this.sign(hexToBytes(key), tx)
      if (viem !== fast) throw new Error(`bench signer disagrees with viem on ${tx.kind} ${JSON.stringify(tx.message, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}: ${fast} vs ${viem}`)
    }
  }
}
