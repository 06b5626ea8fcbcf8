/**
 * The whole path on a real devnet (anvil, Redis, SQLite): deposits → orders → batches on L1 →
 * state roots derived from L1 alone → assertion confirmed → withdrawal paid once on L1.
 */
import { expect } from 'chai'
import { privateKeyToAccount } from 'viem/accounts'
import { runDemo } from '../cli/demo.js'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { l1Public } from '../contracts/l1.js'
import { VeridexClient } from '../sdk/client.js'
import { BTC_PERP } from '../cli/config.js'
import { startNode } from '../cli/node.js'
import { testDevnet, until } from './helpers/devnet.js'
import type { Devnet } from '../cli/devnet.js'

describe('end to end on a devnet', function () {
  this.timeout(180_000)
  let dev: Devnet

  before(async () => {
    dev = await testDevnet()
  })
  after(async () => {
    await dev?.stop()
  })

  it('runs the demo: a withdrawal is paid on L1 only after confirmation, and only once', async () => {
    const r = await runDemo({ state: dev.state, log: () => {} })
    expect(r.fills).to.equal(1)
    expect(r.l1BalanceDelta).to.equal(r.withdrawn)
    expect(r.secondFinalizeReverted).to.equal(true)
    expect(r.assertionId > 0n).to.equal(true)
  })

  it('the verifier derives from L1 exactly the state roots the sequencer computed', async () => {
    const client = new VeridexClient(dev.node.url)
    const trader = privateKeyToAccount(dev.state.keys.traders[2]!)
    // Some more traffic, including a rejected order, so the roots cover more than the demo.
    await client.placeOrder(trader, { market: BTC_PERP.id, isBuy: true, price: 59_000_000_000n, size: 10n }).catch(() => undefined)
    const seq = dev.node.sequencer
    await until('a closed batch', () => (seq.openBatch ? undefined : true))
    const last = seq.journal.lastBatch()!
    await until('the verifier to reach the last batch', () => ((dev.node.verifier.head()?.index ?? -1) >= last.index ? true : undefined), 60_000)
    let compared = 0
    for (const b of seq.journal.batches()) {
      if (b.status === 'open') continue
      const v = dev.node.verifier.verified(b.index)
      expect(v, `batch ${b.index} verified`).to.not.equal(undefined)
      expect(v!.stateRoot, `state root of batch ${b.index}`).to.equal(b.stateRoot)
      expect(v!.outboxRoot).to.equal(b.outboxRoot)
      compared++
    }
    expect(compared).to.be.greaterThan(2)
    const l1 = l1Public(dev.state.l1)
    const onL1 = (await l1.readContract({ address: dev.state.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
    expect(Number(onL1)).to.equal(seq.journal.batches('posted').length)
  })

  it('a restarted node resumes from its journal without losing or duplicating a batch', async () => {
    const client = new VeridexClient(dev.node.url)
    const trader = privateKeyToAccount(dev.state.keys.traders[3]!)
    const before = await client.account(trader.address)
    const seq = dev.node.sequencer
    const journalPath = seq.journal.db.name
    const lastBefore = seq.journal.lastBatch()!.index
    await dev.node.stop()
    const dataDir = journalPath.replace(/\/sequencer\.sqlite$/, '')
    const node = await startNode({
      rpcUrl: dev.state.l1.rpcUrl,
      chainId: dev.state.l1.chainId,
      deployment: dev.state.deployment,
      genesis: dev.state.genesis,
      sequencerKey: dev.state.keys.sequencer,
      proposerKey: dev.state.keys.proposer,
      redisUrl: dev.redis.url,
      dataDir,
      batchMaxAgeMs: 300,
      log: () => {},
    })
    dev.node = node
    const c2 = new VeridexClient(node.url)
    expect(await c2.account(trader.address)).to.deep.equal(before)
    // New traffic lands in a new batch after the old ones, and L1 holds each batch once.
    await c2.submitOraclePrice(privateKeyToAccount(dev.state.keys.oracle), { market: BTC_PERP.id, price: 61_000_000_000n, timestamp: BigInt(Math.floor(Date.now() / 1000)) + 100n })
    await until('the new batch on L1', () => {
      const b = node.sequencer.journal.lastBatch()!
      return b.index > lastBefore && b.status === 'posted' ? b : undefined
    })
    const l1 = l1Public(dev.state.l1)
    const onL1 = (await l1.readContract({ address: dev.state.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
    expect(Number(onL1)).to.equal(node.sequencer.journal.lastBatch()!.index + 1)
  })
})
