/**
 * The pieces of the survival tests: a deployment on a real anvil with traders holding L2
 * collateral (deposited through the Bridge), a private redis-server that a test may kill, the
 * node as a real child process (`veridex node`) that a test may SIGKILL, a load of signed orders
 * that records every acknowledgement, and the check that the journal and L1 agree.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import path from 'node:path'
import { type Address, type Hex, bytesToHex, concat, encodePacked, hexToBytes, keccak256, parseEther, parseUnits, zeroHash } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Redis } from 'ioredis'
import { freePort, startAnvil, type Anvil } from '../../contracts/anvil.js'
import { deployVeridex, type Deployment } from '../../contracts/deploy.js'
import { l1Public, l1Wallet, type L1Public } from '../../contracts/l1.js'
import { sequencerInboxAbi, testCollateralAbi } from '../../contracts/out/artifacts.js'
import { depositCollateral } from '../../bridge/client.js'
import { genesisRoots } from '../../executor/genesis.js'
import { InboxReader, type L1Batch } from '../../executor/inboxReader.js'
import { devnetGenesis, writeDeploymentFile, BTC_PERP } from '../../cli/config.js'
import { VeridexClient, VeridexRpcError } from '../../sdk/client.js'
import { FastSigner } from '../../bench/signer.js'
import { TimeInForce, encodeItem, type GenesisConfig, type TxMessage } from '../../sdk/protocol.js'
import type { Journal } from '../../sequencer/journal.js'
import { tempDir, until } from './devnet.js'
import { L1FaultProxy, NO_FAULTS } from './l1FaultProxy.js'
import { rng } from './rng.js'

const L1_CHAIN_ID = 31337
export const ORACLE_PRICE = 60_000n * 1_000_000n

export interface L1Setup {
  anvil: Anvil
  deployment: Deployment
  deploymentFile: string
  genesis: GenesisConfig
  keys: { sequencer: Hex; proposer: Hex; oracle: Hex; traders: Hex[] }
  l1: L1Public
  cfg: { rpcUrl: string; chainId: number }
}

/**
 * anvil, the contracts, and `traders` accounts with 1,000,000 vUSD each deposited on L2.
 * @param o.anvilArgs more anvil flags (e.g. `--slots-in-an-epoch`, which sets how far under the
 *   head anvil labels blocks safe and finalized)
 * @param o.chainId the L1's chain id (default 31337, a local one)
 */
export async function setupL1(o: { traders: number; challengePeriodSeconds?: number; anvilArgs?: string[]; chainId?: number }): Promise<L1Setup> {
  const chainId = o.chainId ?? L1_CHAIN_ID
  const anvil = await startAnvil({ chainId, accounts: 4 + o.traders, args: o.anvilArgs })
  const k = anvil.privateKeys
  const keys = { sequencer: k[1]!, proposer: k[2]!, oracle: k[3]!, traders: k.slice(4, 4 + o.traders) as Hex[] }
  const genesis = devnetGenesis(privateKeyToAccount(keys.oracle).address)
  const roots = await genesisRoots(genesis)
  const cfg = { rpcUrl: anvil.rpcUrl, chainId }
  const deployment = await deployVeridex({
    rpcUrl: anvil.rpcUrl,
    chainId,
    deployerKey: k[0]!,
    sequencer: privateKeyToAccount(keys.sequencer).address,
    proposer: privateKeyToAccount(keys.proposer).address,
    moduleRoot: roots.moduleRoot,
    genesisMachineRoot: roots.machineRoot,
    genesisOutboxRoot: roots.outboxRoot,
    challengePeriodSeconds: BigInt(o.challengePeriodSeconds ?? 2),
    bondWei: parseEther('0.1'),
    forceInclusionDelaySeconds: 600n,
    maxTimeVariationSeconds: 86_400n,
  })
  const l1 = l1Public(cfg)
  const amount = parseUnits('1000000', 6)
  for (const t of keys.traders) {
    const to = privateKeyToAccount(t).address
    const hash = await l1Wallet(cfg, k[0]!).writeContract({ address: deployment.collateral, abi: testCollateralAbi, functionName: 'mint', args: [to, amount] })
    await l1.waitForTransactionReceipt({ hash })
    await depositCollateral(l1, l1Wallet(cfg, t), deployment, to, amount)
  }
  const deploymentFile = path.join(tempDir('deployment'), 'deployment.json')
  writeDeploymentFile(deploymentFile, deployment, genesis)
  return { anvil, deployment, deploymentFile, genesis, keys, l1, cfg }
}

/** A redis-server of the test's own on a free port (never the shared one), keeping nothing on disk. */
export class PrivateRedis {
  private child?: ChildProcess
  private constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort())
    await r.restart()
    return r
  }

  async restart() {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      c.on('error', () => {})
      const ok = await c.connect().then(() => c.ping(), () => undefined)
      c.disconnect()
      if (ok === 'PONG') return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server on port ${this.port} did not start`)
  }

  /** SIGKILL: every job, lock and queue goes with it (nothing is saved). */
  async kill() {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve())
      c.kill('SIGKILL')
    })
  }
}

export interface NodeProcessOptions {
  setup: L1Setup
  redisUrl: string
  dataDir: string
  port: number
  /** L1 endpoint for the node (default: anvil itself; a fault proxy in the L1-fault test). */
  rpcUrl?: string
  withProposer?: boolean
  batchAgeMs?: number
  /** `--l1-poll` (default 200 ms). */
  l1PollMs?: number
  logFile: string
}

/**
 * `veridex node` reaching anvil through an L1FaultProxy (no faults until a test sets a plan), with
 * a private Redis: the L1-facing tests watch, count or break what the node says to L1.
 */
export class ProxiedNode {
  private constructor(readonly setup: L1Setup, readonly redis: PrivateRedis, readonly proxy: L1FaultProxy, readonly node: NodeProcess, readonly dataDir: string) {}

  /** @param o.name temp-dir prefix; o.seed the proxy's fault PRNG seed; o.chainId the L1's (setupL1); o.node the node's other options */
  static async start(o: { name: string; traders: number; seed?: number; chainId?: number; node: Pick<NodeProcessOptions, 'withProposer' | 'batchAgeMs' | 'l1PollMs'> }): Promise<ProxiedNode> {
    const setup = await setupL1({ traders: o.traders, chainId: o.chainId })
    const redis = await PrivateRedis.start()
    const proxy = await L1FaultProxy.start(setup.anvil.rpcUrl, NO_FAULTS, o.seed)
    const dataDir = tempDir(o.name)
    const node = new NodeProcess({ ...o.node, setup, redisUrl: redis.url, dataDir, port: await freePort(), rpcUrl: proxy.url, logFile: path.join(dataDir, 'node.log') })
    await node.start()
    return new ProxiedNode(setup, redis, proxy, node, dataDir)
  }

  async stop() {
    await this.node.stop('SIGKILL')
    this.node.close()
    await this.proxy.stop()
    await this.redis.kill()
    await this.setup.anvil.stop()
  }
}

/** `veridex node` as a child process, so a test can SIGKILL it like a crashing machine would. */
export class NodeProcess {
  private child?: ChildProcess
  private log: WriteStream
  readonly url: string
  starts = 0

  constructor(private readonly o: NodeProcessOptions) {
    this.url = `http://127.0.0.1:${o.port}`
    this.log = createWriteStream(o.logFile, { flags: 'a' })
  }

  /** Starts the node and resolves once its JSON-RPC answers. */
  async start(timeoutMs = 60_000) {
    const s = this.o.setup
    const args = [
      'cli/bin.mjs', 'node',
      '--rpc', this.o.rpcUrl ?? s.cfg.rpcUrl, '--chain-id', String(s.cfg.chainId), '--deployment', s.deploymentFile,
      '--sequencer-key', s.keys.sequencer, '--data-dir', this.o.dataDir, '--port', String(this.o.port),
      '--batch-age', String(this.o.batchAgeMs ?? 300), '--l1-poll', String(this.o.l1PollMs ?? 200),
      ...(this.o.withProposer ? ['--proposer-key', s.keys.proposer] : []),
    ]
    this.log.write(`---- start ${++this.starts}\n`)
    const child = spawn(process.execPath, args, { env: { ...process.env, REDIS_URL: this.o.redisUrl }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.stdout!.pipe(this.log, { end: false })
    child.stderr!.pipe(this.log, { end: false })
    const deadline = Date.now() + timeoutMs
    const client = new VeridexClient(this.url)
    for (;;) {
      if (child.exitCode !== null) throw new Error(`veridex node exited with code ${child.exitCode}; see ${this.o.logFile}`)
      if (await client.request('vdx_chainId').then(() => true, () => false)) return
      if (Date.now() > deadline) throw new Error(`veridex node did not answer within ${timeoutMs} ms; see ${this.o.logFile}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  get running() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Sends `signal` and waits for the process to be gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    const c = this.child
    if (!c || !this.running) return
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve())
      c.kill(signal)
    })
  }

  close() {
    this.log.end()
  }

  /**
   * Makes the started node ready for OrderLoad: an oracle price, and every trader's deposit
   * credited on L2 (an order passes the margin check only with both).
   */
  async primeForOrders(): Promise<VeridexClient> {
    const s = this.o.setup
    const client = new VeridexClient(this.url)
    await client.submitOraclePrice(privateKeyToAccount(s.keys.oracle), { market: BTC_PERP.id, price: ORACLE_PRICE, timestamp: BigInt(Math.floor(Date.now() / 1000)) })
    for (const t of s.keys.traders)
      await until('deposit on L2', async () => ((await client.account(privateKeyToAccount(t).address)).balances['0'] !== undefined ? true : undefined))
    return client
  }
}

export interface Ack {
  trader: number
  /** The batch item bytes the sequencer journals for this transaction. */
  item: Hex
  batch: number
  sentAt: number
  ackAt: number
}

/**
 * Signed orders from several traders at once, each trader one request at a time (nonces are
 * sequential per account). Records every acknowledgement; a request the node never answered (it
 * was killed) is not an acknowledgement, and the trader re-reads its nonce before going on.
 */
export class OrderLoad {
  readonly acks: Ack[] = []
  unanswered = 0
  rejected = 0
  /** The last rejection's message (a load that is all rejected says why). */
  lastRejection?: string
  private readonly signer: FastSigner
  private readonly client: VeridexClient
  private readonly random

  constructor(url: string, private readonly traders: Hex[], chainId: number, seed = 7) {
    this.signer = new FastSigner(chainId)
    this.client = new VeridexClient(url)
    this.random = rng(seed)
  }

  /** Every trader sends orders until `stop()` resolves true (checked between requests). */
  async run(shouldStop: () => boolean) {
    await Promise.all(this.traders.map((key, i) => this.trader(i, key, shouldStop)))
  }

  private async trader(i: number, key: Hex, shouldStop: () => boolean) {
    const address = privateKeyToAccount(key).address as Address
    const secret = hexToBytes(key)
    let nonce: bigint | undefined
    while (!shouldStop()) {
      if (nonce === undefined) {
        nonce = await this.client.nonce(address).catch(() => undefined)
        if (nonce === undefined) {
          await new Promise((r) => setTimeout(r, 50))
          continue
        }
      }
      const tx: TxMessage = {
        kind: 'Order',
        message: {
          market: BTC_PERP.id,
          isBuy: this.random.chance(0.5),
          price: ORACLE_PRICE + BigInt(this.random.int(41) - 20) * BTC_PERP.tickSize,
          size: BigInt(1 + this.random.int(20)),
          // Mostly immediate-or-cancel: an account may rest at most 256 orders (CAPACITY past that),
          // and the load runs for thousands of orders per trader without cancelling.
          timeInForce: this.random.chance(0.9) ? TimeInForce.IOC : TimeInForce.GTC,
          nonce,
        },
      }
      const signature = this.signer.sign(secret, tx)
      const sentAt = performance.now()
      try {
        const r = await this.client.request<{ batch: number }>('vdx_placeOrder', {
          message: Object.fromEntries(Object.entries(tx.message).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])),
          signature,
        })
        this.acks.push({ trader: i, item: bytesToHex(encodeItem(tx, signature)), batch: r.batch, sentAt, ackAt: performance.now() })
        nonce++
      } catch (e) {
        if (e instanceof VeridexRpcError) {
          this.rejected++
          this.lastRejection = e.message
        }
        else this.unanswered++
        nonce = undefined // whether it landed is unknown: ask
      }
    }
  }
}

/** Opens a batch's accumulator chain from the journal alone (docs/protocol.md). */
export function journalAccumulators(journal: Journal): Hex[] {
  let delayedAcc: Hex = zeroHash
  const delayedAccs: Hex[] = []
  for (const m of journal.delayedMessages()) delayedAccs.push((delayedAcc = keccak256(concat([delayedAcc, keccak256(m)]))))
  const out: Hex[] = []
  let acc: Hex = zeroHash
  for (const b of journal.batches()) {
    if (b.status === 'open' || !b.data) break
    const dataHash = keccak256(concat([encodePacked(['uint64', 'uint64'], [b.afterDelayedCount, b.timestamp]), bytesToHex(b.data)]))
    const dAcc = b.afterDelayedCount === 0n ? zeroHash : delayedAccs[Number(b.afterDelayedCount) - 1]!
    out.push((acc = keccak256(concat([acc, dataHash, dAcc]))))
  }
  return out
}

export interface L1Comparison { batches: L1Batch[]; l1Accs: Hex[]; sequencerTxs: number }

/** Every batch on L1 (read from L1 alone), SequencerInbox's accumulators, and the sequencer's L1 transaction count. */
export async function readL1(setup: L1Setup): Promise<L1Comparison> {
  const reader = new InboxReader(setup.l1, setup.deployment.inbox, setup.deployment.deployBlock)
  const { batches } = await reader.poll()
  const l1Accs: Hex[] = []
  for (const b of batches)
    l1Accs.push((await setup.l1.readContract({ address: setup.deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchAccs', args: [BigInt(b.index)] })) as Hex)
  const sequencerTxs = await setup.l1.getTransactionCount({ address: privateKeyToAccount(setup.keys.sequencer).address })
  return { batches, l1Accs, sequencerTxs }
}

/** Acknowledged orders missing from the journal, or journaled in another batch than acknowledged. */
export function ackProblems(journal: Journal, acks: Ack[]): string[] {
  const where = new Map<string, number>()
  for (const b of journal.batches()) for (const it of journal.items(b.index)) where.set(bytesToHex(it.item), b.index)
  const out: string[] = []
  for (const a of acks) {
    const batch = where.get(a.item)
    if (batch === undefined) out.push(`trader ${a.trader}: acknowledged order missing (${a.item.slice(0, 18)}…)`)
    else if (batch !== a.batch) out.push(`trader ${a.trader}: acknowledged in batch ${a.batch}, journaled in ${batch}`)
  }
  return out
}
