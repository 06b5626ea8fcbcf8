/**
 * Runs the Veridex services against any L1 endpoint: the sequencer (JSON-RPC, journal, batch
 * poster), the verifier (derives state from L1 only) and the proposer. The devnet calls this
 * after starting anvil and deploying; `veridex node` calls it against a public testnet.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Hex } from 'viem'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import type { Deployment } from '../contracts/deploy.js'
import { InboxReader } from '../executor/inboxReader.js'
import { Verifier } from '../executor/verifier.js'
import { Proposer } from '../prover/proposer.js'
import { Sequencer } from '../sequencer/sequencer.js'
import { BatchPoster } from '../sequencer/poster.js'
import { RpcServer } from '../sequencer/rpc/server.js'
import { sequencerApi, TOPICS, jsonify } from '../sequencer/api.js'
import { withdrawalProofApi } from '../bridge/proofs.js'
import { bullConnection } from './redis.js'
import type { GenesisConfig } from '../sdk/protocol.js'

export interface NodeOptions {
  rpcUrl: string
  chainId: number
  deployment: Deployment
  genesis: GenesisConfig
  sequencerKey: Hex
  /** Omit to run without a proposer. */
  proposerKey?: Hex
  redisUrl: string
  dataDir: string
  host?: string
  port?: number
  batchMaxAgeMs?: number
  batchMaxBytes?: number
  /** How often to read L1 for new delayed messages and batches. */
  l1PollMs?: number
  log?: (line: string) => void
}

export interface NodeHandle {
  url: string
  wsUrl: string
  sequencer: Sequencer
  verifier: Verifier
  proposer?: Proposer
  server: RpcServer
  stop(): Promise<void>
}

export async function startNode(o: NodeOptions): Promise<NodeHandle> {
  const log = o.log ?? ((l: string) => console.log(l))
  mkdirSync(o.dataDir, { recursive: true })
  const l1cfg = { rpcUrl: o.rpcUrl, chainId: o.chainId }
  const l1 = l1Public(l1cfg)
  const actualChainId = await l1.getChainId()
  if (actualChainId !== o.chainId) throw new Error(`L1 at ${o.rpcUrl} has chain id ${actualChainId}, not ${o.chainId}: pass the right --chain-id`)
  const seqWallet = l1Wallet(l1cfg, o.sequencerKey)

  const sequencer = await Sequencer.open({
    journalPath: path.join(o.dataDir, 'sequencer.sqlite'),
    genesis: o.genesis,
    batchMaxAgeMs: o.batchMaxAgeMs,
    batchMaxBytes: o.batchMaxBytes,
    log,
  })

  const verifier = await Verifier.create({
    l1,
    inbox: o.deployment.inbox,
    fromBlock: o.deployment.deployBlock,
    genesis: o.genesis,
    dbPath: path.join(o.dataDir, 'verifier.sqlite'),
    pollMs: o.l1PollMs,
    log,
  })

  const info = () => ({
    l1: { rpcUrl: o.rpcUrl, ...o.deployment },
    sequencerAddress: seqWallet.account.address,
    verifiedBatch: verifier.head() ?? null,
  })
  const server = new RpcServer(sequencerApi(sequencer, () => jsonify(info()) as Record<string, unknown>, withdrawalProofApi(verifier, l1, o.deployment.rollup)), {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    topics: [...TOPICS],
    log,
  })
  const { url, wsUrl } = await server.listen()

  const poster = new BatchPoster({
    journal: sequencer.journal,
    connection: bullConnection(o.redisUrl),
    l1,
    wallet: seqWallet,
    inbox: o.deployment.inbox,
    log,
    onPosted: (index, tx, block) => server.publish('batches', jsonify({ event: 'posted', index, l1Tx: tx, l1Block: block })),
  })
  sequencer.on('batchClosed', (b) => {
    server.publish('batches', jsonify({ event: 'closed', ...b }))
    void poster.enqueue(b.index).catch((e: Error) => log(`poster: enqueue of batch ${b.index} failed: ${e.message}`))
  })
  sequencer.on('accepted', (a) => {
    if (a.result.fills.length) server.publish('fills', jsonify({ orderId: a.result.orderId, taker: a.signer, batch: a.batch, fills: a.result.fills }))
  })
  await poster.start()

  // The sequencer learns about deposits from L1 with its own reader (it trusts nothing else).
  const delayedReader = new InboxReader(l1, o.deployment.inbox, o.deployment.deployBlock, { delayedOnly: true })
  let stopped = false
  let l1Loop: Promise<void> | undefined
  const readL1 = async () => {
    while (!stopped) {
      try {
        const { delayed, headTimestamp } = await delayedReader.poll()
        sequencer.addDelayed(delayed.map((d) => ({ index: d.index, bytes: d.bytes })), headTimestamp)
      } catch (e) {
        log(`sequencer: L1 read failed, retrying: ${(e as Error).message.split('\n')[0]}`)
      }
      await new Promise((r) => setTimeout(r, o.l1PollMs ?? 500))
    }
  }
  l1Loop = readL1()
  const ticker = setInterval(() => {
    try {
      sequencer.tick()
    } catch (e) {
      log(`sequencer: batch tick failed: ${(e as Error).message}`)
    }
  }, Math.max(50, Math.min(250, (o.batchMaxAgeMs ?? 1000) / 4)))

  verifier.start()
  let proposer: Proposer | undefined
  if (o.proposerKey) {
    proposer = new Proposer({ l1, wallet: l1Wallet(l1cfg, o.proposerKey), rollup: o.deployment.rollup, verifier, log })
    proposer.start()
  }

  return {
    url,
    wsUrl,
    sequencer,
    verifier,
    proposer,
    server,
    async stop() {
      stopped = true
      clearInterval(ticker)
      await l1Loop
      await proposer?.stop()
      await verifier.stop()
      await poster.close()
      await server.close()
      sequencer.close()
    },
  }
}

