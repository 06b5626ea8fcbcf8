/**
 * The post reconciler checks a posted batch for as long as L1 may still reorg it: at least 64
 * blocks, and as deep as the node reads L1 (`--l1-confirmations`), up to L1's finalized block with
 * `finalized`. On an L1 whose finality lags further behind (a finality incident, a testnet that
 * stopped finalizing), a 64-block window would stop looking at posts a reorg can still drop.
 * Here anvil finalizes 128 blocks under its head (epochs of 64 slots) and a reorg of 101 blocks
 * drops a posted batch: a reconciler at `finalized` sees it and queues it again, and the poster
 * posts it again; one with the 64-block window does not see it.
 */
import { expect } from 'chai'
import path from 'node:path'
import { bytesToHex, zeroHash } from 'viem'
import { l1Wallet } from '../contracts/l1.js'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { bullConnection } from '../cli/redis.js'
import { Journal } from '../sequencer/journal.js'
import { BatchPoster } from '../sequencer/poster.js'
import { PostReconciler } from '../sequencer/postReconciler.js'
import { type L1Setup, setupL1 } from './helpers/cluster.js'
import { tempDir, until } from './helpers/devnet.js'

describe('post reconciler: how long a post is checked', function () {
  this.timeout(120_000)
  let setup: L1Setup
  let journal: Journal
  let poster: BatchPoster

  before(async () => {
    setup = await setupL1({ traders: 0, anvilArgs: ['--slots-in-an-epoch', '64'] })
    journal = new Journal(path.join(tempDir('post-reconciler'), 'journal.sqlite'))
    poster = new BatchPoster({ journal, connection: bullConnection(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'), l1: setup.l1, wallet: l1Wallet(setup.cfg, setup.keys.sequencer), inbox: setup.deployment.inbox })
    await poster.start()
  })
  after(async () => {
    await poster?.close()
    journal?.close()
    await setup?.anvil.stop()
  })

  it('a reconciler at `finalized`, or at 128 blocks, finds a post dropped 101 blocks deep and it is posted again; the 64-block window misses it', async () => {
    const { l1 } = setup
    const c = { address: setup.deployment.inbox, abi: sequencerInboxAbi } as const
    const mine = (n: number) => l1.request({ method: 'anvil_mine' as never, params: [`0x${n.toString(16)}`] as never })
    await mine(200) // so that anvil labels a finalized block
    journal.openBatch(0, 0n, BigInt(Math.floor(Date.now() / 1000)))
    journal.closeBatch(0, Uint8Array.of(0, 1, 2, 3), { stateRoot: zeroHash, machineRoot: zeroHash, outboxRoot: zeroHash }, [])
    await poster.ensureQueued(0)
    const posted = await until('batch 0 posted', () => (journal.batch(0)?.status === 'posted' ? journal.batch(0)! : undefined))
    await mine(100)
    const head = await l1.getBlockNumber({ cacheTime: 0 })
    expect((await l1.getBlock({ blockTag: 'finalized' })).number < posted.l1Block!, 'the post is not finalized').to.equal(true)

    await l1.request({ method: 'anvil_reorg' as never, params: [Number(head - posted.l1Block! + 1n), []] as never })
    expect(Number(await l1.readContract({ ...c, functionName: 'batchCount' })), 'the reorg dropped the post').to.equal(0)

    const window = new PostReconciler({ journal, poster, l1, inbox: setup.deployment.inbox })
    expect((await window.round()).reorged, '64 blocks: the post is out of the window').to.deep.equal([])
    const finalized = new PostReconciler({ journal, poster, l1, inbox: setup.deployment.inbox, confirmations: 'finalized' })
    expect((await finalized.round()).reorged).to.deep.equal([0])
    const again = await until('batch 0 posted again', () => (journal.batch(0)?.status === 'posted' ? journal.batch(0)! : undefined))
    expect(again.l1Block! > head, 'in a block after the reorg').to.equal(true)
    expect(Number(await l1.readContract({ ...c, functionName: 'batchCount' }))).to.equal(1)
    expect(bytesToHex(journal.batch(0)!.data!)).to.equal('0x00010203')

    // the same with a number of blocks deeper than 64: `--l1-confirmations 128`
    await mine(100)
    const head2 = await l1.getBlockNumber({ cacheTime: 0 })
    await l1.request({ method: 'anvil_reorg' as never, params: [Number(head2 - again.l1Block! + 1n), []] as never })
    expect((await window.round()).reorged).to.deep.equal([])
    expect((await new PostReconciler({ journal, poster, l1, inbox: setup.deployment.inbox, confirmations: 128n }).round()).reorged).to.deep.equal([0])
    await until('batch 0 posted a third time', () => (journal.batch(0)?.status === 'posted' ? true : undefined))
  })
})
