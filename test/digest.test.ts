import { expect } from 'chai'
import { bytesToHex, getAddress, hashTypedData, toHex } from 'viem'
import { TxDigester } from '../sequencer/digest.js'
import { type OrderMsg, type TxKind, type TxMessage, eip712Domain, eip712Types, typedMessage } from '../sdk/protocol.js'
import { rng } from './helpers/rng.js'

describe('fast EIP-712 digests agree with viem hashTypedData', () => {
  it('for 800 random transactions of every kind (Order options set and omitted), including extreme values', () => {
    const r = rng(11)
    const u64 = () => (r.chance(0.1) ? (r.chance(0.5) ? 0n : (1n << 64n) - 1n) : r.big(1n << 53n) * 2048n + r.big(2048n))
    const u32 = () => (r.chance(0.1) ? 0xffffffff : r.int(0x100000000))
    const u8 = () => (r.chance(0.1) ? 0xff : r.int(256))
    const addr = () => getAddress(toHex(r.bytes(20)))
    const kinds = Object.keys(eip712Types) as TxKind[]
    expect(kinds).to.have.length(8)
    const seen = new Set<string>()
    const order = (): OrderMsg => {
      const m: OrderMsg = { market: u32(), isBuy: r.chance(0.5), price: u64(), size: u64(), nonce: u64() }
      // each option is either omitted (typedMessage fills the default) or set, extremes included;
      // a third of the orders have none, a third all six
      const p = r.pick([0, 0.5, 1])
      if (r.chance(p)) m.orderType = r.chance(0.8) ? r.int(4) : u8()
      if (r.chance(p)) m.timeInForce = r.chance(0.8) ? r.int(3) : u8()
      if (r.chance(p)) m.postOnly = r.chance(0.5)
      if (r.chance(p)) m.reduceOnly = r.chance(0.5)
      if (r.chance(p)) m.triggerPrice = u64()
      if (r.chance(p)) m.expiry = u64()
      seen.add(`${Object.keys(m).length}`)
      return m
    }
    for (const chainId of [1, 424242]) {
      const d = new TxDigester(chainId)
      for (let i = 0; i < 400; i++) {
        const kind = kinds[i % kinds.length]!
        const tx = {
          Order: () => ({ kind, message: order() }),
          Cancel: () => ({ kind, message: { orderId: u64(), nonce: u64() } }),
          CancelAll: () => ({ kind, message: { market: u32(), nonce: u64() } }),
          Replace: () => ({ kind, message: { orderId: u64(), price: u64(), size: u64(), nonce: u64() } }),
          // the config is `bytes`: hashed, so any length digests (the wire needs 130)
          AdminAction: () => ({ kind, message: { action: u8(), config: bytesToHex(r.bytes(r.chance(0.8) ? 130 : r.int(300))), nonce: u64() } }),
          Transfer: () => ({ kind, message: { to: addr(), asset: u32(), amount: u64(), nonce: u64() } }),
          Withdraw: () => ({ kind, message: { to: addr(), asset: u32(), amount: u64(), nonce: u64() } }),
          OraclePrice: () => ({ kind, message: { market: u32(), price: u64(), timestamp: u64() } }),
        }[kind]() as TxMessage
        const viem = hashTypedData({ domain: eip712Domain(chainId), types: eip712Types, primaryType: tx.kind, message: typedMessage(tx) as never })
        expect(bytesToHex(d.digest(tx)), `${kind} ${i}`).to.equal(viem)
      }
    }
    // orders with no option, some options and all six options were all digested
    expect(seen.has('5') && seen.has('11') && seen.size > 4).to.equal(true)
  })

  it('an Order without options digests as the GTC limit order with its defaults spelled out', () => {
    const d = new TxDigester(7)
    const bare: TxMessage = { kind: 'Order', message: { market: 1, isBuy: true, price: 5n, size: 2n, nonce: 3n } }
    const full: TxMessage = { kind: 'Order', message: { ...bare.message, orderType: 0, timeInForce: 0, postOnly: false, reduceOnly: false, triggerPrice: 0n, expiry: 0n } }
    expect(bytesToHex(d.digest(bare))).to.equal(bytesToHex(d.digest(full)))
    const ioc: TxMessage = { kind: 'Order', message: { ...bare.message, timeInForce: 1 } }
    expect(bytesToHex(d.digest(ioc))).to.not.equal(bytesToHex(d.digest(bare)))
  })
})
