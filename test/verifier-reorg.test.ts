/**
 * L1 reorgs deeper than the verifier's confirmations, on a real anvil: `anvil_reorg` replaces
 * blocks the verifier already derived from, and different batches (or none) take their place.
 * The InboxReader notices that a block it read is gone, forgets what it read after the newest
 * block L1 still has, and the verifier goes back to the engine state it kept before the first
 * batch taken back. Whatever happened, its records must equal those of a fresh verifier that
 * reads the chain L1 holds now.
 */
import { expect } from 'chai'
import { type Hex, type PublicClient, bytesToHex, parseEther } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../contracts/anvil.js'
import { buildContracts } from '../contracts/build.js'
import { type Deployment, contractsFor, deployVeridex } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { buildEngine } from '../executor/engine/build.js'
import { genesisRoots } from '../executor/genesis.js'
import { InboxReader } from '../executor/inboxReader.js'
import { Verifier, type VerifierReorg } from '../executor/verifier.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'
import { tempDir } from './helpers/devnet.js'

const L2_CHAIN_ID = 412346
const USDC = 1_000_000n
const l2Key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const [alice, bob] = [0xa11ce, 0xb0b].map(l2Key) as [LocalAccount, LocalAccount]
const oracle = l2Key(0x0dac1e)
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
const GENESIS: P.GenesisConfig = { chainId: L2_CHAIN_ID, oracle: oracle.address, markets: [BTC] }

type Contracts = Awaited<ReturnType<typeof contractsFor<{ public: PublicClient; wallet: ReturnType<typeof l1Wallet> }>>>

const items = async (txs: [LocalAccount, P.TxMessage][]) =>
  Uint8Array.of(0, ...(await Promise.all(txs.map(([a, t]) => signItem(a, L2_CHAIN_ID, t)))).flatMap((x) => [...x]))
const price = (p: bigint, timestamp: bigint): [LocalAccount, P.TxMessage] => [oracle, { kind: 'OraclePrice', message: { market: 1, price: p * USDC, timestamp } }]
const order = (who: LocalAccount, isBuy: boolean, p: bigint, size: bigint, nonce: bigint): [LocalAccount, P.TxMessage] =>
  [who, { kind: 'Order', message: { market: 1, isBuy, price: p * USDC, size, nonce } }]

describe('verifier across L1 reorgs deeper than its confirmations', function () {
  this.timeout(300_000)
  let anvil: Anvil
  let pub: PublicClient
  let d: Deployment
  let c: Record<'deployer' | 'sequencer', Contracts>
  /** The verifiers under test, one on the caller's thread and one as the node runs it. */
  const verifiers: { name: string; v: Verifier; reorgs: VerifierReorg[]; lines: string[] }[] = []
  const fresh: Verifier[] = []
  let timestamp = 10n

  const mined = async (hash: Promise<Hex>) => {
    const r = await pub.waitForTransactionReceipt({ hash: await hash })
    if (r.status !== 'success') throw new Error(`transaction ${r.transactionHash} reverted`)
    return r
  }
  const post = async (index: number, data: Uint8Array, afterDelayedCount: bigint, at = timestamp++) =>
    mined(c.sequencer.inbox.write.addSequencerBatch([BigInt(index), bytesToHex(data), afterDelayedCount, at]))
  const deposit = async (to: LocalAccount, amount: bigint) => mined(c.deployer.bridge.write.depositERC20([to.address, amount]))
  const head = () => pub.getBlockNumber({ cacheTime: 0 })
  /** Replaces the blocks from `from` to the head with as many empty ones. */
  const reorgFrom = async (from: bigint) => {
    const depth = Number((await head()) - from + 1n)
    await pub.request({ method: 'anvil_reorg' as never, params: [depth, []] as never })
  }
  const batchCount = async () => Number(await c.deployer.inbox.read.batchCount())

  /** Every verifier's records equal those of a fresh verifier reading L1 as it is now. */
  async function expectSameAsFresh() {
    const f = await Verifier.create({ l1: pub as never, inbox: d.inbox, fromBlock: d.deployBlock, genesis: GENESIS, dbPath: `${tempDir('reorg-fresh')}/v.sqlite` })
    fresh.push(f)
    await f.sync()
    const n = await batchCount()
    expect(f.head()?.index ?? -1).to.equal(n - 1)
    for (const { name, v } of verifiers) {
      await v.sync()
      expect(v.head()?.index ?? -1, name).to.equal(n - 1)
      for (let i = 0; i < n; i++) {
        const got = v.verified(i)!
        const want = f.verified(i)!
        expect({ ...got, l1Block: 0n }, `${name} batch ${i}`).to.deep.equal({ ...want, l1Block: 0n })
      }
      expect(v.verified(n), name).to.equal(undefined)
      expect(v.withdrawals(), name).to.deep.equal(f.withdrawals())
      expect(v.stepsBetween(0n, BigInt(n)), name).to.equal(f.stepsBetween(0n, BigInt(n)))
    }
    return f
  }

  before(async () => {
    await buildContracts()
    await buildEngine()
    anvil = await startAnvil()
    const l1 = { chainId: anvil.chainId, rpcUrl: anvil.rpcUrl }
    pub = l1Public(l1) as unknown as PublicClient
    const [deployerKey, sequencerKey, proposerKey] = anvil.privateKeys as [Hex, Hex, Hex]
    const roots = await genesisRoots(GENESIS)
    d = await deployVeridex({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      deployerKey,
      sequencer: privateKeyToAccount(sequencerKey).address,
      proposer: privateKeyToAccount(proposerKey).address,
      moduleRoot: roots.moduleRoot,
      genesisMachineRoot: roots.machineRoot,
      genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: 1000n,
      bondWei: parseEther('1'),
      forceInclusionDelaySeconds: 3600n,
      // the batches carry small L2 timestamps, far from anvil's clock
      maxTimeVariationSeconds: 2n ** 62n,
    })
    c = {
      deployer: await contractsFor(d, { public: pub, wallet: l1Wallet(l1, deployerKey) }),
      sequencer: await contractsFor(d, { public: pub, wallet: l1Wallet(l1, sequencerKey) }),
    }
    await mined(c.deployer.collateral.write.mint([privateKeyToAccount(deployerKey).address, 1_000_000n * USDC]))
    await mined(c.deployer.collateral.write.approve([d.bridge, 1_000_000n * USDC]))
    for (const [name, thread] of [['in-thread verifier', false], ['threaded verifier (as in the node)', true]] as const) {
      const lines: string[] = []
      const v = await Verifier.create({
        l1: pub as never, inbox: d.inbox, fromBlock: d.deployBlock, genesis: GENESIS, dbPath: `${tempDir('reorg')}/v.sqlite`, thread, recoveryThreads: thread ? 1 : 0, log: (l) => lines.push(l),
      })
      const entry = { name, v, reorgs: [] as VerifierReorg[], lines }
      v.on('reorg', (r: VerifierReorg) => entry.reorgs.push(r))
      verifiers.push(entry)
    }
  })

  after(async () => {
    for (const { v } of verifiers) await v.stop()
    for (const f of fresh) await f.stop()
    await anvil?.stop()
  })

  it('takes back the batches a reorg replaced, withdrawal included, and derives the ones that took their place', async () => {
    await deposit(alice, 100_000n * USDC)
    await deposit(bob, 100_000n * USDC)
    await post(0, await items([price(50_000n, 5n)]), 2n)
    const replacedFrom = (await head()) + 1n
    await post(1, await items([
      order(alice, true, 50_000n, 10n, 0n),
      order(bob, false, 49_999n, 4n, 0n),
      [alice, { kind: 'Withdraw', message: { asset: 0, amount: 5n * USDC, to: alice.address, nonce: 1n } }],
    ]), 2n)
    await post(2, await items([price(50_100n, 6n)]), 2n)
    for (const { v } of verifiers) expect((await v.sync()).length).to.equal(3)
    const before = verifiers.map(({ v }) => [v.verified(1)!.stateRoot, v.verified(2)!.stateRoot])
    expect(verifiers[0]!.v.withdrawals()).to.have.length(1)

    await reorgFrom(replacedFrom)
    expect(await batchCount(), 'the reorg took batches 1 and 2 back').to.equal(1)
    await post(1, await items([order(bob, true, 49_000n, 3n, 0n)]), 2n)
    await post(2, await items([price(50_200n, 6n)]), 2n)
    await expectSameAsFresh()
    for (const [k, { name, v, reorgs }] of verifiers.entries()) {
      expect(v.stats.reorgs, name).to.equal(1)
      expect(v.stats.batchesTakenBack, name).to.equal(2)
      expect(reorgs, name).to.have.length(1)
      expect(reorgs[0], name).to.include({ batch: 1, delayed: 2, derivedBefore: 3 })
      expect(v.verified(1)!.stateRoot, `${name}: batch 1 is another batch now`).to.not.equal(before[k]![0])
      expect(v.withdrawals(), `${name}: the withdrawal went with its batch`).to.deep.equal([])
    }
  })

  it('goes on without going back when a reorg replaced only blocks with nothing for it', async () => {
    const roots = verifiers.map(({ v }) => v.head()!.stateRoot)
    await pub.request({ method: 'anvil_mine' as never, params: ['0x3'] as never })
    for (const { v } of verifiers) await v.sync()
    await reorgFrom((await head()) - 1n)
    for (const [k, { name, v, lines }] of verifiers.entries()) {
      expect(await v.sync(), name).to.deep.equal([])
      expect(lines.at(-1), `${name} noticed the reorg`).to.match(/^verifier: L1 reorg back to block \d+; it took back nothing this verifier derived from$/)
      expect(v.stats.reorgs, `${name}: nothing derived was taken back`).to.equal(1)
      expect(v.head()!.stateRoot, name).to.equal(roots[k])
    }
    await expectSameAsFresh()
  })

  it('takes back a deposit and the batch that read it; the batch posted instead reads one message fewer', async () => {
    const replacedFrom = (await head()) + 1n
    await deposit(alice, 7n * USDC)
    await post(3, await items([order(alice, false, 51_000n, 1n, 0n)]), 3n)
    for (const { v } of verifiers) expect((await v.sync()).map((b) => b.index)).to.deep.equal([3])
    await reorgFrom(replacedFrom)
    expect(Number(await c.deployer.inbox.read.delayedCount())).to.equal(2)
    await post(3, await items([order(bob, false, 52_000n, 2n, 1n)]), 2n)
    const f = await expectSameAsFresh()
    for (const { name, v, reorgs } of verifiers) {
      expect(reorgs.at(-1), name).to.include({ batch: 3, delayed: 2, derivedBefore: 4 })
      expect(v.stats.batchesTakenBack, name).to.equal(3)
    }
    // the in-thread verifier's engine answers queries from the state it went back to
    expect(verifiers[0]!.v.state.account(alice.address).balances).to.deep.equal(f.state.account(alice.address).balances)
  })

  it('a reader reports the reorg: what it forgot, and the same inputs read again', async () => {
    const reader = new InboxReader(pub as never, d.inbox, d.deployBlock)
    const first = await reader.poll()
    expect(first.reorg).to.equal(undefined)
    expect(first.batches.map((b) => b.index)).to.deep.equal([0, 1, 2, 3])
    const from = first.batches[2]!.blockNumber
    const replayed = first.batches.slice(2).map((b) => b.afterAcc)
    await reorgFrom(from)
    expect(await batchCount()).to.equal(2)
    // the sequencer posts the same two batches again (its re-post after a reorg)
    for (const b of first.batches.slice(2)) await post(b.index, b.data, b.header.afterDelayedCount, b.header.timestamp)
    const again = await reader.poll()
    expect(again.reorg).to.deep.equal({ ancestor: from - 1n, batch: 2, delayed: 2 })
    expect(again.batches.map((b) => b.afterAcc), 'same data, same accumulators').to.deep.equal(replayed)
    expect((await reader.poll()).reorg).to.equal(undefined)
  })

  it('stops with an error that names the fix when it no longer keeps the state to go back to', async () => {
    const v = await Verifier.create({ l1: pub as never, inbox: d.inbox, fromBlock: d.deployBlock, genesis: GENESIS, dbPath: `${tempDir('reorg-short')}/v.sqlite`, keepStates: 1 })
    fresh.push(v)
    await v.sync()
    await reorgFrom((await pub.getTransactionReceipt({ hash: (await new InboxReader(pub as never, d.inbox, d.deployBlock).poll()).batches[1]!.txHash })).blockNumber)
    const err = await v.sync().then(() => undefined, (e: Error) => e)
    expect(err?.message).to.match(/no longer keeps the engine state before batch 1 .*restart the node/)
    // it stays stopped rather than deriving on from a state that is not L1's
    const again = await v.sync().then(() => undefined, (e: Error) => e)
    expect(again?.message).to.equal(err!.message)
  })

  it('a reader at `finalized` reads only what L1 finalized, so a reorg above that takes back nothing it read; `safe` reads deeper', async () => {
    // anvil labels blocks as a beacon chain would: safe 32 blocks under the head, finalized 64
    const mine = (n: number) => pub.request({ method: 'anvil_mine' as never, params: [`0x${n.toString(16)}`] as never })
    const finalized = new InboxReader(pub as never, d.inbox, d.deployBlock, { confirmations: 'finalized' })
    const safe = new InboxReader(pub as never, d.inbox, d.deployBlock, { confirmations: 'safe' })
    const latest = new InboxReader(pub as never, d.inbox, d.deployBlock)
    await mine(70)
    const count = Number(await c.deployer.inbox.read.delayedCount())
    for (const r of [finalized, safe, latest]) expect((await r.poll()).delayed.at(-1)?.index).to.equal(count - 1)

    const replacedFrom = (await head()) + 1n
    const { blockNumber } = await deposit(bob, 3n * USDC)
    await mine(40)
    expect((await latest.poll()).delayed.map((m) => m.index)).to.deep.equal([count])
    expect((await safe.poll()).delayed.map((m) => m.index), 'safe: 32 blocks under the head').to.deep.equal([count])
    const f = await finalized.poll()
    expect(f.delayed, 'not finalized yet: 41 blocks deep').to.deep.equal([])
    expect((await pub.getBlock({ blockTag: 'finalized' })).number < blockNumber, 'L1 has not finalized the deposit').to.equal(true)

    // 41 blocks replaced: deeper than safe, above finalized
    await reorgFrom(replacedFrom)
    expect(Number(await c.deployer.inbox.read.delayedCount()), 'the deposit is gone').to.equal(count)
    const s = await safe.poll()
    expect(s.reorg, 'safe had read the deposit').to.include({ delayed: count })
    const f2 = await finalized.poll()
    expect(f2.reorg, 'finalized had read nothing the reorg replaced').to.equal(undefined)
    expect(f2.delayed).to.deep.equal([])

    // a deposit that stays is read once L1 finalizes its block
    const kept = await deposit(bob, 4n * USDC)
    await mine(63)
    expect((await finalized.poll()).delayed, '63 blocks deep: not yet').to.deep.equal([])
    await mine(1)
    const read = (await finalized.poll()).delayed
    expect(read.map((m) => [m.index, m.blockNumber])).to.deep.equal([[count, kept.blockNumber]])
  })
})
