/** The token buckets behind the node's rate limits (sequencer/rpc/rateLimit.ts), on a fake clock. */
import { expect } from 'chai'
import { OVERSIZED_COST, RateLimits, TokenBuckets, normalizeIp } from '../sequencer/rpc/rateLimit.js'
import { RateLimitedError, RpcErrorCode } from '../sequencer/rpc/errors.js'
import { RpcServer } from '../sequencer/rpc/server.js'
import { WsPeer, post, rpcBody } from './helpers/hostile.js'

describe('rate limits', () => {
  let t = 0
  const now = () => t
  beforeEach(() => (t = 0))

  it('a bucket spends its burst, then refills at its rate and says how long to wait', () => {
    const b = new TokenBuckets({ perSecond: 10, burst: 5 }, 100, now)
    for (let i = 0; i < 5; i++) expect(b.take('k')).to.equal(0)
    expect(b.take('k')).to.equal(100) // one token takes 100 ms at 10/s
    expect(b.wait('k', 3)).to.equal(300)
    t += 250
    expect(b.take('k', 2)).to.equal(0)
    expect(b.take('k')).to.equal(50)
    t += 10_000
    expect(b.wait('k', 5)).to.equal(0) // refilled, never above the burst
    expect(b.take('k', 6)).to.equal(Infinity) // more than the burst can ever hold
    expect(b.take('other', 5)).to.equal(0) // keys are independent
  })

  it('many IPs within their own invalid-signature budgets: once the shared budget is spent, IPs that sent one lately are refused before recovery, clean ones are not', () => {
    const l = new RateLimits({ now, exempt: [], invalidSignature: { perSecond: 1, burst: 5 }, invalidSignatureTotal: { perSecond: 2, burst: 4 } })
    // Four addresses, one invalid signature each: every one within its own budget of 5.
    for (const ip of ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']) {
      l.checkInvalidSignatures(ip)
      l.noteInvalidSignature(ip)
    }
    let err: unknown
    try {
      l.checkInvalidSignatures('10.1.0.1')
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(RateLimitedError)
    const j = (err as RateLimitedError).toJSON()
    expect(j.data).to.deep.equal({ scope: 'invalidSignatureTotal', key: '10.1.0.1', perSecond: 2, burst: 4, cost: 1, retryAfterMs: 500 })
    expect(j.message).to.match(/invalid signatures from all clients together, and this client IP sent one in the last minute .*retry after 500 ms/)
    l.checkInvalidSignatures('10.1.0.9') // never sent one: served
    // A new address's first invalid signature still reaches recovery; then it is suspect too.
    l.noteInvalidSignature('10.1.0.9')
    expect(() => l.checkInvalidSignatures('10.1.0.9')).to.throw(RateLimitedError)
    t += 500 // the shared budget has a token again
    l.checkInvalidSignatures('10.1.0.2')
    l.noteInvalidSignature('10.1.0.2')
    expect(() => l.checkInvalidSignatures('10.1.0.3')).to.throw(RateLimitedError)
    t += 61_000 // refilled, and nobody is suspect any more
    for (const ip of ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.9']) l.checkInvalidSignatures(ip)
  })

  it('memory stays bounded: refilled buckets are swept, then the oldest dropped', () => {
    const b = new TokenBuckets({ perSecond: 1, burst: 2 }, 10, now)
    for (let i = 0; i < 10; i++) b.take(`k${i}`, 2)
    expect(b.size).to.equal(10)
    b.take('new')
    expect(b.size).to.be.at.most(10)
    t += 5_000 // all refilled: a sweep drops them
    b.take('newer')
    expect(b.size).to.be.at.most(2)
  })

  it('refuses with -32092, the scope, the limit and when to retry; exempt IPs skip everything', () => {
    const l = new RateLimits({ now, exempt: ['10.0.0.9'], ip: { perSecond: 2, burst: 3 }, signer: { perSecond: 1, burst: 1 }, invalidSignature: { perSecond: 1, burst: 2 }, maxConnectionsPerIp: 2 })
    l.chargeRequests('10.0.0.1', 3)
    let err: unknown
    try {
      l.chargeRequests('::ffff:10.0.0.1', 1)
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(RateLimitedError)
    const j = (err as RateLimitedError).toJSON()
    expect(j.code).to.equal(RpcErrorCode.RATE_LIMITED).and.equal(-32092)
    expect(j.message).to.equal('rate limited: too many requests from this client IP (limit 2/s, burst 3); retry after 500 ms and slow down')
    expect(j.data).to.deep.equal({ scope: 'ip', key: '10.0.0.1', perSecond: 2, burst: 3, cost: 1, retryAfterMs: 500 })
    expect(l.ipRefusal('10.0.0.1')?.retryAfterMs).to.equal(500)
    expect(() => l.chargeRequests('10.0.0.2', 4)).to.throw(/a batch of 4 exceeds the burst.*split it/)

    l.chargeSigner('0xabc', '10.0.0.3')
    expect(() => l.chargeSigner('0xabc', '10.0.0.4')).to.throw(/signed transactions from this signer/) // per signer, whatever the IP
    l.noteInvalidSignature('10.0.0.5')
    l.checkInvalidSignatures('10.0.0.5')
    l.noteInvalidSignature('10.0.0.5')
    expect(() => l.checkInvalidSignatures('10.0.0.5')).to.throw(/invalid signatures from this client IP/)

    expect([l.openConnection('10.0.0.6'), l.openConnection('10.0.0.6'), l.openConnection('10.0.0.6')]).to.deep.equal([true, true, false])
    l.closeConnection('10.0.0.6')
    expect(l.connections('10.0.0.6')).to.equal(1)
    expect(l.openConnection('10.0.0.6')).to.equal(true)

    for (let i = 0; i < 100; i++) {
      l.chargeRequests('10.0.0.9', 100)
      l.chargeSigner('0xdef', '10.0.0.9')
      l.noteInvalidSignature('10.0.0.9')
      l.checkInvalidSignatures('10.0.0.9')
      expect(l.openConnection('10.0.0.9')).to.equal(true)
    }
  })

  it('an oversized upload spends budget without being refused itself', () => {
    const l = new RateLimits({ now, exempt: [], ip: { perSecond: 1, burst: OVERSIZED_COST + 1 } })
    l.chargeOversized('10.0.0.7')
    expect(l.ipRefusal('10.0.0.7')).to.equal(undefined)
    l.chargeOversized('10.0.0.7')
    expect(l.ipRefusal('10.0.0.7')?.data).to.deep.include({ scope: 'ip', key: '10.0.0.7' })
  })

  it('RpcServer: a refused payload is answered per id, never longer than the batch limit, 429 over HTTP', async () => {
    const limits = new RateLimits({ now, exempt: [], ip: { perSecond: 1, burst: 100 } })
    let calls = 0
    const s = new RpcServer({ vdx_x: () => ++calls }, { rateLimits: limits, log: () => {} })
    const { url, wsUrl } = await s.listen()
    try {
      const ws = await WsPeer.open(wsUrl, '127.0.0.20')
      const full = await ws.send(`[${Array.from({ length: 100 }, (_, i) => rpcBody('vdx_x', [], i)).join(',')}]`, 0)
      expect(full).to.have.length(100) // the whole burst, spent; the clock is frozen from here on
      const three = await ws.send(`[${[7, 8, 9].map((i) => rpcBody('vdx_x', [], i)).join(',')},{"jsonrpc":"2.0","method":"vdx_x"}]`, 7)
      expect(three.map((m: any) => [m.id, m.error.code])).to.deep.equal([[7, -32092], [8, -32092], [9, -32092]]) // the notification gets nothing
      const huge = await ws.send(`[${Array(15_000).fill('{}').join(',')}]`, null)
      expect(huge.error.code).to.equal(-32092) // one error, not 15,000
      expect(calls).to.equal(100)
      const h = await post(url, rpcBody('vdx_x', [], 1), { localAddress: '127.0.0.20' })
      expect(h.status).to.equal(429)
      expect(h.headers['retry-after']).to.equal('1')
      expect(h.json.error.data).to.deep.include({ scope: 'ip', key: '127.0.0.20' })
      const other = await post(url, rpcBody('vdx_x', [], 1), { localAddress: '127.0.0.21' })
      expect(other.json.result).to.equal(101)
      await ws.close()
    } finally {
      await s.close()
    }
  })

  it('normalizes IPv4-mapped IPv6 addresses and validates options', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).to.equal('127.0.0.1')
    expect(normalizeIp('::1')).to.equal('::1')
    expect(new RateLimits().isExempt('::ffff:127.0.0.1')).to.equal(true)
    expect(() => new RateLimits({ ip: { perSecond: 0, burst: 1 } })).to.throw(/perSecond/)
    expect(() => new RateLimits({ signer: { perSecond: 1, burst: 0.5 } })).to.throw(/burst/)
    expect(() => new RateLimits({ maxConnectionsPerIp: 0 })).to.throw(/maxConnectionsPerIp/)
  })
})
