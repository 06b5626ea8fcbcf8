/**
 * Redis restarted mid-run: `veridex node` runs under load against a private redis-server that
 * is SIGKILLed and restarted empty (it saves nothing), three times, while L1 is not mining, so
 * closed batches are waiting in Redis as jobs. The poster's jobs are gone with it; the node re-queues every closed batch from its journal, and batch posting resumes:
 * every acknowledged order is journaled, every batch lands on L1 once, in order.
 */
import { expect } from 'chai'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { bytesToHex } from 'viem'
import { freePort } from '../contracts/anvil.js'
import { Journal } from '../sequencer/journal.js'
import { VeridexClient } from '../sdk/client.js'
import { NodeProcess, OrderLoad, PrivateRedis, ackProblems, journalAccumulators, readL1, setupL1, type L1Setup } from './helpers/cluster.js'
import { tempDir, until } from './helpers/devnet.js'

const RESTARTS = 3
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('Redis restarted mid-run', function () {
  this.timeout(600_000)
  let setup: L1Setup
  let redis: PrivateRedis
  let node: NodeProcess
  let dataDir: string

  before(async () => {
    setup = await setupL1({ traders: 4 })
    redis = await PrivateRedis.start()
    dataDir = tempDir('redis-restart')
    node = new NodeProcess({ setup, redisUrl: redis.url, dataDir, port: await freePort(), withProposer: true, batchAgeMs: 300, logFile: path.join(dataDir, 'node.log') })
    await node.start()
    await node.primeForOrders()
  })
  after(async () => {
    await node?.stop('SIGKILL')
    node?.close()
    await redis?.kill()
    await setup?.anvil.stop()
  })

  it(`resumes posting after ${RESTARTS} Redis restarts, losing and repeating nothing`, async () => {
    const load = new OrderLoad(node.url, setup.keys.traders, setup.genesis.chainId, 21)
    let stop = false
    const running = load.run(() => stop)
    const client = new VeridexClient(node.url)
    const posted = async () => ((await client.status()) as { latestPostedBatch: { index: number } | null }).latestPostedBatch?.index ?? -1
    const anvil = (method: string, params: unknown[] = []) => setup.l1.request({ method: method as never, params: params as never })
    for (let i = 0; i < RESTARTS; i++) {
      // L1 stops mining for a while, so closed batches wait in Redis as jobs when it dies
      await anvil('evm_setAutomine', [false])
      await sleep(2_000)
      await redis.kill()
      // more batches close while Redis is down; their jobs cannot be queued
      await sleep(1_500)
      const before = await posted()
      await redis.restart()
      await anvil('evm_setAutomine', [true])
      await anvil('evm_mine')
      await until('posting resumed after the restart', async () => ((await posted()) > before ? true : undefined), 60_000)
    }
    await sleep(1_000)
    stop = true
    await running
    expect(node.running, 'the node survived').to.equal(true)
    await until('every batch posted', async () => {
      const s = await client.status() as { openBatch: unknown; latestBatch: { index: number } | null; latestPostedBatch: { index: number } | null }
      return s.openBatch === null && s.latestBatch && s.latestPostedBatch?.index === s.latestBatch.index ? true : undefined
    }, 120_000)

    const journal = new Journal(path.join(dataDir, 'sequencer.sqlite'))
    try {
      expect(ackProblems(journal, load.acks)).to.deep.equal([])
      const batches = journal.batches()
      const onL1 = await readL1(setup)
      expect(onL1.batches.map((b) => b.index), 'batches on L1: none skipped, none twice').to.deep.equal(batches.map((b) => b.index))
      for (const [i, b] of onL1.batches.entries()) expect(bytesToHex(b.data), `batch ${i}`).to.equal(bytesToHex(batches[i]!.data!))
      expect(onL1.l1Accs).to.deep.equal(journalAccumulators(journal))
      expect(onL1.sequencerTxs, 'sequencer L1 transactions: one per batch').to.equal(batches.length)
      const log = readFileSync(path.join(dataDir, 'node.log'), 'utf8')
      const requeued = [...log.matchAll(/batch\(es\) ([0-9, ]+) had no job in Redis/g)].flatMap((m) => m[1]!.split(', '))
      expect(requeued.length, 'batches re-queued from the journal').to.be.greaterThan(0)
      console.log(`      redis: ${RESTARTS} restarts, ${load.acks.length} orders acknowledged, ${batches.length} batches in ${onL1.sequencerTxs} sequencer txs, ${new Set(requeued).size} batches re-queued from the journal (${requeued.length} re-queues)`)
    } finally {
      journal.close()
    }
  })
})
