import { expect } from 'chai'
import { keccak256, concat, toBytes } from 'viem'
import { keccak, keccak2 } from '../executor/vm/keccak.js'

describe('fast keccak (hash-wasm) agrees with viem', () => {
  it('on inputs of every length from 0 to 300 bytes and on pairs', () => {
    for (let n = 0; n <= 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n * 7) & 0xff)
      expect(Buffer.from(keccak(data)).toString('hex')).to.equal(keccak256(data).slice(2))
      const half = data.subarray(0, n >> 1)
      const rest = data.subarray(n >> 1)
      expect(Buffer.from(keccak2(half, rest)).toString('hex')).to.equal(keccak256(concat([half, rest])).slice(2))
    }
    expect(Buffer.from(keccak(toBytes('abc'))).toString('hex')).to.equal('4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45')
  })
})
