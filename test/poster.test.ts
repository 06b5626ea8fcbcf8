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

  it('finds posted batches by status and L1 block through an index, never by reading every batch\'s data', () => {
    const j = new Journal(path.join(tempDir('journal-index'), 'j.sqlite'))
    const data = new Uint8Array(100_000).fill(7)
    const roots = { stateRoot: `0x${'01'.repeat(32)}`, machineRoot: `0x${'02'.repeat(32)}`, outboxRoot: `0x${'03'.repeat(32)}` } as const
    j.db.transaction(() => {
      for (let i = 0; i < 40; i++) {
        j.openBatch(i, 0n, 1n)
        if (i < 38) j.closeBatch(i, data, roots, [])
        if (i < 35) j.markPosted(i, `0x${i.toString(16).padStart(64, '0')}`, BigInt(100 + i))
      }
    })()
    expect(j.postedSince(130n).map((b) => b.index)).to.deep.equal([30, 31, 32, 33, 34])
    expect(j.postedSince(130n).every((b) => b.data === undefined && b.stateRoot === roots.stateRoot)).to.equal(true)
    expect(j.lastPosted()).to.include({ index: 34, l1Block: 134n, data: undefined })
    expect(j.batches('closed').map((b) => b.index)).to.deep.equal([35, 36, 37])
    const headers = j.batchesWithoutData()
    expect(headers.map((b) => [b.index, b.status, b.data])).to.deep.equal(j.batches().map((b) => [b.index, b.status, undefined]))
    expect(headers[36]).to.include({ stateRoot: roots.stateRoot, afterDelayedCount: 0n, timestamp: 1n })
    // A scan would walk each row's ~25 overflow pages to reach the columns after its data.
    const plan = (sql: string, ...args: unknown[]) => j.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => (r as { detail: string }).detail).join('; ')
    const { stmts } = j as unknown as { stmts: Record<'postedSince' | 'lastPosted', { source: string }> }
    expect(plan(stmts.postedSince.source, 130)).to.match(/INDEX batches_status/).and.not.match(/SCAN batches/)
    expect(plan(stmts.lastPosted.source)).to.match(/INDEX batches_status/).and.not.match(/SCAN batches/)
    j.close()
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
