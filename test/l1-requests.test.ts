/**
 * What a node costs its L1 endpoint. Public endpoints meter requests (per second and per day), so
 * every L1 reader of `veridex node` (the verifier, the sequencer's delayed-message reader, the
 * proposer, its dispute defender) reads L1 once per `--l1-poll`, the post reconciler at most as
 * often, and the Rollup's immutables are read once. Counted at a proxy in front of anvil, for
 * `veridex node` as an operator runs it (`--l1-poll` at its default, 2 s).
 */
import { expect } from 'chai'
import { toFunctionSelector } from 'viem'
import { ProxiedNode } from './helpers/cluster.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const POLL_MS = 2_000

describe('L1 requests of an idle node', function () {
  this.timeout(180_000)
  let n: ProxiedNode

  before(async () => {
    n = await ProxiedNode.start({ name: 'l1-requests', traders: 1, node: { withProposer: true, l1PollMs: POLL_MS } })
  })
  after(async () => {
    await n?.stop()
  })

  it(`reads L1 about once per --l1-poll per reader, and the Rollup's immutables once`, async () => {
    await sleep(2 * POLL_MS) // start-up: the first polls, the batch of the setup's deposits
    const before = { ...n.proxy.stats.calls }
    const t0 = Date.now()
    await sleep(5 * POLL_MS)
    const seconds = (Date.now() - t0) / 1000
    const calls = Object.fromEntries(Object.entries(n.proxy.stats.calls).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0))
    const methods = Object.entries(calls).filter(([k]) => !k.startsWith('eth_call '))
    const perSecond = methods.reduce((a, [, v]) => a + (v as number), 0) / seconds
    console.log(`      idle node, --l1-poll ${POLL_MS} ms: ${perSecond.toFixed(1)} L1 calls/s ${JSON.stringify(calls)}`)
    // Four readers at ~3 calls a poll, and the reconciler's ~3 per round: under 10 a second.
    // (Before the proposer and its defender followed --l1-poll: 21 a second.)
    expect(perSecond).to.be.below(10)
    for (const immutable of ['challengePeriod()', 'bond()']) {
      expect(n.proxy.stats.calls[`eth_call ${toFunctionSelector(immutable)}`] ?? 0, `${immutable}: read once in the node's life`).to.be.at.most(1)
    }
  })
})
