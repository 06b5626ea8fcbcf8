import { expect } from 'chai'
import { AckLatency, LatencyHistogram } from '../sequencer/ackLatency.js'

describe('acknowledgement latency histogram', () => {
  it('reports quantiles as the upper edge of 0.1 ms buckets, and differences between copies', () => {
    const h = new LatencyHistogram()
    for (let i = 0; i < 98; i++) h.record(1.23)
    h.record(40.05)
    h.record(2_500) // past the last bucket: kept as the maximum
    expect(h.summary()).to.deep.equal({ count: 100, p50Ms: 1.3, p99Ms: 40.1, maxMs: 2_500 })
    expect(h.quantile(1)).to.equal(2_500)
    const one = new LatencyHistogram()
    one.record(7.93) // a bucket's edge above the largest reading is not reported
    expect(one.summary()).to.deep.equal({ count: 1, p50Ms: 7.9, p99Ms: 7.9, maxMs: 7.9 })
    const before = h.copy()
    h.record(7)
    h.record(7.01)
    const d = h.since(before)
    expect(d.count).to.equal(2)
    expect(d.summary()).to.include({ p50Ms: 7.1, p99Ms: 7.1 })
    expect(new LatencyHistogram().summary()).to.deep.equal({ count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 })
  })

  it('keeps the current and the previous minute for recent(), and forgets older readings', () => {
    let now = 0
    const a = new AckLatency(() => now)
    a.record(5)
    now = 30_000
    a.record(6)
    expect(a.recent().count).to.equal(2)
    now = 70_000 // a new window: the first one is now the previous
    a.record(1)
    expect(a.recent()).to.include({ count: 3, maxMs: 6 })
    now = 135_000 // the first window is two back: gone
    expect(a.recent()).to.include({ count: 1, maxMs: 1 })
    now = 400_000
    expect(a.recent().count).to.equal(0)
    expect(a.total.count).to.equal(3)
  })
})
