import { expect } from 'chai'
import { bytesToHex, hexToBytes, keccak256, recoverAddress, toHex } from 'viem'
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts'
import { RecoveryLog, ecrecover, ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { signatureToWire } from '../sdk/protocol.js'

describe('fast ecrecover (libsecp256k1) agrees with viem', () => {
  it('recovers the same address for 50 random keys and digests', async () => {
    for (let i = 0; i < 50; i++) {
      const account = privateKeyToAccount(generatePrivateKey())
      const digest = keccak256(toHex(`message ${i}`))
      const signature = await account.sign({ hash: digest })
      const fast = ecrecover(hexToBytes(digest), signatureToWire(signature))
      expect(fast && bytesToHex(fast)).to.equal((await recoverAddress({ hash: digest, signature })).toLowerCase())
    }
  })

  it('rejects bad v, high s and garbage instead of throwing', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const digest = hexToBytes(keccak256('0x01'))
    const wire = signatureToWire(await account.sign({ hash: bytesToHex(digest) }))
    const badV = wire.slice(); badV[0] = 29
    expect(ecrecover(digest, badV)).to.equal(undefined)
    const highS = wire.slice()
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    let s = 0n
    for (let i = 33; i < 65; i++) s = (s << 8n) | BigInt(highS[i]!)
    highS.set(hexToBytes(toHex(n - s, { size: 32 })), 33)
    highS[0] = highS[0] === 27 ? 28 : 27
    expect(ecrecover(digest, highS), 'the malleable twin is refused').to.equal(undefined)
    expect(ecrecover(digest, new Uint8Array(65).fill(0xff))).to.equal(undefined)
    expect(ecrecover(digest.subarray(1), wire)).to.equal(undefined)
  })
})

describe('ecrecover memo', () => {
  it('answers a repeated query exactly as an uncached recovery, and a changed byte is recomputed', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const digest = hexToBytes(keccak256('0x0abc'))
    const wire = signatureToWire(await account.sign({ hash: bytesToHex(digest) }))
    const first = ecrecover(digest, wire)!
    first[0]! ^= 0xff // callers own what they get back: the memo must not be mutated through it
    expect(bytesToHex(ecrecover(digest, wire)!)).to.equal(account.address.toLowerCase())
    expect(bytesToHex(ecrecoverUncached(digest, wire)!)).to.equal(account.address.toLowerCase())
    const other = wire.slice()
    other[40]! ^= 1
    const a = ecrecover(digest, other)
    const b = ecrecoverUncached(digest, other)
    expect(a && bytesToHex(a)).to.equal(b && bytesToHex(b))
    expect(a && bytesToHex(a)).to.not.equal(account.address.toLowerCase())
  })
})

describe('RecoveryLog', () => {
  it('packs entries in push order across growth, and starts empty after each take', () => {
    const entry = (i: number) => ({
      digest: Uint8Array.from({ length: 32 }, (_, j) => (i * 7 + j) & 0xff),
      vrs: Uint8Array.from({ length: 65 }, (_, j) => (i * 13 + j) & 0xff),
      signer: i % 5 === 0 ? undefined : Uint8Array.from({ length: 20 }, (_, j) => (i * 3 + j + 1) & 0xff),
    })
    const log = new RecoveryLog()
    const check = (n: number, from: number) => {
      const k = log.take()
      expect(k.count).to.equal(n)
      expect([k.digests.length, k.signatures.length, k.signers.length, k.ok.length]).to.deep.equal([32 * n, 65 * n, 20 * n, n])
      for (let i = 0; i < n; i++) {
        const e = entry(from + i)
        expect(k.digests.subarray(32 * i, 32 * i + 32)).to.deep.equal(e.digest)
        expect(k.signatures.subarray(65 * i, 65 * i + 65)).to.deep.equal(e.vrs)
        expect(k.ok[i]).to.equal(e.signer ? 1 : 0)
        expect(k.signers.subarray(20 * i, 20 * i + 20)).to.deep.equal(e.signer ?? new Uint8Array(20))
      }
      expect(log.size).to.equal(0)
    }
    // More than its first buffers hold (1,024 entries), then fewer: a reused buffer holds nothing stale.
    for (let i = 0; i < 2_500; i++) log.push(entry(i).digest, entry(i).vrs, entry(i).signer)
    expect(log.size).to.equal(2_500)
    check(2_500, 0)
    for (let i = 0; i < 3; i++) log.push(entry(4 + i).digest, entry(4 + i).vrs, entry(4 + i).signer)
    check(3, 4) // entry 5 (no signer) lands where entry 1 left a signer
  })
})
