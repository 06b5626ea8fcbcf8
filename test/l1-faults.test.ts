/**
 * L1 faults and reorgs: `veridex node` (sequencer, poster, verifier, proposer) talks to anvil
 * through a proxy that drops, delays and fails a share of its JSON-RPC calls and loses the first
 * reply to every transaction it sends. Under load, every batch and assertion still lands, in
 * order, once, with no nonce gap or stuck transaction. Then an anvil reorg removes a posted
 * batch, and the node posts it again; the verifier and proposer go on past it.
 */
import { expect } from 'chai'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { type Address, bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { rollupAbi, sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { readAssertion, AssertionStatus } from '../prover/proposer.js'
import { Journal } from '../sequencer/journal.js'
import { VeridexClient } from '../sdk/client.js'
import { type NodeProcess, OrderLoad, ProxiedNode, journalAccumulators, readL1, type L1Setup } from './helpers/cluster.js'
import { type L1FaultProxy, NO_FAULTS } from './helpers/l1FaultProxy.js'
import { until } from './helpers/devnet.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('L1 faults and reorgs', function () {
  this.timeout(600_000)
  let setup: L1Setup
  let proxy: L1FaultProxy
  let node: NodeProcess
  let dataDir: string
  let client: VeridexClient
  let fixture: ProxiedNode
  const address = (k: `0x${string}`) => privateKeyToAccount(k).address as Address

  before(async () => {
    fixture = await ProxiedNode.start({ name: 'l1-faults', traders: 4, seed: 424_242, node: { withProposer: true, batchAgeMs: 300 } })
    ;({ setup, proxy, node, dataDir } = fixture)
    client = await node.primeForOrders()
  })
  after(async () => {
    await fixture?.stop()
  })

  const read = <T>(address: Address, abi: typeof rollupAbi | typeof sequencerInboxAbi, functionName: string, args: unknown[] = []) =>
    setup.l1.readContract({ address, abi, functionName: functionName as never, args: args as never }) as Promise<T>
  const batchCount = async () => Number(await read<bigint>(setup.deployment.inbox, sequencerInboxAbi, 'batchCount'))

  /** Load for `ms`, then wait until the node has closed and posted everything it acknowledged. */
  async function loadAndSettle(ms: number, seed: number) {
    const load = new OrderLoad(node.url, setup.keys.traders, setup.genesis.chainId, seed)
    const t0 = Date.now()
    await load.run(() => Date.now() - t0 > ms)
    await until('every batch posted', async () => {
      const s = await client.status() as { openBatch: unknown; latestBatch: { index: number } | null; latestPostedBatch: { index: number } | null }
      return s.openBatch === null && s.latestBatch && s.latestPostedBatch?.index === s.latestBatch.index ? s.latestBatch.index : undefined
    }, 180_000)
    return load
  }

  /** The node asserts (and confirms) up to the last batch. */
  async function assertedUpTo(lastBatch: number) {
    await until('an assertion covering the last batch', async () => {
      const n = await read<bigint>(setup.deployment.rollup, rollupAbi, 'assertionCount')
      const a = await readAssertion(setup.l1, setup.deployment.rollup, n - 1n)
      return a.inboxPosition === BigInt(lastBatch + 1) ? true : undefined
    }, 180_000)
  }

  /** Transactions from `from` mined on the current chain that reverted. */
  async function revertedTxs(from: Address) {
    const head = await setup.l1.getBlockNumber({ cacheTime: 0 })
    let n = 0
    for (let b = setup.deployment.deployBlock; b <= head; b++) {
      const block = await setup.l1.getBlock({ blockNumber: b, includeTransactions: true })
      for (const tx of block.transactions)
        if (tx.from.toLowerCase() === from.toLowerCase() && (await setup.l1.getTransactionReceipt({ hash: tx.hash })).status === 'reverted') n++
    }
    return n
  }

  /** L1 holds exactly the journal's batches, and the proposer's assertions form one chain over them with its journaled roots. */
  async function checkL1AgainstJournal(maxProposerReverts = 0) {
    const journal = new Journal(path.join(dataDir, 'sequencer.sqlite'))
    try {
      const batches = journal.batches().filter((b) => b.status !== 'open')
      const onL1 = await readL1(setup)
      expect(onL1.batches.map((b) => b.index), 'batches on L1: none skipped, none twice').to.deep.equal(batches.map((b) => b.index))
      for (const [i, b] of onL1.batches.entries()) expect(bytesToHex(b.data), `batch ${i}`).to.equal(bytesToHex(batches[i]!.data!))
      expect(onL1.l1Accs, 'SequencerInbox.batchAccs').to.deep.equal(journalAccumulators(journal))
      expect(batches.every((b) => b.status === 'posted')).to.equal(true)
      // Assertions: one chain, inbox positions strictly rising, each root the journal's.
      const count = Number(await read<bigint>(setup.deployment.rollup, rollupAbi, 'assertionCount'))
      let parent = 0n
      let position = 0n
      let confirmed = 0
      for (let id = 1n; id < BigInt(count); id++) {
        const a = await readAssertion(setup.l1, setup.deployment.rollup, id)
        expect(a.status, `assertion ${id} status`).to.not.equal(AssertionStatus.Rejected)
        expect(a.parentId, `assertion ${id} extends the previous one`).to.equal(parent)
        expect(a.inboxPosition > position, `assertion ${id} moves forward`).to.equal(true)
        expect(a.stateRoot, `assertion ${id} root`).to.equal(batches[Number(a.inboxPosition) - 1]!.stateRoot)
        if (a.status === AssertionStatus.Confirmed) confirmed++
        parent = id
        position = a.inboxPosition
      }
      // Nonces: every transaction mined, none waiting behind a gap, none wasted on a revert.
      for (const key of [setup.keys.sequencer, setup.keys.proposer]) {
        const [latest, pending] = await Promise.all([
          setup.l1.getTransactionCount({ address: address(key), blockTag: 'latest' }),
          setup.l1.getTransactionCount({ address: address(key), blockTag: 'pending' }),
        ])
        expect(pending, 'no transaction stuck in the pool').to.equal(latest)
      }
      expect(onL1.sequencerTxs, 'sequencer L1 transactions: one per batch').to.equal(batches.length)
      const proposerTxs = await setup.l1.getTransactionCount({ address: address(setup.keys.proposer) })
      const reverted = await revertedTxs(address(setup.keys.proposer))
      expect(reverted, 'proposer transactions reverted on L1').to.be.at.most(maxProposerReverts)
      expect(proposerTxs, 'proposer L1 transactions: one per assertion and per confirmation').to.equal(count - 1 + confirmed + reverted)
      return { batches: batches.length, assertions: count - 1, confirmed, proposerTxs, sequencerTxs: onL1.sequencerTxs, reverted }
    } finally {
      journal.close()
    }
  }

  it('posts every batch and assertion once, in order, through drops, delays, errors and lost send replies', async () => {
    proxy.plan = { drop: 0.1, delay: 0.2, maxDelayMs: 800, error: 0.1, loseFirstSendReply: true }
    const load = await loadAndSettle(8_000, 11)
    const last = await batchCount() - 1
    await assertedUpTo(last)
    // Give the proposer time to confirm what is ripe, still through the faults.
    await sleep(4_000)
    proxy.plan = NO_FAULTS
    await sleep(1_000)
    const r = await checkL1AgainstJournal()
    expect(proxy.stats.lostSendReplies, 'sent transactions whose reply was lost').to.be.greaterThan(5)
    expect(proxy.stats.dropped + proxy.stats.errored).to.be.greaterThan(20)
    console.log(`      L1 faults: ${load.acks.length} orders acknowledged; ${proxy.stats.requests} L1 calls, ${proxy.stats.dropped} dropped, ${proxy.stats.errored} failed, ` +
      `${proxy.stats.delayed} delayed, ${proxy.stats.lostSendReplies} of ${proxy.stats.sends} sends lost their reply; ${r.batches} batches in ${r.sequencerTxs} sequencer txs, ` +
      `${r.assertions} assertions (${r.confirmed} confirmed) in ${r.proposerTxs} proposer txs`)
  })

  it('posts a batch again when an L1 reorg removes it, and the verifier and proposer go on past it', async () => {
    const before = await batchCount()
    // A few more batches, then a reorg deep enough to drop the last two posts.
    const more = await loadAndSettle(2_000, 12)
    const posted = await batchCount()
    expect(more.acks.length, `orders acknowledged (last rejection: ${more.lastRejection})`).to.be.greaterThan(0)
    expect(posted).to.be.greaterThan(before + 1)
    const logs = await setup.l1.getContractEvents({ address: setup.deployment.inbox, abi: sequencerInboxAbi, eventName: 'BatchDelivered', fromBlock: setup.deployment.deployBlock })
    const dropFrom = logs.find((l) => Number(l.args.batchIndex) === posted - 2)!.blockNumber
    const head = await setup.l1.getBlockNumber({ cacheTime: 0 })
    await setup.l1.request({ method: 'anvil_reorg' as never, params: [Number(head - dropFrom + 1n), []] as never })
    const afterReorg = await batchCount()
    expect(afterReorg, 'the reorg removed posted batches').to.be.lessThan(posted)
    await until('the dropped batches posted again', async () => ((await batchCount()) === posted ? true : undefined), 60_000)
    // More traffic after the reorg: new batches are derived, asserted and confirmed as before.
    await loadAndSettle(2_000, 13)
    await assertedUpTo(await batchCount() - 1)
    // A proposer transaction prepared against the chain before the reorg may be mined, and revert, after it.
    const r = await checkL1AgainstJournal(1)
    const log = readFileSync(path.join(dataDir, 'node.log'), 'utf8')
    expect(log).to.match(/L1 reorg dropped batch\(es\)/)
    // The node's verifier had derived the dropped batches: it went back and derived them again.
    expect(log).to.match(/verifier: L1 reorg back to block \d+ took back batches \d+\.\.\d+/)
    console.log(`      reorg: removed ${posted - afterReorg} posted batch(es) (${Number(head - dropFrom + 1n)} L1 blocks); re-posted; ${r.batches} batches and ${r.assertions} assertions on L1 after it; ${r.reverted} proposer tx reverted`)
  })
})
