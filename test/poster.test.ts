/**
 * The batch poster's BullMQ queue is private to one journal: two nodes sharing a Redis, whose
 * L1 contracts have the same addresses (anvil deploys deterministically), each post their own
 * batches and never take each other's jobs.
 */
import { expect } from 'chai'
import { privateKeyToAccount } from 'viem/accounts'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { l1Public } from '../contracts/l1.js'
import { Journal } from '../sequencer/journal.js'
import { VeridexClient } from '../sdk/client.js'
import { BTC_PERP } from '../cli/config.js'
import { tempDir, testDevnet, until } from './helpers/devnet.js'
import type { Devnet } from '../cli/devnet.js'
import path from 'node:path'

describe('batch poster isolation', function () {
  this.timeout(120_000)
  const devnets: Devnet[] = []
  after(async () => {
    for (const d of devnets) await d.stop()
  })

  it('a journal keeps one instance id across reopening, and two journals differ', () => {
    const dir = tempDir('journal')
    const a = new Journal(path.join(dir, 'a.sqlite'))
    const id = a.instanceId
    a.close()
    const again = new Journal(path.join(dir, 'a.sqlite'))
    expect(again.instanceId).to.equal(id)
    const b = new Journal(path.join(dir, 'b.sqlite'))
    expect(b.instanceId).to.not.equal(id)
    again.close()
    b.close()
  })

  it('two devnets with identical contract addresses on one Redis each post their own batches', async () => {
    devnets.push(await testDevnet(), await testDevnet())
    const [a, b] = devnets as [Devnet, Devnet]
    expect(a.state.deployment.inbox).to.equal(b.state.deployment.inbox)
    for (const d of devnets) {
      const client = new VeridexClient(d.node.url)
      for (let i = 1; i <= 3; i++) {
        await client.submitOraclePrice(privateKeyToAccount(d.state.keys.oracle), { market: BTC_PERP.id, price: BigInt(60_000 + i) * 1_000_000n, timestamp: BigInt(Math.floor(Date.now() / 1000) + i) })
        d.node.sequencer.closeBatch()
      }
    }
    for (const d of devnets) {
      const last = d.node.sequencer.journal.lastBatch()!.index
      await until('every batch posted on its own L1', () => (d.node.sequencer.journal.batches('posted').length === last + 1 ? true : undefined), 30_000)
      const onL1 = (await l1Public(d.state.l1).readContract({ address: d.state.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
      expect(Number(onL1)).to.equal(last + 1)
    }
  })
})
