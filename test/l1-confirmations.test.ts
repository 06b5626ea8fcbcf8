/**
 * `--l1-confirmations`: the node reads L1 only that many blocks under its head. A deposit waits
 * that long before the sequencer includes it, so an L1 reorg that takes the deposit back before
 * then leaves no batch consuming a message L1 no longer has (such a batch could never be posted),
 * and the verifier, reading no deeper, never derives from the block that was replaced.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { expect } from 'chai'
import { parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { Devnet } from '../cli/devnet.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL } from '../sdk/protocol.js'
import { testDevnet, until } from './helpers/devnet.js'
import { ProxiedNode } from './helpers/cluster.js'

const CONFIRMATIONS = 3
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What both cases use of a devnet. */
function parts(dev: Devnet) {
  const l1 = l1Public(dev.state.l1)
  const d = dev.state.deployment
  const [keyA, keyB] = dev.state.keys.traders as [`0x${string}`, `0x${string}`]
  return {
    l1,
    d,
    seq: dev.node.sequencer,
    client: new VeridexClient(dev.node.url),
    mine: (n: number) => l1.request({ method: 'anvil_mine' as never, params: [`0x${n.toString(16)}`] as never }),
    onL1: async () => Number(await l1.readContract({ address: d.inbox, abi: sequencerInboxAbi, functionName: 'delayedCount' })),
    amount: parseUnits('1000', 6),
    keyA,
    keyB,
    a: privateKeyToAccount(keyA).address,
    b: privateKeyToAccount(keyB).address,
  }
}

/**
 * Mines `depth` blocks so that whatever the devnet delivered at start is included, then waits
 * for a quiet L1 (the proposer's start-up assertions and confirmations mined), so that no other
 * transaction buries a deposit deeper than the test does. Returns the delayed count then.
 */
async function quiet(dev: Devnet, depth: number): Promise<number> {
  const { l1, seq, mine, onL1 } = parts(dev)
  await mine(depth)
  const count0 = await onL1()
  await until('the start-up delayed messages included', () => (seq.delayedCount === count0 ? true : undefined))
  let last = -1n
  await until('a quiet L1', async () => {
    const h = await l1.getBlockNumber({ cacheTime: 0 })
    const still = h === last
    last = h
    await sleep(2_000)
    return still && h === (await l1.getBlockNumber({ cacheTime: 0 })) ? true : undefined
  }, 90_000)
  return count0
}

describe('L1 confirmations: a deposit taken back by a reorg before it is deep enough is never included', function () {
  this.timeout(180_000)
  let dev: Devnet

  before(async () => {
    dev = await testDevnet({ challenger: false, l1Confirmations: CONFIRMATIONS })
  })

  after(async () => {
    await dev?.stop()
  })

  it('includes a deposit only once it is 3 blocks deep; one a reorg removed is never included, and batches and the verifier go on', async () => {
    const { l1, d, seq, client, mine, onL1, a, b, keyA, keyB, amount } = parts(dev)
    const count0 = await quiet(dev, CONFIRMATIONS)

    // A deposit, in the head block: not deep enough yet.
    const depositA = await depositCollateral(l1, l1Wallet(dev.state.l1, keyA), d, a, amount)
    expect(await onL1()).to.equal(count0 + 1)
    await sleep(1_500) // three of the node's L1 polls
    const head = await l1.getBlockNumber({ cacheTime: 0 })
    expect(Number(head - depositA.block), 'nothing else buried the deposit').to.be.lessThan(CONFIRMATIONS)
    expect(seq.delayedCount, 'a deposit under 3 blocks deep is not included').to.equal(count0)

    // A reorg replaces the deposit's block (and any after it) with empty ones: L1 forgets it.
    const depth = Number(head - depositA.block) + 1
    await l1.request({ method: 'anvil_reorg' as never, params: [depth, []] as never })
    expect(await onL1(), 'the reorg took the deposit back').to.equal(count0)
    await mine(CONFIRMATIONS + 2)
    await sleep(1_500)
    expect(seq.delayedCount, 'never included').to.equal(count0)
    expect(BigInt((await client.account(a)).balances[ASSET_COLLATERAL] ?? '0'), 'never credited').to.equal(0n)

    // A deposit that stays is included once 3 blocks deep, credited, and its batch lands on L1
    // and is derived by the verifier with the sequencer's state root.
    await depositCollateral(l1, l1Wallet(dev.state.l1, keyB), d, b, amount)
    await sleep(1_000)
    expect(seq.delayedCount).to.equal(count0)
    await mine(CONFIRMATIONS)
    await until('the deposit included', () => (seq.delayedCount === count0 + 1 ? true : undefined))
    await until('the deposit credited', async () => (BigInt((await client.account(b)).balances[ASSET_COLLATERAL] ?? '0') === amount ? true : undefined))
    const batch = seq.closeBatch() ?? seq.journal.lastBatch()!
    await until('the batch posted', () => (seq.journal.batch(batch.index)?.status === 'posted' ? true : undefined))
    const verified = await until('the batch verified', async () => {
      await mine(1) // the verifier reads 3 blocks under the head too
      const v = dev.node.verifier.head()
      return v && v.index >= batch.index ? v : undefined
    })
    expect(verified.index).to.equal(batch.index)
    expect(verified.stateRoot).to.equal(seq.journal.batch(batch.index)!.stateRoot)
  })
})

describe('L1 confirmations `finalized`: a deposit is included once L1 finalizes its block', function () {
  this.timeout(180_000)
  let dev: Devnet

  before(async () => {
    dev = await testDevnet({ challenger: false, l1Confirmations: 'finalized' })
  })

  after(async () => {
    await dev?.stop()
  })

  it('not at 63 blocks deep; at 64, where anvil finalizes (two epochs of 32 under its head), and credited', async () => {
    const { l1, d, seq, client, mine, onL1, a, keyA, amount } = parts(dev)
    await quiet(dev, 64)
    // once more: the batch of the start-up messages is derived only when finalized, and then the
    // proposer asserts and confirms it
    const count0 = await quiet(dev, 64)
    const deposit = await depositCollateral(l1, l1Wallet(dev.state.l1, keyA), d, a, amount)
    expect(await onL1()).to.equal(count0 + 1)
    await mine(Number(deposit.block + 63n - (await l1.getBlockNumber({ cacheTime: 0 }))))
    await sleep(1_500) // three of the node's L1 polls
    expect(await l1.getBlockNumber({ cacheTime: 0 }), 'nothing else buried the deposit').to.equal(deposit.block + 63n)
    expect(seq.delayedCount, 'not finalized: not included').to.equal(count0)
    await mine(1)
    await until('the deposit included', () => (seq.delayedCount === count0 + 1 ? true : undefined))
    await until('the deposit credited', async () => (BigInt((await client.account(a)).balances[ASSET_COLLATERAL] ?? '0') === amount ? true : undefined))
  })
})

describe('L1 confirmations by default: `finalized` on an L1 that is not a local one', function () {
  this.timeout(180_000)
  let fixture: ProxiedNode

  before(async () => {
    // Sepolia's chain id on an anvil that labels blocks as post-merge Ethereum does (safe 32 and
    // finalized 64 blocks under its head); each trader's deposit is mined during the setup. The
    // node runs without --l1-confirmations (the fixture's proxy injects no faults).
    fixture = await ProxiedNode.start({ name: 'l1-default-depth', traders: 1, chainId: 11155111, node: {} })
  })

  after(async () => {
    await fixture?.stop()
  })

  it('a node started without --l1-confirmations says it reads at finalized, and credits a deposit made before it started only once 64 blocks deep, past safe', async () => {
    const { setup, node, dataDir } = fixture
    const l1 = setup.l1
    const logFile = path.join(dataDir, 'node.log')
    const client = new VeridexClient(node.url)
    const trader = privateKeyToAccount(setup.keys.traders[0]!).address
    const credited = async () => BigInt((await client.account(trader)).balances[ASSET_COLLATERAL] ?? '0') > 0n
    const mine = (n: number) => l1.request({ method: 'anvil_mine' as never, params: [`0x${n.toString(16)}`] as never })
    // the node's output reaches its log file through a pipe: wait for the line rather than race it
    await until('the node says how deep it reads L1', () => (readFileSync(logFile, 'utf8').includes('node: reading L1 up to its finalized block (the default on L1 chain 11155111') ? true : undefined), 10_000)

    const head = await l1.getBlockNumber({ cacheTime: 0 }) // the deposit is in this block or an earlier one
    await sleep(1_500) // several of the node's L1 polls (200 ms)
    expect(await credited(), 'at the head (the depth of a local L1) it would be credited').to.equal(false)
    await mine(40)
    expect((await l1.getBlock({ blockTag: 'safe' })).number >= head, 'the deposit is safe').to.equal(true)
    expect((await l1.getBlock({ blockTag: 'finalized' })).number < head, 'not finalized yet').to.equal(true)
    await sleep(1_500)
    expect(await credited(), 'at `safe` or 40 blocks it would be credited').to.equal(false)
    await mine(24)
    await until('the deposit credited once finalized', async () => ((await credited()) ? true : undefined))
  })
})
