/**
 * Runs the Veridex services against any L1 endpoint: the sequencer (JSON-RPC, journal, batch
 * poster), the verifier (derives state from L1 only), the proposer (which defends its assertions)
 * and the challenger, with trace workers for disputes. The devnet calls this
 * after starting anvil and deploying; `veridex node` calls it against a public testnet.
 */
import { mkdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { type Hex, zeroAddress } from 'viem'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import type { Deployment } from '../contracts/deploy.js'
import { InboxReader, LOCAL_L1_CHAIN_IDS, l1Confirmations } from '../executor/inboxReader.js'
import { Verifier } from '../executor/verifier.js'
import { Proposer, type ProposerOptions } from '../prover/proposer.js'
import { DisputeAgent, type DisputeAgentOptions } from '../prover/dispute/agent.js'
import { lyingFrom, type MoveReport } from '../prover/dispute/player.js'
import { TraceQueue, TraceWorker } from '../prover/dispute/traceQueue.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { loadEngineProgramFile } from '../executor/vm/engine.js'
import { type BatchRecoveries, Sequencer } from '../sequencer/sequencer.js'
import { BatchPoster } from '../sequencer/poster.js'
import { ReconcileFatalError, Reconciler, reconciliations } from '../sequencer/reconcile.js'
import { PostReconciler } from '../sequencer/postReconciler.js'
import { RpcServer, type RpcServerOptions } from '../sequencer/rpc/server.js'
import { RateLimits, type RateLimitOptions } from '../sequencer/rpc/rateLimit.js'
import { LiquidationKeeper } from '../sequencer/keeper.js'
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
  /** Omit to run without a proposer. The proposer also defends its assertions in disputes. */
  proposerKey?: Hex
  /** A validator key that challenges wrong assertions (with the game's bond); omit to run none. */
  challengerKey?: Hex
  /** In-process trace workers for disputes (more can run as `veridex worker`); default 1. */
  traceWorkers?: number
  /** A dishonest proposer (tests and `veridex demo fraud` only). */
  proposerTamper?: ProposerOptions['tamper']
  /** Every dispute move the node's challenger or the proposer's defender makes (`veridex demo fraud`). */
  onDisputeMove?: (side: 'challenger' | 'defender', m: MoveReport) => void
  /** Games the node's agents open or see resolved. */
  onDisputeGame?: (side: 'challenger' | 'defender', e: Parameters<NonNullable<DisputeAgentOptions['onGame']>>[0]) => void
  redisUrl: string
  dataDir: string
  host?: string
  port?: number
  batchMaxAgeMs?: number
  batchMaxBytes?: number
  /** Worker threads recovering signers for the sequencer and for the verifier (sequencer/recoveryPool.ts); default one per core, 0 for none. */
  recoveryThreads?: number
  /** How often each L1 reader (verifier, delayed messages, proposer, dispute agents) polls L1; the post reconciler every max(1 s, this). */
  l1PollMs?: number
  /**
   * How far under the L1 head the node reads (default: 0 on a local development L1, chain id
   * 31337 or 1337, `LOCAL_L1_CHAIN_IDS`; `'finalized'` on any other): a delayed message (a
   * deposit, an L1-sent transaction) must be this many blocks deep before the sequencer includes
   * it, and the verifier derives (so the proposer asserts) only from blocks this deep. A reorg no deeper cannot take
   * back a deposit a batch consumed, nor change blocks the verifier has read. `'finalized'` reads
   * only L1's finalized blocks (post-merge Ethereum and its testnets), which no reorg takes back;
   * `'safe'`, only its safe ones.
   */
  l1Confirmations?: number | 'safe' | 'finalized'
  /** JSON-RPC transport limits; defaults in sequencer/rpc/server.ts. */
  rpc?: Pick<RpcServerOptions, 'maxBodyBytes' | 'maxBatch' | 'maxDepth' | 'requestTimeoutMs' | 'heartbeatMs'>
  /** Per-IP, per-signer and invalid-signature rate limits (docs/api.md); defaults in sequencer/rpc/rateLimit.ts. */
  rateLimits?: RateLimitOptions
  /** Run the liquidation keeper (default true). */
  keeper?: boolean
  log?: (line: string) => void
}

export interface NodeHandle {
  url: string
  wsUrl: string
  sequencer: Sequencer
  /** Liquidates accounts under maintenance margin after oracle prices and batch closes. */
  keeper?: LiquidationKeeper
  verifier: Verifier
  proposer?: Proposer
  /** The challenger and the proposer's defender, when running. */
  disputes: DisputeAgent[]
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
  // how deep every L1 reader of this node stays under the head
  const depth = l1Confirmations(o.l1Confirmations, o.chainId)
  if (typeof depth === 'string') log(`node: reading L1 up to its ${depth} block${o.l1Confirmations === undefined ? ` (the default on L1 chain ${o.chainId}, which is not a local one; --l1-confirmations <blocks> reads nearer the head)` : ''}`)
  else if (depth > 0n) log(`node: reading L1 ${depth} blocks under its head`)
  else log(`node: reading L1 at its head${LOCAL_L1_CHAIN_IDS.includes(o.chainId) ? '' : ': a reorg of L1 chain ' + o.chainId + ' can take back a deposit that acknowledged orders spent; run with --l1-confirmations finalized'}`)
  const seqWallet = l1Wallet(l1cfg, o.sequencerKey, undefined, { sharedNonces: true })

  const sequencer = await Sequencer.open({
    journalPath: path.join(o.dataDir, 'sequencer.sqlite'),
    genesis: o.genesis,
    batchMaxAgeMs: o.batchMaxAgeMs,
    batchMaxBytes: o.batchMaxBytes,
    recoveryThreads: o.recoveryThreads ?? availableParallelism(),
    rootThread: true,
    journalThread: true,
    log,
  })
  // A forced inclusion while this sequencer was down: rebuild on top of L1 before serving. If L1
  // cannot be read now, the poster's check finds the forced batch later and reconciles then.
  const reconciler = new Reconciler(sequencer, { l1, inbox: o.deployment.inbox, fromBlock: o.deployment.deployBlock, log })
  await reconciler.run().catch((e: Error) => {
    if (e instanceof ReconcileFatalError) throw e
    log(`reconcile: could not check the journal against L1 (${e.message.split('\n')[0]}); the poster will when L1 answers`)
  })

  const verifier = await Verifier.create({
    l1,
    inbox: o.deployment.inbox,
    fromBlock: o.deployment.deployBlock,
    genesis: o.genesis,
    dbPath: path.join(o.dataDir, 'verifier.sqlite'),
    pollMs: o.l1PollMs,
    confirmations: depth,
    // The batches it reads back are this sequencer's: their data comes from the journal when it
    // matches L1's accumulator, rather than from ~100 KB of calldata fetched and decoded here.
    knownBatchData: (index) => sequencer.journal.batch(index)?.data,
    // Its VM and engine runs take tens of ms per batch: on its own thread they never stall requests.
    thread: true,
    background: true,
    recoveryThreads: o.recoveryThreads ?? availableParallelism(),
    log,
  })

  const keeper = o.keeper === false ? undefined : new LiquidationKeeper(sequencer, { log }).start()
  const info = () => ({
    l1: { rpcUrl: o.rpcUrl, ...o.deployment },
    sequencerAddress: seqWallet.account.address,
    verifiedBatch: verifier.head() ?? null,
    lastReconcile: reconciliations(sequencer.journal).at(-1) ?? null,
    keeper: keeper?.stats ?? null,
  })
  const rateLimits = new RateLimits(o.rateLimits)
  const api = sequencerApi(sequencer, () => jsonify(info()) as Record<string, unknown>, withdrawalProofApi(verifier, l1, o.deployment.rollup), { rateLimits })
  const server = new RpcServer(api, {
    ...o.rpc,
    rateLimits,
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
    markPosted: (index, tx, block) => sequencer.markPosted(index, tx, block),
    onPosted: (index, tx, block) => server.publish('batches', jsonify({ event: 'posted', index, l1Tx: tx, l1Block: block })),
    onForeignBatch: async () => {
      try {
        await reconciler.run()
      } catch (e) {
        // The engine may be half rebuilt; the journal is intact and a restart reconciles again.
        log(`sequencer: FATAL reconcile with L1 failed (${(e as Error).message}); exiting so a restart rebuilds from the journal and L1`)
        process.exit(70)
      }
      void poster.requeue().catch((e: Error) => log(`poster: requeue after reconcile failed: ${e.message}`))
    },
  })
  sequencer.on('batchClosed', (b) => {
    server.publish('batches', jsonify({ event: 'closed', ...b }))
    void poster.enqueue(b.index).catch((e: Error) => log(`poster: enqueue of batch ${b.index} failed: ${e.message}`))
  })
  // The verifier reads these batches back from L1: it reuses the signatures the sequencer recovered.
  sequencer.on('batchRecoveries', (r: BatchRecoveries) => verifier.addKnownRecoveries(r.index, r.known))
  sequencer.on('accepted', (a) => {
    if (a.result.fills.length) server.publish('fills', jsonify({ orderId: a.result.orderId, taker: a.signer, batch: a.batch, fills: a.result.fills }))
  })
  await poster.start()
  // Re-posts batches an L1 reorg dropped, and re-queues jobs Redis lost.
  const postReconciler = new PostReconciler({ journal: sequencer.journal, poster, l1, inbox: o.deployment.inbox, confirmations: depth, pollMs: Math.max(1_000, o.l1PollMs ?? 2_000), log })
  postReconciler.start()

  // The sequencer learns about deposits from L1 with its own reader (it trusts nothing else).
  const delayedReader = new InboxReader(l1, o.deployment.inbox, o.deployment.deployBlock, { delayedOnly: true, confirmations: depth })
  let stopped = false
  let l1Loop: Promise<void> | undefined
  const readL1 = async () => {
    while (!stopped) {
      try {
        const { delayed, headTimestamp, reorg } = await delayedReader.poll()
        if (reorg && reorg.delayed < sequencer.delayedCount) {
          log(`sequencer: an L1 reorg back to block ${reorg.ancestor} took back delayed messages from ${reorg.delayed} on, and this sequencer had included up to ${sequencer.delayedCount - 1}: unless L1 delivers the same messages again, batches that read them cannot be posted (--l1-confirmations is ${depth}; run with --l1-confirmations finalized, or a number of blocks at least this L1's finality depth)`)
        }
        try {
          sequencer.addDelayed(delayed.map((d) => ({ index: d.index, bytes: d.bytes })), headTimestamp)
        } catch (e) {
          log(`sequencer: ${(e as Error).message}`)
        }
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
  const proposerWallet = o.proposerKey ? l1Wallet(l1cfg, o.proposerKey, undefined, { sharedNonces: true }) : undefined
  if (proposerWallet) {
    proposer = new Proposer({ l1, wallet: proposerWallet, rollup: o.deployment.rollup, verifier, log, tamper: o.proposerTamper, pollMs: o.l1PollMs })
    proposer.start()
  }

  // Disputes: the challenger opens games against wrong assertions, the proposer's defender answers
  // games against its own; both fan trace work out to BullMQ workers (this process runs some).
  const disputes: DisputeAgent[] = []
  const workers: TraceWorker[] = []
  let traces: TraceQueue | undefined
  const hasGame = o.deployment.disputeGame !== zeroAddress
  if (hasGame && (o.challengerKey || o.proposerKey)) {
    const program = loadEngineProgramFile(engineWasmPath())
    traces = new TraceQueue({ redisUrl: o.redisUrl })
    for (let i = 0; i < (o.traceWorkers ?? 1); i++) workers.push(new TraceWorker({ redisUrl: o.redisUrl, program, name: `node-worker-${i}`, log }))
    const base = { l1, rollup: o.deployment.rollup, game: o.deployment.disputeGame, sequencerInbox: o.deployment.inbox, fromBlock: o.deployment.deployBlock, verifier, program, traces, log, pollMs: o.l1PollMs }
    const hooks = (side: 'challenger' | 'defender') => ({
      onMove: o.onDisputeMove && ((m: MoveReport) => o.onDisputeMove!(side, m)),
      onGame: o.onDisputeGame && ((e: Parameters<NonNullable<DisputeAgentOptions['onGame']>>[0]) => o.onDisputeGame!(side, e)),
    })
    if (o.challengerKey) disputes.push(new DisputeAgent({ ...base, ...hooks('challenger'), wallet: l1Wallet(l1cfg, o.challengerKey), challenge: true, defend: false }))
    if (proposerWallet) {
      const tamper = o.proposerTamper
      disputes.push(new DisputeAgent({
        ...base,
        ...hooks('defender'),
        wallet: proposerWallet,
        challenge: false,
        defend: true,
        // a dishonest proposer defends its claim: the honest trace up to the claimed step count, its root there
        claims: tamper ? (a, honest) => lyingFrom(honest, a.steps, a.stateRoot) : undefined,
      }))
    }
    for (const d of disputes) d.start()
  }

  return {
    url,
    wsUrl,
    sequencer,
    keeper,
    verifier,
    proposer,
    disputes,
    server,
    async stop() {
      stopped = true
      clearInterval(ticker)
      await keeper?.stop()
      await l1Loop
      for (const d of disputes) await d.stop()
      for (const w of workers) await w.close()
      await traces?.close()
      await proposer?.stop()
      await verifier.stop()
      await postReconciler.stop()
      await poster.close()
      await server.close()
      sequencer.close()
    },
  }
}

