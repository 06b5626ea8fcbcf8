/**
 * The `veridex` command. Trader commands default to the running devnet (its state file) and
 * take --sequencer-url / --rpc / --chain-id / --deployment / --key to point anywhere else.
 */
import { Command, Option, InvalidArgumentError } from 'commander'
import { type Address, type Hex, formatUnits, getAddress, isAddress, parseEther, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readDeployment, deployVeridex, type Deployment } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { rollupAbi, sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { genesisRoots } from '../executor/genesis.js'
import { depositCollateral, depositEth, finalizeWithdrawal, waitForWithdrawalProof } from '../bridge/client.js'
import { VeridexClient, VeridexRpcError } from '../sdk/client.js'
import { ASSET_COLLATERAL, ASSET_ETH, ETH_QUANTUM_WEI, type GenesisConfig } from '../sdk/protocol.js'
import { readDevnetState, devnetGenesis, writeDeploymentFile, readGenesisFromDeploymentFile, addressOf, BTC_PERP, DEFAULT_L2_CHAIN_ID, DEVNET_STATE, type DevnetState } from './config.js'
import { AssertionStatus, readAssertion } from '../prover/proposer.js'
import { registerVm } from './vm.js'
import { registerDispute } from './dispute.js'

const program = new Command()
program
  .name('veridex')
  .description('Veridex: an optimistic rollup for derivatives trading. Trader commands talk to the running devnet unless told otherwise.')
  .showHelpAfterError()

// ---- shared options ---------------------------------------------------------------------------

interface Common { sequencerUrl?: string; rpc?: string; chainId?: string; deployment?: string; key?: string }

const withTarget = (c: Command) =>
  c
    .option('--sequencer-url <url>', 'sequencer JSON-RPC URL (default: the running devnet)')
    .option('--rpc <url>', 'L1 JSON-RPC URL (default: the running devnet)')
    .option('--chain-id <id>', 'L1 chain id (default: the running devnet)')
    .option('--deployment <file>', 'deployment JSON written by `veridex deploy` (default: the running devnet)')
    .option('--key <hex>', 'private key to sign with (default: devnet trader 0)')

function devnetOrFail(what: string): DevnetState {
  const s = readDevnetState()
  if (!s) throw new Error(`no ${what} given and no running devnet (${DEVNET_STATE}): start one with \`npm run devnet\`, or pass the option`)
  return s
}

function target(o: Common) {
  const dev = o.sequencerUrl && o.rpc && o.chainId && o.deployment && o.key ? undefined : readDevnetState()
  const need = (v: string | undefined, name: string, fromDev: () => string | undefined) => {
    const r = v ?? fromDev()
    if (!r) throw new Error(`--${name} is required when no devnet is running (start one with \`npm run devnet\`)`)
    return r
  }
  const sequencerUrl = need(o.sequencerUrl, 'sequencer-url', () => dev?.sequencerUrl)
  const key = need(o.key, 'key', () => dev?.keys.traders[0]) as Hex
  return {
    client: new VeridexClient(sequencerUrl),
    account: privateKeyToAccount(key),
    key,
    l1: async () => {
      const rpcUrl = need(o.rpc, 'rpc', () => dev?.l1.rpcUrl)
      const chainId = Number(need(o.chainId, 'chain-id', () => dev?.l1.chainId.toString()))
      const deployment: Deployment = o.deployment ? await readDeployment(o.deployment) : devnetOrFail('--deployment').deployment
      const cfg = { rpcUrl, chainId }
      return { cfg, pub: l1Public(cfg), wallet: l1Wallet(cfg, key), deployment }
    },
  }
}

const positiveDecimal = (v: string) => {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new InvalidArgumentError('expected a positive decimal number, e.g. 1.5')
  return v
}

const addressArg = (v: string): Address => {
  if (!isAddress(v, { strict: false })) throw new InvalidArgumentError('expected a 0x-prefixed 20-byte address')
  return getAddress(v)
}

const assetOption = () => new Option('--asset <asset>', 'collateral (vUSD) or eth').choices(['collateral', 'eth']).default('collateral')

/** Human amount → engine quantums for an asset. */
const quantums = (asset: string, amount: string) => (asset === 'eth' ? parseEther(amount) / ETH_QUANTUM_WEI : parseUnits(amount, 6))

const show = (v: unknown) => console.log(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x), 2))

// ---- devnet and operators ---------------------------------------------------------------------

program
  .command('devnet')
  .description('start anvil, deploy the contracts, fund test accounts, and run sequencer, verifier, proposer and challenger (Ctrl-C stops)')
  .option('--port <port>', 'sequencer JSON-RPC port', '8547')
  .option('--host <host>', 'sequencer JSON-RPC bind address (0.0.0.0 inside a container)', '127.0.0.1')
  .option('--l1-port <port>', 'anvil port (default: any free port)')
  .option('--challenge-period <seconds>', 'Rollup challenge period', '5')
  .option('--batch-age <ms>', 'close a batch after this many milliseconds', '1000')
  .action(async (o) => {
    const { startDevnet, describeDevnet } = await import('./devnet.js')
    const dev = await startDevnet({ port: Number(o.port), host: o.host, l1Port: o.l1Port ? Number(o.l1Port) : undefined, challengePeriodSeconds: Number(o.challengePeriod), batchMaxAgeMs: Number(o.batchAge) })
    console.log(describeDevnet(dev.state))
    const stop = async () => {
      console.log('stopping devnet…')
      await dev.stop()
      process.exit(0)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

program
  .command('deploy')
  .description('deploy SequencerInbox, Rollup, Bridge, the one-step provers, DisputeGame and a test collateral token to any L1 (e.g. a public testnet)')
  .requiredOption('--rpc <url>', 'L1 JSON-RPC URL')
  .requiredOption('--chain-id <id>', 'L1 chain id (checked against the endpoint)')
  .requiredOption('--key <hex>', 'deployer private key (pays gas)')
  .option('--sequencer <address>', 'address allowed to post batches (default: the deployer)', addressArg)
  .option('--proposer <address>', 'first validator allowed to post assertions (default: the deployer)', addressArg)
  .option('--oracle <address>', 'oracle key address in the genesis config (default: the deployer)', addressArg)
  .option('--l2-chain-id <id>', 'L2 chain id for EIP-712 signatures', String(DEFAULT_L2_CHAIN_ID))
  .option('--challenge-period <seconds>', 'Rollup challenge period', '3600')
  .option('--bond <eth>', 'assertion bond in ETH', '0.1')
  .option('--force-inclusion-delay <seconds>', 'delay before anyone may force-include a delayed message', '86400')
  .option('--dispute-clock <seconds>', "each party's total time per dispute game", '3600')
  .option('--challenge-bond <eth>', "a challenger's bond per dispute game in ETH (default: the assertion bond)")
  .option('--out <file>', 'where to write the deployment JSON', 'deployment.json')
  .action(async (o) => {
    const deployer = addressOf(o.key)
    const genesis: GenesisConfig = devnetGenesis(o.oracle ?? deployer, Number(o.l2ChainId))
    const roots = await genesisRoots(genesis)
    const d = await deployVeridex({
      rpcUrl: o.rpc,
      chainId: Number(o.chainId),
      deployerKey: o.key,
      sequencer: o.sequencer ?? deployer,
      proposer: o.proposer ?? deployer,
      moduleRoot: roots.moduleRoot,
      genesisMachineRoot: roots.machineRoot,
      genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: BigInt(o.challengePeriod),
      bondWei: parseEther(o.bond),
      forceInclusionDelaySeconds: BigInt(o.forceInclusionDelay),
      disputeClockSeconds: BigInt(o.disputeClock),
      challengeBondWei: parseEther(o.challengeBond ?? o.bond),
      log: (l) => console.log(l),
    })
    writeDeploymentFile(o.out, d, genesis)
    console.log(`deployed; wrote ${o.out}`)
    show({ ...d, genesisStateRoot: roots.stateRoot })
  })

program
  .command('node')
  .description('run sequencer, verifier, proposer (which defends its assertions) and challenger against any L1, for a deployment made by `veridex deploy`')
  .requiredOption('--rpc <url>', 'L1 JSON-RPC URL')
  .requiredOption('--chain-id <id>', 'L1 chain id (checked against the endpoint)')
  .requiredOption('--deployment <file>', 'deployment JSON from `veridex deploy`')
  .requiredOption('--sequencer-key <hex>', 'key of the address allowed to post batches')
  .option('--proposer-key <hex>', 'key of a Rollup validator; omit to run without a proposer')
  .option('--challenger-key <hex>', 'key that challenges wrong assertions (it needs ETH for the challenge bond); omit to run no challenger')
  .option('--trace-workers <n>', 'in-process dispute trace workers (add more with `veridex worker`)', '1')
  .option('--data-dir <dir>', 'where the journals live', '.veridex/node')
  .option('--port <port>', 'JSON-RPC port', '8547')
  .option('--host <host>', 'JSON-RPC bind address', '127.0.0.1')
  .option('--batch-age <ms>', 'close a batch after this many milliseconds', '2000')
  .option('--l1-poll <ms>', 'how often to read L1', '2000')
  .action(async (o) => {
    const { ensureRedis } = await import('./redis.js')
    const { startNode } = await import('./node.js')
    const d = await readDeployment(o.deployment)
    const genesis = readGenesisFromDeploymentFile(o.deployment)
    const redis = await ensureRedis((l) => console.log(l))
    const node = await startNode({
      rpcUrl: o.rpc, chainId: Number(o.chainId), deployment: d, genesis, sequencerKey: o.sequencerKey, proposerKey: o.proposerKey,
      challengerKey: o.challengerKey, traceWorkers: Number(o.traceWorkers),
      redisUrl: redis.url, dataDir: o.dataDir, port: Number(o.port), host: o.host, batchMaxAgeMs: Number(o.batchAge), l1PollMs: Number(o.l1Poll),
    })
    console.log(`veridex node: JSON-RPC ${node.url}, WebSocket ${node.wsUrl}`)
    const stop = async () => { await node.stop(); await redis.stop(); process.exit(0) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

// ---- trader commands --------------------------------------------------------------------------

withTarget(program.command('deposit'))
  .description('deposit collateral or ETH from L1 into your L2 account (a delayed message the sequencer includes)')
  .requiredOption('--amount <amount>', 'amount in whole units (vUSD or ETH), e.g. 1000 or 0.5', positiveDecimal)
  .addOption(assetOption())
  .option('--to <address>', 'L2 account to credit (default: your own)', addressArg)
  .action(async (o) => {
    const t = target(o)
    const { pub, wallet, deployment } = await t.l1()
    const to = o.to ?? t.account.address
    const r = o.asset === 'eth'
      ? await depositEth(pub, wallet, deployment, to, parseEther(o.amount))
      : await depositCollateral(pub, wallet, deployment, to, parseUnits(o.amount, 6))
    console.log(`deposited ${o.amount} ${o.asset === 'eth' ? 'ETH' : 'vUSD'} for ${to}: delayed message ${r.delayedIndex} in L1 tx ${r.tx}`)
  })

withTarget(program.command('order'))
  .description('place a limit order (good till cancelled)')
  .addOption(new Option('--side <side>', 'buy or sell').choices(['buy', 'sell']).makeOptionMandatory())
  .requiredOption('--price <usd>', 'limit price in USD, a multiple of the tick size', positiveDecimal)
  .requiredOption('--size <units>', 'size in base units (e.g. BTC), a multiple of the step size', positiveDecimal)
  .option('--market <id>', 'market id', String(BTC_PERP.id))
  .action(async (o) => {
    const t = target(o)
    const markets = await t.client.request<{ id: number; sizeDecimals: number }[]>('vdx_getMarkets')
    const m = markets.find((x) => x.id === Number(o.market))
    if (!m) throw new Error(`unknown market ${o.market}: available ${markets.map((x) => x.id).join(', ')}`)
    const r = await t.client.placeOrder(t.account, { market: m.id, isBuy: o.side === 'buy', price: parseUnits(o.price, 6), size: parseUnits(o.size, m.sizeDecimals) })
    show(r)
  })

withTarget(program.command('cancel'))
  .description('cancel one of your open orders')
  .argument('<orderId>', 'order id returned by `veridex order`')
  .action(async (orderId: string, o) => {
    const t = target(o)
    show(await t.client.cancelOrder(t.account, BigInt(orderId)))
  })

withTarget(program.command('account'))
  .description('show an L2 account: nonce, balances, positions, equity and margin')
  .argument('[address]', 'account (default: your own)')
  .action(async (address: string | undefined, o) => {
    const t = target(o)
    const a = await t.client.account(address ? addressArg(address) : t.account.address)
    show({ ...a, human: { collateral: formatUnits(BigInt(a.balances[ASSET_COLLATERAL] ?? '0'), 6) + ' vUSD', eth: formatUnits(BigInt(a.balances[ASSET_ETH] ?? '0'), 9) + ' ETH' } })
  })

withTarget(program.command('withdraw'))
  .description('request a withdrawal to L1; finalize it with `veridex finalize-withdrawal` once confirmed')
  .requiredOption('--amount <amount>', 'amount in whole units (vUSD or ETH)', positiveDecimal)
  .addOption(assetOption())
  .option('--to <address>', 'L1 recipient (default: your own address)', addressArg)
  .action(async (o) => {
    const t = target(o)
    const r = await t.client.withdraw(t.account, { to: o.to ?? t.account.address, asset: o.asset === 'eth' ? ASSET_ETH : ASSET_COLLATERAL, amount: quantums(o.asset, o.amount) })
    console.log(`withdrawal ${r.withdrawalIndex} accepted in batch ${r.batch}; finalize it on L1 once confirmed: veridex finalize-withdrawal ${r.withdrawalIndex} --wait`)
  })

withTarget(program.command('finalize-withdrawal'))
  .description('pay a withdrawal on L1 with its outbox proof (once its assertion is confirmed)')
  .argument('<index>', 'withdrawal index returned by `veridex withdraw`')
  .option('--wait', 'wait until the withdrawal is confirmed instead of failing')
  .action(async (index: string, o) => {
    const t = target(o)
    const { pub, wallet, deployment } = await t.l1()
    const proof = o.wait
      ? await waitForWithdrawalProof(t.client, BigInt(index), { onWait: (w) => console.log(`waiting: ${w}`), timeoutMs: 600_000 })
      : await t.client.withdrawalProof(BigInt(index))
    const r = await finalizeWithdrawal(pub, wallet, deployment, proof)
    console.log(`withdrawal ${index} paid on L1 in tx ${r.tx} (gas ${r.gasUsed}) against assertion ${proof.assertionId}`)
  })

withTarget(program.command('status'))
  .description('latest batch (sequencer and L1), latest assertion and latest confirmed state root')
  .action(async (o) => {
    const t = target(o)
    const { pub, deployment } = await t.l1()
    const [seq, batchCount, assertionCount, latestConfirmed] = await Promise.all([
      t.client.status(),
      pub.readContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' }) as Promise<bigint>,
      pub.readContract({ address: deployment.rollup, abi: rollupAbi, functionName: 'assertionCount' }) as Promise<bigint>,
      pub.readContract({ address: deployment.rollup, abi: rollupAbi, functionName: 'latestConfirmed' }) as Promise<bigint>,
    ])
    const latest = await readAssertion(pub, deployment.rollup, assertionCount - 1n)
    const confirmed = await readAssertion(pub, deployment.rollup, latestConfirmed)
    const statusName = (s: number) => Object.entries(AssertionStatus).find(([, v]) => v === s)?.[0] ?? String(s)
    show({
      sequencer: { openBatch: seq.openBatch, latestBatch: seq.latestBatch, latestPostedBatch: seq.latestPostedBatch },
      l1: { batches: batchCount },
      latestAssertion: { id: latest.id, status: statusName(latest.status), inboxPosition: latest.inboxPosition, stateRoot: latest.stateRoot },
      confirmed: { id: confirmed.id, inboxPosition: confirmed.inboxPosition, stateRoot: confirmed.stateRoot, outboxRoot: confirmed.outboxRoot },
    })
  })

const demo = program
  .command('demo')
  .description('run the whole path against the running devnet (or a fresh one): deposits, a trade, a batch on L1, a confirmed assertion, a withdrawal paid on L1')
  .option('--fresh', 'start a private devnet even if one is running')
  .action(async (o) => {
    const { runDemo } = await import('./demo.js')
    await runDemo({ fresh: Boolean(o.fresh) })
    process.exit(0)
  })
demo
  .command('fraud')
  .description('a fraud proof on a fresh private devnet: an evil proposer, the honest challenger, the bisection game move by move with gas, the bond paid, an honest assertion confirmed')
  .option('--verbose', "also print the node's log")
  .action(async (o) => {
    const { runFraudDemo } = await import('./demoFraud.js')
    await runFraudDemo({ verbose: Boolean(o.verbose) })
    process.exit(0)
  })

registerVm(program)
registerDispute(program)

program.parseAsync().catch((e: unknown) => {
  if (e instanceof VeridexRpcError) console.error(`error ${e.code}: ${e.message}${e.data ? `\n${JSON.stringify(e.data)}` : ''}`)
  else console.error(`error: ${(e as Error).message}`)
  process.exit(1)
})

