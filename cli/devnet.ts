/**
 * `npm run devnet`: anvil on loopback, the contracts deployed, test accounts funded, and the
 * sequencer, verifier and proposer running — one command, nothing to configure.
 */
import { rmSync } from 'node:fs'
import path from 'node:path'
import { parseEther, type Hex } from 'viem'
import { startAnvil, type Anvil } from '../contracts/anvil.js'
import { deployVeridex } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { testCollateralAbi } from '../contracts/out/artifacts.js'
import { genesisRoots } from '../executor/genesis.js'
import { VeridexClient } from '../sdk/client.js'
import { privateKeyToAccount } from 'viem/accounts'
import { ensureRedis, type RedisHandle } from './redis.js'
import { startNode, type NodeHandle, type NodeOptions } from './node.js'
import { DEVNET_ACCOUNTS, DEVNET_OPENING_PRICES, DEVNET_ROLES, DEVNET_STATE, STATE_DIR, devnetGenesis, writeDevnetState, addressOf, type DevnetState } from './config.js'
import { OracleFeeder } from './oracleFeeder.js'

export interface DevnetOptions {
  /** Sequencer JSON-RPC port (0 = any free port). */
  port?: number
  /** Sequencer JSON-RPC bind address (default 127.0.0.1). */
  host?: string
  /** anvil port (0 = any free port). */
  l1Port?: number
  l1ChainId?: number
  challengePeriodSeconds?: number
  batchMaxAgeMs?: number
  /** Collateral minted to each trader account, in token units (6 decimals). */
  fundCollateral?: bigint
  /** Where journals live; wiped at start (a devnet starts from genesis). */
  dataDir?: string
  /** Write the state file other `veridex` commands read. */
  writeState?: boolean
  /** Seconds between L1 blocks; default: a block per transaction. */
  l1BlockTime?: number
  /** Each dispute party's chess clock, seconds (default 600 on a devnet). */
  disputeClockSeconds?: number
  /** JSON-RPC transport limits and client rate limits (see NodeOptions). */
  rpc?: NodeOptions['rpc']
  rateLimits?: NodeOptions['rateLimits']
  /** Run the challenger (default true). */
  challenger?: boolean
  /** How far under the L1 head the node reads (NodeOptions.l1Confirmations; default 0, whatever the L1 chain id). */
  l1Confirmations?: NodeOptions['l1Confirmations']
  /**
   * Milliseconds between the devnet oracle's price updates (a small deterministic random walk);
   * 0 (the default here; `veridex devnet` and the demo use 5000) publishes only the opening prices.
   */
  oracleFeedMs?: number
  /** Largest oracle move per update in ppm (default 500; 0 keeps prices constant). */
  oracleStepPpm?: number
  /** Oracle staleness bound of the genesis (default: 60 s with a feeder, else 86,400 s). */
  maxOracleAgeSeconds?: number
  /** Run the node's liquidation keeper (default true). */
  keeper?: boolean
  /** Make the devnet's proposer dishonest (`veridex demo fraud`, tests). */
  proposerTamper?: NodeOptions['proposerTamper']
  /** Dispute moves and games of the node's challenger and the proposer's defender. */
  onDisputeMove?: NodeOptions['onDisputeMove']
  onDisputeGame?: NodeOptions['onDisputeGame']
  log?: (line: string) => void
}

export interface Devnet { state: DevnetState; anvil: Anvil; redis: RedisHandle; node: NodeHandle; oracle: OracleFeeder; stop(): Promise<void> }

export async function startDevnet(o: DevnetOptions = {}): Promise<Devnet> {
  const log = o.log ?? ((l: string) => console.log(l))
  const redis = await ensureRedis(log)
  const anvil = await startAnvil({ port: o.l1Port || undefined, chainId: o.l1ChainId ?? 31337, accounts: DEVNET_ACCOUNTS, blockTime: o.l1BlockTime })
  log(`L1: anvil on ${anvil.rpcUrl} (chain id ${anvil.chainId})`)
  const keys = anvil.privateKeys
  const key = (i: number) => keys[i] as Hex
  const roles = {
    deployer: key(DEVNET_ROLES.deployer),
    sequencer: key(DEVNET_ROLES.sequencer),
    proposer: key(DEVNET_ROLES.proposer),
    oracle: key(DEVNET_ROLES.oracle),
    traders: DEVNET_ROLES.traders.map(key),
    challenger: key(DEVNET_ROLES.challenger),
    validator: key(DEVNET_ROLES.validator),
    admin: key(DEVNET_ROLES.admin),
    feeAccount: key(DEVNET_ROLES.feeAccount),
  }
  const oracleFeedMs = o.oracleFeedMs ?? 0
  const genesis = devnetGenesis(addressOf(roles.oracle), undefined, {
    admin: addressOf(roles.admin),
    feeAccount: addressOf(roles.feeAccount),
    maxOracleAgeSeconds: o.maxOracleAgeSeconds ?? (oracleFeedMs > 0 ? 60 : undefined),
  })
  const roots = await genesisRoots(genesis)
  const challengePeriodSeconds = o.challengePeriodSeconds ?? 5
  const deployment = await deployVeridex({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    deployerKey: roles.deployer,
    sequencer: addressOf(roles.sequencer),
    proposer: addressOf(roles.proposer),
    moduleRoot: roots.moduleRoot,
    genesisMachineRoot: roots.machineRoot,
    genesisOutboxRoot: roots.outboxRoot,
    challengePeriodSeconds: BigInt(challengePeriodSeconds),
    bondWei: parseEther('1'),
    forceInclusionDelaySeconds: 600n,
    maxTimeVariationSeconds: 86_400n,
    disputeClockSeconds: BigInt(o.disputeClockSeconds ?? 600),
  })
  log(`L1: deployed SequencerInbox ${deployment.inbox}, Rollup ${deployment.rollup}, Bridge ${deployment.bridge}, DisputeGame ${deployment.disputeGame}, collateral ${deployment.collateral}`)

  const l1cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
  const l1 = l1Public(l1cfg)
  const deployer = l1Wallet(l1cfg, roles.deployer)
  const fund = o.fundCollateral ?? 1_000_000_000_000n // 1,000,000 vUSD
  for (const t of roles.traders) {
    const hash = await deployer.writeContract({ address: deployment.collateral, abi: testCollateralAbi, functionName: 'mint', args: [addressOf(t), fund] })
    await l1.waitForTransactionReceipt({ hash })
  }

  const dataDir = o.dataDir ?? path.join(STATE_DIR, 'devnet-data')
  rmSync(dataDir, { recursive: true, force: true })
  const node = await startNode({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    deployment,
    genesis,
    sequencerKey: roles.sequencer,
    proposerKey: roles.proposer,
    challengerKey: o.challenger === false ? undefined : roles.challenger,
    proposerTamper: o.proposerTamper,
    onDisputeMove: o.onDisputeMove,
    onDisputeGame: o.onDisputeGame,
    redisUrl: redis.url,
    dataDir,
    port: o.port ?? 8547,
    host: o.host,
    batchMaxAgeMs: o.batchMaxAgeMs ?? 1000,
    rpc: o.rpc,
    rateLimits: o.rateLimits,
    keeper: o.keeper,
    // its own anvil, whatever chain id it was given: nothing reorgs it unless a test asks
    l1Confirmations: o.l1Confirmations ?? 0,
    log,
  })

  // A market needs an index before anyone can trade: publish the opening prices, then (with a
  // feeder) keep them fresh.
  const oracle = new OracleFeeder({
    client: new VeridexClient(node.url),
    oracle: privateKeyToAccount(roles.oracle),
    markets: genesis.markets,
    opening: DEVNET_OPENING_PRICES,
    intervalMs: oracleFeedMs,
    stepPpm: o.oracleStepPpm,
    log,
  })
  await oracle.publish()
  if (oracleFeedMs > 0) oracle.start()

  const state: DevnetState = {
    l1: l1cfg,
    sequencerUrl: node.url,
    sequencerWsUrl: node.wsUrl,
    deployment,
    genesis,
    keys: roles,
    challengePeriodSeconds,
    oracleFeedMs,
    pid: process.pid,
  }
  if (o.writeState ?? true) writeDevnetState(state)
  const devnet: Devnet = {
    state,
    anvil,
    redis,
    node,
    oracle,
    async stop() {
      await oracle.stop()
      await devnet.node.stop()
      await anvil.stop()
      await redis.stop()
      if (o.writeState ?? true) rmSync(DEVNET_STATE, { force: true })
    },
  }
  return devnet
}

/** The banner `npm run devnet` prints. */
export function describeDevnet(s: DevnetState): string {
  const lines = [
    '',
    'Veridex devnet is running',
    `  sequencer JSON-RPC  ${s.sequencerUrl}`,
    `  sequencer WebSocket ${s.sequencerWsUrl}`,
    `  L1 (anvil)          ${s.l1.rpcUrl}  chain id ${s.l1.chainId}`,
    `  L2 chain id         ${s.genesis.chainId}`,
    `  SequencerInbox      ${s.deployment.inbox}`,
    `  Rollup              ${s.deployment.rollup}  (challenge period ${s.challengePeriodSeconds} s)`,
    `  Bridge              ${s.deployment.bridge}`,
    `  DisputeGame         ${s.deployment.disputeGame}`,
    `  collateral (vUSD)   ${s.deployment.collateral}`,
    '',
    'Test accounts (anvil dev keys, each with 10,000 ETH and 1,000,000 vUSD on L1):',
    ...s.keys.traders.map((k, i) => `  trader ${i}  ${addressOf(k)}  ${k}`),
    `  oracle    ${addressOf(s.keys.oracle)}  ${s.keys.oracle}${s.oracleFeedMs ? `  (publishes BTC-PERP and ETH-PERP every ${s.oracleFeedMs / 1000} s)` : ''}`,
    `  admin     ${addressOf(s.keys.admin)}  ${s.keys.admin}  (adds and updates markets)`,
    `  fees      ${addressOf(s.keys.feeAccount)}  ${s.keys.feeAccount}  (receives trading fees)`,
    `Markets: ${s.genesis.markets.map((m) => `${m.symbol} (id ${m.id})`).join(', ')}; oracle prices count for ${s.genesis.maxOracleAgeSeconds ?? 86_400} s.`,
    '',
    `State file: ${DEVNET_STATE} (used by the other veridex commands). Ctrl-C stops everything.`,
  ]
  return lines.join('\n')
}
