/**
 * The whole path on a real devnet (anvil, Redis, SQLite): deposits → orders → batches on L1 →
 * state roots derived from L1 alone → assertion confirmed → withdrawal paid once on L1.
 */
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import path from 'node:path'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
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
    // L1 counts a batch a moment before the poster records it: wait for the two to agree.
    const l1 = l1Public(dev.state.l1)
    const batchCount = async () => Number(await l1.readContract({ address: dev.state.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' }))
    await until('journal and L1 to agree', async () => (seq.journal.batches('posted').length === (await batchCount()) ? true : undefined))
    expect(seq.journal.batches('posted').map((b) => b.index)).to.deep.equal([...Array(await batchCount()).keys()])
  })

  it('the runnable viem example in docs/api.md places an order', async () => {
    const doc = readFileSync('docs/api.md', 'utf8')
    const code = /save as `example.ts`[^]*?```ts\n([^]*?)```/.exec(doc)?.[1]
    expect(code, 'docs/api.md has the example').to.be.a('string')
    const file = `.api-example-${process.pid}.ts`
    writeFileSync(file, code!.replace("'http://127.0.0.1:8547'", JSON.stringify(dev.node.url)))
    try {
      // Async: the devnet answering the example runs on this process's event loop.
      const { stdout: out } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' })
      expect(out).to.match(/status: 'accepted'/)
      expect(out).to.match(/signer: '0x90F79bf6EB2c4f870365E785982E1f101E93b906'/)
    } finally {
      rmSync(file, { force: true })
    }
  })

  it('a restarted node resumes from its journal without losing or duplicating a batch', async () => {
    const client = new VeridexClient(dev.node.url)
    const trader = privateKeyToAccount(dev.state.keys.traders[0]!)
    // An order acknowledged just before the stop, most likely still in the open batch.
    const acked = await client.placeOrder(trader, { market: BTC_PERP.id, isBuy: true, price: 50_000_000_000n, size: 1n })
    const before = { account: await client.account(trader.address), book: await client.orderBook(BTC_PERP.id, 50) }
    const seq = dev.node.sequencer
    const dataDir = path.dirname(seq.journal.db.name)
    const lastBefore = seq.journal.lastBatch()!.index
    await dev.node.stop()
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
    expect(await c2.account(trader.address)).to.deep.equal(before.account)
    expect(await c2.orderBook(BTC_PERP.id, 50)).to.deep.equal(before.book)
    expect(await c2.request('vdx_getOrder', [acked.orderId])).to.deep.include({ orderId: acked.orderId, remaining: '1' })
    // New traffic; then every batch is on L1 exactly once, in journal order.
    await c2.submitOraclePrice(privateKeyToAccount(dev.state.keys.oracle), { market: BTC_PERP.id, price: 61_000_000_000n, timestamp: BigInt(Math.floor(Date.now() / 1000)) + 100n })
    const l1 = l1Public(dev.state.l1)
    const batchCount = async () => Number(await l1.readContract({ address: dev.state.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' }))
    await until('all batches posted after the restart', async () => {
      const last = node.sequencer.journal.lastBatch()!
      return last.index >= lastBefore && last.status === 'posted' && (await batchCount()) === last.index + 1 ? true : undefined
    })
    expect(node.sequencer.journal.batches('posted').map((b) => b.index)).to.deep.equal([...Array(await batchCount()).keys()])
  })
})
