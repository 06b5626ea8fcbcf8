/**
 * L1 plumbing against a second anvil with another chain id (standing in for a public testnet):
 * `deploy` + the services by RPC URL, chain id and key; L2 transactions sent through the delayed
 * inbox; and force inclusion while the sequencer is down, honoured by the verifier.
 */
import { expect } from 'chai'
import { parseEther, parseUnits, bytesToHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startAnvil, type Anvil } from '../contracts/anvil.js'
import { deployVeridex, type Deployment } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { rollupAbi, sequencerInboxAbi, testCollateralAbi } from '../contracts/out/artifacts.js'
import { genesisRoots } from '../executor/genesis.js'
import { Verifier } from '../executor/verifier.js'
import { depositCollateral } from '../bridge/client.js'
import { startNode, type NodeHandle } from '../cli/node.js'
import { ensureRedis, type RedisHandle } from '../cli/redis.js'
import { devnetGenesis, BTC_PERP } from '../cli/config.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL, encodeUnsignedItem } from '../sdk/protocol.js'
import { tempDir, until } from './helpers/devnet.js'
import path from 'node:path'

const TESTNET_CHAIN_ID = 11155111

describe('L1 plumbing on a second chain id', function () {
  this.timeout(180_000)
  let anvil: Anvil
  let redis: RedisHandle
  let node: NodeHandle | undefined
  let deployment: Deployment
  const keys = { deployer: '' as Hex, sequencer: '' as Hex, proposer: '' as Hex, oracle: '' as Hex, alice: '' as Hex, bob: '' as Hex }
  const genesis = () => devnetGenesis(privateKeyToAccount(keys.oracle).address)
  const cfg = () => ({ rpcUrl: anvil.rpcUrl, chainId: TESTNET_CHAIN_ID })

  before(async () => {
    redis = await ensureRedis()
    anvil = await startAnvil({ chainId: TESTNET_CHAIN_ID })
    const k = (i: number) => anvil.privateKeys[i]!
    Object.assign(keys, { deployer: k(0), sequencer: k(1), proposer: k(2), alice: k(3), bob: k(4), oracle: k(5) })
    const roots = await genesisRoots(genesis())
    deployment = await deployVeridex({
      rpcUrl: anvil.rpcUrl,
      chainId: TESTNET_CHAIN_ID,
      deployerKey: keys.deployer,
      sequencer: privateKeyToAccount(keys.sequencer).address,
      proposer: privateKeyToAccount(keys.proposer).address,
      moduleRoot: roots.moduleRoot,
      genesisMachineRoot: roots.machineRoot,
      genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: 2n,
      bondWei: parseEther('0.1'),
      forceInclusionDelaySeconds: 60n,
    })
    const l1 = l1Public(cfg())
    for (const k of [keys.alice, keys.bob]) {
      const hash = await l1Wallet(cfg(), keys.deployer).writeContract({ address: deployment.collateral, abi: testCollateralAbi, functionName: 'mint', args: [privateKeyToAccount(k).address, parseUnits('1000', 6)] })
      await l1.waitForTransactionReceipt({ hash })
    }
  })
  after(async () => {
    await node?.stop()
    await anvil?.stop()
    await redis?.stop()
  })

  const start = (chainId = TESTNET_CHAIN_ID) =>
    startNode({
      rpcUrl: anvil.rpcUrl, chainId, deployment, genesis: genesis(), sequencerKey: keys.sequencer, proposerKey: keys.proposer,
      redisUrl: redis.url, dataDir: tempDir('testnet'), batchMaxAgeMs: 300, log: () => {},
      // anvil mines only when sent a transaction: at `finalized`, the default off a local chain
      // id (test/l1-confirmations checks it), nothing here would be read for 64 blocks
      l1Confirmations: 0,
    })

  it('refuses an endpoint whose chain id differs from --chain-id', async () => {
    let err: Error | undefined
    await start(1).catch((e: Error) => (err = e))
    expect(err?.message).to.match(/chain id 11155111, not 1.*--chain-id/)
  })

  it('posts batches and assertions to the chain given by RPC URL and chain id', async () => {
    node = await start()
    const client = new VeridexClient(node.url)
    const l1 = l1Public(cfg())
    // engine v1 refuses oracle prices more than maxOracleAgeSeconds (default a day) from the batch
    // clock, which follows the wall clock and the L1 head: stamp the price with the L1 head's time
    const { timestamp } = await l1.getBlock()
    await client.submitOraclePrice(privateKeyToAccount(keys.oracle), { market: BTC_PERP.id, price: 60_000_000_000n, timestamp })
    await until('an assertion on L1', async () => {
      const n = (await l1.readContract({ address: deployment.rollup, abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      return n > 1n ? n : undefined
    })
    const batches = (await l1.readContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
    expect(batches > 0n).to.equal(true)
  })

  it('includes an L2 transaction sent through the L1 delayed inbox, authenticated by its L1 sender', async () => {
    const client = new VeridexClient(node!.url)
    const l1 = l1Public(cfg())
    const alice = privateKeyToAccount(keys.alice)
    const bob = privateKeyToAccount(keys.bob)
    await depositCollateral(l1, l1Wallet(cfg(), keys.alice), deployment, alice.address, parseUnits('100', 6))
    await until('deposit', async () => ((await client.account(alice.address)).balances[ASSET_COLLATERAL] === '100000000' ? true : undefined))
    // Alice moves 40 vUSD to Bob from L1, without the sequencer's API and without a signature.
    const payload = encodeUnsignedItem({ kind: 'Transfer', message: { to: bob.address, asset: ASSET_COLLATERAL, amount: parseUnits('40', 6), nonce: 0n } })
    const hash = await l1Wallet(cfg(), keys.alice).writeContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'sendL2Message', args: [bytesToHex(payload)] })
    await l1.waitForTransactionReceipt({ hash })
    await until('the L1-sent transfer on L2', async () => ((await client.account(bob.address)).balances[ASSET_COLLATERAL] === '40000000' ? true : undefined))
    expect((await client.account(alice.address)).balances[ASSET_COLLATERAL]).to.equal('60000000')
  })

  it('with the sequencer down, forceInclusion gets a deposit in after the delay and the verifier honours it', async () => {
    await node!.stop()
    node = undefined
    const l1 = l1Public(cfg())
    const postedBatches = (await l1.readContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
    const bob = privateKeyToAccount(keys.bob)
    await depositCollateral(l1, l1Wallet(cfg(), keys.bob), deployment, bob.address, parseUnits('5', 6))
    const delayedCount = (await l1.readContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'delayedCount' })) as bigint
    const anyone = l1Wallet(cfg(), keys.deployer)
    const force = () => anyone.writeContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'forceInclusion', args: [delayedCount] })
    let early: Error | undefined
    await force().catch((e: Error) => (early = e))
    expect(early?.message, 'too early').to.match(/ForceInclusionTooSoon/)
    await l1.request({ method: 'evm_increaseTime' as never, params: [61] as never })
    await l1.request({ method: 'evm_mine' as never, params: [] as never })
    const receipt = await l1.waitForTransactionReceipt({ hash: await force() })
    expect(receipt.status).to.equal('success')

    const verifier = await Verifier.create({ l1, inbox: deployment.inbox, fromBlock: deployment.deployBlock, genesis: genesis(), dbPath: path.join(tempDir('verifier'), 'v.sqlite') })
    const verified = await verifier.sync()
    expect(verified.length).to.equal(Number(postedBatches) + 1)
    expect(verifier.state.account(bob.address).balances[ASSET_COLLATERAL]).to.equal(parseUnits('45', 6))
    await verifier.stop()
  })
})
