/**
 * Censorship resistance on a real devnet (anvil, Redis, SQLite): L2 transactions sent through the
 * L1 delayed inbox are included by the running sequencer; with the sequencer down (or its poster
 * blocked) past the delay, anyone forces them in, the verifier honours the forced batch, and the
 * sequencer rebuilds on top of L1 and re-sequences what it had acknowledged, in order, losing
 * nothing. docs/reliability.md "Censorship" quotes the figures this file prints.
 */
import { expect } from 'chai'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Queue } from 'bullmq'
import { type Hex, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { Verifier } from '../executor/verifier.js'
import { depositCollateral } from '../bridge/client.js'
import { startNode } from '../cli/node.js'
import { bullConnection } from '../cli/redis.js'
import { BTC_PERP, writeDeploymentFile } from '../cli/config.js'
import type { Devnet } from '../cli/devnet.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL, ITEM_DELAYED, type TxMessage } from '../sdk/protocol.js'
import { ForceInclusionError, forceInclude, forceInclusionStatus, sendL2TxViaL1, waitForDelayedInclusion } from '../sdk/l1Inbox.js'
import { Journal } from '../sequencer/journal.js'
import { reconciliations } from '../sequencer/reconcile.js'
import { tempDir, testDevnet, until } from './helpers/devnet.js'

const usd = (n: number) => parseUnits(String(n), 6)
const price = (n: number) => BigInt(n) * 1_000_000n
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('censorship resistance', function () {
  this.timeout(300_000)
  let dev: Devnet
  let dataDir: string
  const lines: string[] = []
  const figures: string[] = []
  const l1 = () => l1Public(dev.state.l1)
  const inbox = () => dev.state.deployment.inbox
  const trader = (i: number) => privateKeyToAccount(dev.state.keys.traders[i]!)
  const traderWallet = (i: number) => l1Wallet(dev.state.l1, dev.state.keys.traders[i]!)
  const client = () => new VeridexClient(dev.node.url)
  const journal = () => dev.node.sequencer.journal
  const posterQueue = () => new Queue(`batches-${journal().instanceId}`, { connection: bullConnection(dev.redis.url), prefix: 'veridex' })
  const log = (l: string) => {
    lines.push(l)
    if (process.env.VERIDEX_TEST_LOG) console.log(l)
  }

  before(async () => {
    dataDir = tempDir('censor')
    dev = await testDevnet({ dataDir, challenger: false, log })
    for (const i of [0, 1, 2, 3, 5]) await depositCollateral(l1(), traderWallet(i), dev.state.deployment, trader(i).address, usd(10_000))
    await until('deposits on L2', async () => ((await client().account(trader(2).address)).balances[ASSET_COLLATERAL] === usd(10_000).toString() ? true : undefined))
  })
  after(async () => {
    if (figures.length) console.log(figures.map((f) => `      ${f}`).join('\n'))
    await dev?.stop()
  })

  /** Every journal batch posted, L1 holds exactly those, and they read every delayed message. */
  async function allPosted(timeoutMs = 60_000) {
    await until('every journal batch posted on L1', async () => {
      const j = journal()
      const last = j.lastBatch()
      if (!last || last.status !== 'posted' || j.batches('closed').length || dev.node.sequencer.openBatch) return undefined
      const onL1 = (await l1().readContract({ address: inbox(), abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
      // ... and every delayed message on L1 already read into a posted batch: one still on its way
      // to the sequencer would land in the next test's batches and change its counts.
      const delayed = (await l1().readContract({ address: inbox(), abi: sequencerInboxAbi, functionName: 'delayedCount' })) as bigint
      return Number(onL1) === last.index + 1 && last.afterDelayedCount === delayed ? true : undefined
    }, timeoutMs)
  }

  /** A verifier started from scratch: it reads L1 only. */
  async function freshVerifier() {
    const v = await Verifier.create({ l1: l1(), inbox: inbox(), fromBlock: dev.state.deployment.deployBlock, genesis: dev.state.genesis, dbPath: path.join(tempDir('verifier'), 'v.sqlite') })
    await v.sync()
    return v
  }

  /** The journal, L1's accumulators (checked by the verifier's reader) and a fresh verifier agree. */
  async function expectAgreement() {
    const v = await freshVerifier()
    try {
      const batches = journal().batches()
      expect(v.head()?.index).to.equal(batches.at(-1)!.index)
      for (const b of batches) expect(b.stateRoot, `state root of batch ${b.index}`).to.equal(v.verified(b.index)?.stateRoot)
      for (const i of [0, 1, 2, 3, 4, 5]) expect(dev.node.sequencer.engine.account(trader(i).address)).to.deep.equal(v.state.account(trader(i).address))
      expect(dev.node.sequencer.engine.book(BTC_PERP.id, 50)).to.deep.equal(v.state.book(BTC_PERP.id, 50))
    } finally {
      await v.stop()
    }
  }

  /** Non-DELAYED items of the journal's batches from `from` on, in order. */
  const itemsFrom = (j: Journal, from: number) =>
    j.batches().filter((b) => b.index >= from).flatMap((b) => j.items(b.index).map((r) => r.item).filter((i) => i[0] !== ITEM_DELAYED)).map(hex)

  /** The devnet's node again, on the same data dir (journal), after dev.node.stop(). */
  const restartNode = () =>
    startNode({
      rpcUrl: dev.state.l1.rpcUrl, chainId: dev.state.l1.chainId, deployment: dev.state.deployment, genesis: dev.state.genesis,
      sequencerKey: dev.state.keys.sequencer, proposerKey: dev.state.keys.proposer, redisUrl: dev.redis.url, dataDir, batchMaxAgeMs: 300, log,
    })

  /** Runs the `veridex` CLI against this devnet as a trader would; resolves with its exit code and output. */
  async function veridex(args: string[], traderIndex = 3): Promise<{ code: number; out: string }> {
    const file = path.join(dataDir, 'deployment.json')
    writeDeploymentFile(file, dev.state.deployment, dev.state.genesis)
    const l1Args = ['--rpc', dev.state.l1.rpcUrl, '--chain-id', String(dev.state.l1.chainId), '--deployment', file, '--key', dev.state.keys.traders[traderIndex]!]
    const run = promisify(execFile)
    try {
      const { stdout, stderr } = await run('node', [path.resolve('cli/bin.mjs'), ...args, ...l1Args])
      return { code: 0, out: stdout + stderr }
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string }
      return { code: x.code, out: x.stdout + x.stderr }
    }
  }

  async function timeTravel(seconds: number) {
    await l1().request({ method: 'evm_increaseTime' as never, params: [seconds] as never })
    await l1().request({ method: 'evm_mine' as never, params: [] as never })
  }

  it('includes an order and a withdrawal sent through the L1 delayed inbox; L2 and the verifier see them', async () => {
    const order: TxMessage = { kind: 'Order', message: { market: BTC_PERP.id, isBuy: false, price: price(65_000), size: 100n, nonce: 0n } }
    const sent = await sendL2TxViaL1(l1(), traderWallet(0), inbox(), order)
    const t0 = Date.now()
    const orderBatch = await waitForDelayedInclusion(l1(), inbox(), sent.delayedIndex, { timeoutMs: 30_000, pollMs: 100 })
    figures.push(`delayed L2 tx sent → in a sequencer batch on L1: ${Date.now() - t0} ms after its L1 receipt (batch age 300 ms)`)
    // The withdrawal as a trader would send it: `veridex withdraw --via-l1 --wait`.
    const cli = await veridex(['withdraw', '--via-l1', '--wait', '--amount', '25'], 0)
    expect(cli.code, cli.out).to.equal(0)
    const m = /delayed message (\d+)[\s\S]*included in L1 batch (\d+) \(by the sequencer\)/.exec(cli.out)
    expect(m, cli.out).to.not.equal(null)
    expect(BigInt(m![1]!)).to.equal(sent.delayedIndex + 1n)
    const batch = BigInt(m![2]!)
    expect(batch >= orderBatch).to.equal(true)
    // The sequencer included it (the batch is its own, not a forced one).
    expect(journal().batch(Number(batch))?.status).to.be.oneOf(['closed', 'posted'])
    const book = await client().orderBook(BTC_PERP.id)
    expect(book.asks).to.deep.include({ price: price(65_000).toString(), size: '100', orders: 1 })
    await until('the verifier derives the batch', () => ((dev.node.verifier.head()?.index ?? -1) >= Number(batch) ? true : undefined))
    // The node's verifier runs its engine on a worker thread; a fresh one derives the same state.
    const derived = await freshVerifier()
    expect(derived.state.book(BTC_PERP.id, 10).asks.map((l) => l.price)).to.include(price(65_000))
    await derived.stop()
    const w = dev.node.verifier.withdrawals().filter((x) => x.l2Sender === trader(0).address)
    expect(w.map((x) => x.amount)).to.deep.equal([usd(25)])
    expect(journal().withdrawalsOf(trader(0).address).map((x) => x.amount)).to.deep.equal([usd(25)])
  })

  it('sequencer down past the delay: forceInclusion, the verifier honours it, the restarted sequencer re-sequences what it acknowledged', async () => {
    await allPosted()
    const queue = posterQueue()
    await queue.pause() // blocks the poster: what follows is acknowledged but never posted
    try {
      const c = client()
      const forcedFrom = journal().lastBatch()!.index + 1
      // Acknowledged, not posted: a resting sell, a buy that fills it, a transfer, a withdrawal.
      const sell = await c.placeOrder(trader(1), { market: BTC_PERP.id, isBuy: false, price: price(60_000), size: 200n })
      dev.node.sequencer.closeBatch()
      const buy = await c.placeOrder(trader(2), { market: BTC_PERP.id, isBuy: true, price: price(60_000), size: 150n })
      expect(buy.fills.map((f) => f.makerOrderId)).to.deep.equal([sell.orderId])
      await c.transfer(trader(1), { to: trader(2).address, asset: ASSET_COLLATERAL, amount: usd(100) })
      await c.withdraw(trader(2), { to: trader(2).address, asset: ASSET_COLLATERAL, amount: usd(7) })
      // From L1, while the sequencer still runs (it includes them in batches it cannot post):
      // trader 0 buys against trader 1's resting sell, so the re-sequenced buy finds less.
      const l1Buy = await sendL2TxViaL1(l1(), traderWallet(0), inbox(), { kind: 'Order', message: { market: BTC_PERP.id, isBuy: true, price: price(60_000), size: 20n, nonce: 0n } })
      await until('the sequencer includes the L1 order', () => (dev.node.sequencer.engine.delayedRead() > l1Buy.delayedIndex ? true : undefined))
      dev.node.sequencer.closeBatch()
      await dev.node.stop()

      // While the sequencer is down, trader 0 buys from L1 again: no sequencer reads it.
      const down = await sendL2TxViaL1(l1(), traderWallet(0), inbox(), { kind: 'Order', message: { market: BTC_PERP.id, isBuy: true, price: price(60_000), size: 30n, nonce: 0n } })
      const j = new Journal(path.join(dataDir, 'sequencer.sqlite'))
      const acknowledged = itemsFrom(j, forcedFrom)
      j.close()
      expect(acknowledged.length).to.equal(4)

      let early: unknown
      await forceInclude(l1(), traderWallet(3), inbox()).catch((e) => (early = e))
      expect(early).to.be.instanceOf(ForceInclusionError)
      expect((early as Error).message).to.match(/too soon: delayed message \d+ may be forced from L1 time \d+/)
      const cli = await veridex(['force-include'])
      expect(cli.code, cli.out).to.equal(1)
      expect(cli.out).to.match(/error: too soon: delayed message \d+ may be forced from L1 time \d+ \(.*Z, \d+ s from now\); try again then/)
      const status = await forceInclusionStatus(l1(), inbox())
      await timeTravel(Number(status.nextForceableAt! - status.l1Time) + 1)
      // Anyone forces them in, as a user would: `veridex force-include`.
      const shown = await veridex(['force-include', '--status'])
      expect(shown.out).to.match(/waiting: 2\b[\s\S]*forceable now: 2 message/)
      const cliForce = await veridex(['force-include'])
      expect(cliForce.code, cliForce.out).to.equal(0)
      const m = new RegExp(`forced delayed messages \\d+\\.\\.${down.delayedIndex} into L1 batch ${forcedFrom} \\(tx (0x[0-9a-f]{64})`).exec(cliForce.out)
      expect(m, cliForce.out).to.not.equal(null)
      const forced = { tx: m![1] as Hex }

      // The verifier honours the forced batch: both L1 orders ran, before any acknowledged item.
      const v = await freshVerifier()
      expect(v.head()?.index).to.equal(forcedFrom)
      expect(v.state.account(trader(0).address).positions.every((p) => p.size === 0n)).to.equal(true)
      expect(v.state.book(BTC_PERP.id, 10).bids.map((l) => [l.price, l.size])).to.deep.include([price(60_000), 50n])
      await v.stop()

      // The sequencer comes back, finds the forced batch, and rebuilds on top of it.
      await queue.resume()
      const tRestart = Date.now()
      dev.node = await restartNode()
      figures.push(`restart with a forced batch on L1 → serving again (reconciled): ${Date.now() - tRestart} ms`)
      const [r] = reconciliations(journal()).slice(-1)
      expect(r!.divergedAt).to.equal(forcedFrom)
      expect(r!.adopted).to.have.length(1)
      expect(r!.resequenced).to.equal(acknowledged.length)
      figures.push(`reconcile at start: ${r!.ms} ms for ${r!.resequenced} re-sequenced item(s)`)
      expect(journal().batch(forcedFrom)).to.include({ status: 'posted', l1Tx: forced.tx })
      // Every acknowledged item ran again after the forced batch, in the same order; none lost.
      const dropped = r!.dropped.length
      expect(dropped).to.equal(0)
      expect(itemsFrom(journal(), forcedFrom + 1)).to.deep.equal(acknowledged)
      await allPosted()
      figures.push(`restart → every re-sequenced batch posted on L1: ${Date.now() - tRestart} ms`)
      await expectAgreement()
      // Outcomes on the new state differ from the soft confirmations: trader 1's sell, which had
      // rested whole, now first fills trader 0's two L1 buys (20 + 30, resting since the forced
      // batch) as a taker; trader 2's buy of 150 still fills in full against the rest.
      const position = (i: number) => dev.node.sequencer.engine.account(trader(i).address).positions.find((p) => p.market === BTC_PERP.id)?.size ?? 0n
      expect([position(0), position(1), position(2)]).to.deep.equal([50n, -200n, 150n])
      expect(dev.node.sequencer.engine.book(BTC_PERP.id, 10).bids).to.deep.equal([])
    } finally {
      await queue.resume()
      await queue.close()
    }
    // Posting continues.
    await client().submitOraclePrice(privateKeyToAccount(dev.state.keys.oracle), { market: BTC_PERP.id, price: price(60_100), timestamp: BigInt(Math.floor(Date.now() / 1000) + 10_000) })
    await allPosted()
  })

  it('poster blocked past the delay while the sequencer runs: the poster finds the forced batch and the running sequencer reconciles', async () => {
    await allPosted()
    const queue = posterQueue()
    await queue.pause()
    try {
      const c = client()
      const forcedFrom = journal().lastBatch()!.index + 1
      const before = await c.account(trader(1).address)
      // Acknowledged, not posted: two transfers. Then, from L1 (the sequencer includes both in a
      // batch it cannot post), trader 5 withdraws 5,000 of the 1,000 its transfer left it (rejected
      // there) and trader 4 deposits; trader 4 orders with margin only that deposit pays for.
      await c.transfer(trader(1), { to: trader(0).address, asset: ASSET_COLLATERAL, amount: usd(1) })
      await c.transfer(trader(5), { to: trader(0).address, asset: ASSET_COLLATERAL, amount: usd(9_000) })
      await sendL2TxViaL1(l1(), traderWallet(5), inbox(), { kind: 'Withdraw', message: { to: trader(5).address, asset: ASSET_COLLATERAL, amount: usd(5_000), nonce: 0n } })
      const deposit = await depositCollateral(l1(), traderWallet(4), dev.state.deployment, trader(4).address, usd(3))
      await until('the sequencer includes the deposit', () => (dev.node.sequencer.engine.delayedRead() > deposit.delayedIndex ? true : undefined))
      expect(dev.node.sequencer.engine.account(trader(5).address).balances[ASSET_COLLATERAL]).to.equal(usd(1_000))
      await c.placeOrder(trader(4), { market: BTC_PERP.id, isBuy: true, price: price(59_000), size: 1n })
      const status = await forceInclusionStatus(l1(), inbox())
      expect(status.forceableCount).to.equal(status.totalDelayedRead)
      await timeTravel(Number(status.nextForceableAt! - status.l1Time) + 1)
      // After the delay: trader 3 moves 6,000 of its 10,000, then withdraws 5,000 from L1 (rejected by
      // the sequencer, and too recent to be forced below).
      await c.transfer(trader(3), { to: trader(0).address, asset: ASSET_COLLATERAL, amount: usd(6_000) })
      const late = await sendL2TxViaL1(l1(), traderWallet(3), inbox(), { kind: 'Withdraw', message: { to: trader(3).address, asset: ASSET_COLLATERAL, amount: usd(5_000), nonce: 0n } })
      await until('the sequencer includes the late withdrawal', () => (dev.node.sequencer.engine.delayedRead() > late.delayedIndex ? true : undefined))
      dev.node.sequencer.closeBatch()
      const acknowledged = itemsFrom(journal(), forcedFrom)
      expect(acknowledged.length).to.equal(4)

      const forced = await forceInclude(l1(), traderWallet(3), inbox())
      expect(Number(forced.batchIndex)).to.equal(forcedFrom)
      expect(forced.newDelayedCount).to.equal(deposit.delayedIndex + 1n)
      const tForced = Date.now()
      await until('the running verifier derives the forced batch', () => ((dev.node.verifier.head()?.index ?? -1) >= forcedFrom ? true : undefined))
      figures.push(`forceInclusion receipt → the running node's verifier has derived it: ${Date.now() - tForced} ms (verifier polls L1 every 500 ms)`)
      const tf = Date.now()
      const fresh = await freshVerifier()
      figures.push(`a fresh verifier derives all ${fresh.head()!.index + 1} batches from genesis, the forced one included: ${Date.now() - tf} ms`)
      await fresh.stop()

      // The sequencer kept running; its poster resumes and meets the forced batch.
      const tResume = Date.now()
      await queue.resume()
      await until('a reconcile at run time', () => (reconciliations(journal()).length === 2 ? true : undefined))
      const r = reconciliations(journal()).at(-1)!
      expect(r.divergedAt).to.equal(forcedFrom)
      expect(r.resequenced).to.equal(4)
      // The forced batch ran trader 5's first withdrawal (5,000) first: the acknowledged transfer of
      // 9,000 no longer has the funds. It is reported, not silently lost; the others ran in order.
      // The late withdrawal, not forced, ran again where it had: after trader 3's transfer of 6,000,
      // which it would have starved had it run first; it fails again (4,000 < 5,000).
      expect(r.dropped).to.deep.equal([{ oldBatch: forcedFrom, type: 0x03, signer: trader(5).address, code: 7 }])
      expect(r.newBatches).to.deep.equal([forcedFrom + 1]) // the late withdrawal comes after it, in the next batch
      expect(itemsFrom(journal(), forcedFrom + 1)).to.deep.equal([acknowledged[0], acknowledged[2], acknowledged[3]])
      expect(dev.node.sequencer.engine.account(trader(5).address).balances[ASSET_COLLATERAL]).to.equal(usd(5_000))
      expect(dev.node.sequencer.engine.account(trader(3).address).balances[ASSET_COLLATERAL]).to.equal(usd(4_000))
      // The late withdrawal is read again by the batch the sequencer opens next (its tick), not by
      // the reconcile itself: wait for it, then nothing past it.
      await until('the late withdrawal read again', () => (dev.node.sequencer.engine.delayedRead() > late.delayedIndex ? true : undefined))
      expect(dev.node.sequencer.engine.delayedRead()).to.equal(late.delayedIndex + 1n)
      const shown = (await c.status()).lastReconcile as { divergedAt: number; dropped: { signer: string; code: number }[] }
      expect(shown.divergedAt).to.equal(forcedFrom)
      expect(shown.dropped).to.deep.equal([{ oldBatch: forcedFrom, type: 3, signer: trader(5).address, code: 7 }])
      await allPosted()
      figures.push(`poster resumed → reconciled at run time and all posted: ${Date.now() - tResume} ms (reconcile ${r.ms} ms)`)
      await expectAgreement()
      expect((await c.account(trader(1).address)).balances[ASSET_COLLATERAL]).to.equal((BigInt(before.balances[ASSET_COLLATERAL]!) - usd(1)).toString())
      expect((await c.account(trader(4).address)).balances[ASSET_COLLATERAL]).to.equal(usd(3).toString())
      // The sequencer still serves and posts.
      await c.placeOrder(trader(4), { market: BTC_PERP.id, isBuy: true, price: price(58_000), size: 1n })
      await allPosted()
      // A later restart finds the journal in agreement with L1: no new reconcile, same state.
      const root = journal().lastBatch()!.stateRoot
      await dev.node.stop()
      dev.node = await restartNode()
      expect(reconciliations(journal())).to.have.length(2)
      expect(journal().lastBatch()!.stateRoot).to.equal(root)
    } finally {
      await queue.resume()
      await queue.close()
    }
  })
})
