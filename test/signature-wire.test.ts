import { expect } from 'chai'
import { type Hex, bytesToHex, hexToBytes } from 'viem'
import { SIGNATURE_HEX, signatureToWire } from '../sdk/protocol.js'
import { parseSignedParams } from '../sequencer/validate.js'
import { rng } from './helpers/rng.js'

/** signatureToWire as it was, on viem's hexToBytes: v ‖ r ‖ s with v in {27, 28, …}. */
function viemWire(signature: Hex): Uint8Array {
  const b = hexToBytes(signature)
  const out = new Uint8Array(65)
  out[0] = b[64]! < 27 ? b[64]! + 27 : b[64]!
  out.set(b.subarray(0, 64), 1)
  return out
}

describe('signature hex on the request path (Buffer decoding) agrees with viem', () => {
  it('2,000 random signatures, lower and upper case, every v byte: the same wire bytes', () => {
    const r = rng(21)
    for (let i = 0; i < 2_000; i++) {
      const bytes = r.bytes(65)
      bytes[64] = i % 256
      let hex = bytesToHex(bytes) as Hex
      if (i % 3 === 0) hex = `0x${hex.slice(2).toUpperCase()}` as Hex
      expect(SIGNATURE_HEX.test(hex)).to.equal(true)
      expect(Buffer.from(signatureToWire(hex)).toString('hex')).to.equal(Buffer.from(viemWire(hex)).toString('hex'))
    }
  })

  it('signatureToWire refuses what is not exactly 130 hex digits (viem used to pad 129)', () => {
    for (const bad of [`0x${'ab'.repeat(64)}a`, `0x${'ab'.repeat(65)}0`, `0x${'zz'.repeat(65)}`, 'ab'.repeat(65)])
      expect(() => signatureToWire(bad as Hex), bad).to.throw('signature must be 65 bytes of 0x-hex')
  })

  it('vdx_send* params: a signature of 129 or 131 hex digits, non-hex, 0X or no prefix is refused with the fix', () => {
    const good = `0x${'ab'.repeat(65)}`
    const message = { orderId: '1', nonce: '0' }
    expect(parseSignedParams('Cancel', { message, signature: good }).signature).to.equal(good)
    for (const bad of [good.slice(0, -1), `${good}a`, `0x${'zz'.repeat(65)}`, `0X${'ab'.repeat(65)}`, 'ab'.repeat(65), `0x${'ab'.repeat(64)}`, 42]) {
      expect(() => parseSignedParams('Cancel', { message, signature: bad }), String(bad)).to.throw('signature must be a 65-byte hex string')
    }
  })
})
