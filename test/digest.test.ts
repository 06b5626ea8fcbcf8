import { expect } from 'chai'
import { bytesToHex, getAddress, hashTypedData, toHex } from 'viem'
import { TxDigester } from '../sequencer/digest.js'
import { eip712Domain, eip712Types, type TxMessage } from '../sdk/protocol.js'
import { rng } from './helpers/rng.js'

describe('fast EIP-712 digests agree with viem hashTypedData', () => {
  it('for 500 random transactions of every kind, including extreme values', () => {
    const r = rng(11)
    const u64 = () => (r.chance(0.1) ? (r.chance(0.5) ? 0n : (1n << 64n) - 1n) : r.big(1n << 53n) * 2048n + r.big(2048n))
    const u32 = () => (r.chance(0.1) ? 0xffffffff : r.int(0x100000000))
    const addr = () => getAddress(toHex(r.bytes(20)))
    const kinds = ['Order', 'Cancel', 'Transfer', 'Withdraw', 'OraclePrice'] as const
    for (const chainId of [1, 424242]) {
      const d = new TxDigester(chainId)
      for (let i = 0; i < 250; i++) {
        const kind = kinds[i % kinds.length]!
        const tx = {
          Order: () => ({ kind, message: { market: u32(), isBuy: r.chance(0.5), price: u64(), size: u64(), nonce: u64() } }),
          Cancel: () => ({ kind, message: { orderId: u64(), nonce: u64() } }),
          Transfer: () => ({ kind, message: { to: addr(), asset: u32(), amount: u64(), nonce: u64() } }),
          Withdraw: () => ({ kind, message: { to: addr(), asset: u32(), amount: u64(), nonce: u64() } }),
          OraclePrice: () => ({ kind, message: { market: u32(), price: u64(), timestamp: u64() } }),
        }[kind]() as TxMessage
        const viem = hashTypedData({ domain: eip712Domain(chainId), types: eip712Types, primaryType: tx.kind, message: tx.message as never })
        expect(bytesToHex(d.digest(tx)), `${kind} ${i}`).to.equal(viem)
      }
    }
  })
})
