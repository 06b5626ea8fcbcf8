/**
 * Crash survival: `veridex node` runs as a child process under a load of signed orders and is
 * SIGKILLed at random moments, 20 times, restarting each time. Afterwards every acknowledged
 * order is in the journal, in the batch it was acknowledged in and in acknowledgement order;
 * L1's batches are exactly the journal's (none skipped, none twice, SequencerInbox's
 * accumulators equal those computed from the journal, one L1 transaction per batch); and a
 * fresh verifier derives from L1 the state roots the sequencer journaled.
 */
import { expect } from 'chai'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { bytesToHex } from 'viem'
import { freePort } from '../contracts/anvil.js'
import { Verifier } from '../executor/verifier.js'
import { Journal } from '../sequencer/journal.js'
import { VeridexClient } from '../sdk/client.js'
import { NodeProcess, OrderLoad, PrivateRedis, journalAccumulators, readL1, setupL1, type L1Setup } from './helpers/cluster.js'
import { tempDir, until } from './helpers/devnet.js'
import { rng } from './helpers/rng.js'

const KILLS = Number(process.env.VERIDEX_CRASH_KILLS ?? 20)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('crash: kill -9 the node under load', function () {
  this.timeout(900_000)
  let setup: L1Setup
  let redis: PrivateRedis
  let node: NodeProcess
  let dataDir: string

  before(async () => {
    setup = await setupL1({ traders: 8 })
    redis = await PrivateRedis.start()
    dataDir = tempDir('crash')
    node = new NodeProcess({ setup, redisUrl: redis.url, dataDir, port: await freePort(), batchAgeMs: 200, logFile: path.join(dataDir, 'node.log') })
    await node.start()
    await node.primeForOrders()
  })
  after(async () => {
    await node?.stop('SIGKILL')
    node?.close()
    await redis?.kill()
    await setup?.anvil.stop()
  })

  it(`loses no acknowledged order over ${KILLS} SIGKILLs, and L1 holds exactly the journal's batches`, async () => {
    const started = Date.now()
    const random = rng(20_261_122)
    const load = new OrderLoad(node.url, setup.keys.traders, setup.genesis.chainId)
    let stop = false
    const running = load.run(() => stop)
    const killedAt: number[] = []
    for (let k = 0; k < KILLS; k++) {
      await sleep(200 + random.int(1_800))
      killedAt.push(load.acks.length)
      await node.stop('SIGKILL')
      await node.start()
    }
    await sleep(1_000)
    stop = true
    await running
    expect(load.acks.length, 'orders acknowledged').to.be.greaterThan(KILLS * 10)
    expect(killedAt.filter((n, i) => n > (killedAt[i - 1] ?? 0)).length, 'orders acknowledged between kills').to.be.greaterThan(KILLS / 2)

    // Let the last batch close and every batch land, then stop the node cleanly to read its journal.
    const client = new VeridexClient(node.url)
    await until('every batch posted', async () => {
      const s = await client.status() as { openBatch: unknown; latestBatch: { index: number } | null; latestPostedBatch: { index: number } | null }
      return s.openBatch === null && s.latestBatch && s.latestPostedBatch?.index === s.latestBatch.index ? true : undefined
    }, 120_000)
    await node.stop('SIGTERM')
    const journal = new Journal(path.join(dataDir, 'sequencer.sqlite'))
    try {
      // 1. Every acknowledged order is journaled, in the batch it was acknowledged in, in order.
      const position = new Map<string, { pos: number; batch: number }>()
      let pos = 0
      const batches = journal.batches()
      for (const b of batches) for (const it of journal.items(b.index)) position.set(bytesToHex(it.item), { pos: pos++, batch: b.index })
      const placed = load.acks.map((a) => ({ ...a, at: position.get(a.item) }))
      const missing = placed.filter((a) => !a.at)
      expect(missing.length, `acknowledged orders missing from the journal (of ${load.acks.length})`).to.equal(0)
      for (const a of placed) expect(a.at!.batch, 'journaled in the batch it was acknowledged in').to.equal(a.batch)
      // An order acknowledged before another was sent comes first in the journal.
      placed.sort((x, y) => x.at!.pos - y.at!.pos)
      let earliestAckAfter = Infinity
      for (let i = placed.length - 1; i >= 0; i--) {
        expect(placed[i]!.sentAt, `order at journal position ${placed[i]!.at!.pos} was sent after a later-journaled order was acknowledged`).to.be.at.most(earliestAckAfter)
        earliestAckAfter = Math.min(earliestAckAfter, placed[i]!.ackAt)
      }

      // 2. L1 holds exactly the journal's batches: same data, same headers, same accumulators.
      expect(batches.every((b) => b.status === 'posted'), 'every batch posted').to.equal(true)
      const onL1 = await readL1(setup)
      const accs = journalAccumulators(journal)
      expect(onL1.batches.map((b) => b.index)).to.deep.equal(batches.map((b) => b.index))
      for (const [i, b] of onL1.batches.entries()) {
        expect(bytesToHex(b.data), `batch ${i} data`).to.equal(bytesToHex(batches[i]!.data!))
        expect(b.header).to.deep.equal({ afterDelayedCount: batches[i]!.afterDelayedCount, timestamp: batches[i]!.timestamp })
      }
      expect(onL1.l1Accs, 'SequencerInbox.batchAccs').to.deep.equal(accs)
      expect(onL1.sequencerTxs, 'L1 transactions sent by the sequencer: one per batch, none reverted or repeated').to.equal(batches.length)

      // 3. A fresh verifier derives the sequencer's state roots from L1 alone.
      const verifier = await Verifier.create({ l1: setup.l1, inbox: setup.deployment.inbox, fromBlock: setup.deployment.deployBlock, genesis: setup.genesis, dbPath: path.join(tempDir('crash-verifier'), 'v.sqlite') })
      await verifier.sync()
      for (const b of batches) expect(verifier.verified(b.index)?.stateRoot, `state root of batch ${b.index}`).to.equal(b.stateRoot)
      await verifier.stop()

      const items = pos
      const log = readFileSync(path.join(dataDir, 'node.log'), 'utf8')
      const count = (re: RegExp) => [...log.matchAll(re)].length
      console.log(`      crash: ${KILLS} SIGKILLs, ${load.acks.length} orders acknowledged, ${load.unanswered} requests cut off by a kill, ${load.rejected} rejected, ` +
        `${items} journaled items in ${batches.length} batches, ${onL1.sequencerTxs} sequencer L1 transactions; ${count(/by a process that stopped/g)} kills mid-post ` +
        `(${count(/was already on L1/g)} after the transaction landed), ${((Date.now() - started) / 1000).toFixed(0)} s`)
    } finally {
      journal.close()
    }
  })
})
