/**
 * `veridex worker`, `veridex challenge <assertion>` and `veridex dispute status [id]`: the trace
 * worker process for disputes, a one-off challenge played to the end, and the state of the games
 * on L1. They default to the running devnet, like the trader commands.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Command } from 'commander'
import { type Hex, bytesToHex } from 'viem'
import { readDeployment, type Deployment } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { disputeGameAbi, rollupAbi } from '../contracts/out/artifacts.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { Verifier } from '../executor/verifier.js'
import { loadEngineProgramFile } from '../executor/vm/engine.js'
import { DisputeAgent } from '../prover/dispute/agent.js'
import { GameStatus, latestBisection, readGame } from '../prover/dispute/player.js'
import { roundsFor } from '../prover/dispute/segments.js'
import { TRACE_QUEUE, TraceQueue, TraceWorker } from '../prover/dispute/traceQueue.js'
import { readAssertion } from '../prover/proposer.js'
import type { GenesisConfig } from '../sdk/protocol.js'
import { DEVNET_STATE, readDevnetState, readGenesisFromDeploymentFile } from './config.js'
import { ensureRedis } from './redis.js'

interface L1Opts { rpc?: string; chainId?: string; deployment?: string; key?: string }

const withL1 = (c: Command) =>
  c
    .option('--rpc <url>', 'L1 JSON-RPC URL (default: the running devnet)')
    .option('--chain-id <id>', 'L1 chain id (default: the running devnet)')
    .option('--deployment <file>', 'deployment JSON written by `veridex deploy` (default: the running devnet)')

async function l1Target(o: L1Opts, defaultKey: (d: NonNullable<ReturnType<typeof readDevnetState>>) => Hex) {
  const dev = readDevnetState()
  const need = <T>(v: T | undefined, name: string): T => {
    if (v === undefined) throw new Error(`--${name} is required when no devnet is running (${DEVNET_STATE}; start one with \`npm run devnet\`)`)
    return v
  }
  const rpcUrl = need(o.rpc ?? dev?.l1.rpcUrl, 'rpc')
  const chainId = Number(need(o.chainId ?? dev?.l1.chainId, 'chain-id'))
  const deployment: Deployment = o.deployment ? await readDeployment(o.deployment) : need(dev?.deployment, 'deployment')
  const genesis: GenesisConfig = o.deployment ? readGenesisFromDeploymentFile(o.deployment) : need(dev?.genesis, 'deployment')
  const key = (o.key ?? (dev ? defaultKey(dev) : undefined)) as Hex | undefined
  const cfg = { rpcUrl, chainId }
  return { cfg, pub: l1Public(cfg), key, deployment, genesis }
}

const STATUS = Object.fromEntries(Object.entries(GameStatus).map(([k, v]) => [v, k])) as Record<number, string>

export function registerDispute(program: Command) {
  program
    .command('worker')
    .description('serve dispute trace jobs from Redis (BullMQ queue "veridex-trace"): re-executes assertions on the VM and returns machine hashes; run as many as you have cores, on any machine with the same engine build')
    .option('--concurrency <n>', 'jobs at once in this process (each uses one core)', '1')
    .action(async (o: { concurrency: string }) => {
      const redis = await ensureRedis((l) => console.log(l))
      const program = loadEngineProgramFile(engineWasmPath())
      const worker = new TraceWorker({ redisUrl: redis.url, program, concurrency: Number(o.concurrency), name: `worker-${process.pid}`, log: (l) => console.log(l) })
      console.log(`worker ${worker.name}: serving queue ${TRACE_QUEUE} on ${redis.url} with engine module ${bytesToHex(program.moduleRoot)} (Ctrl-C to stop)`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      await worker.close()
      await redis.stop()
      process.exit(0)
    })

  withL1(program.command('challenge'))
    .argument('<assertion>', 'the assertion id to challenge')
    .description('derive the L2 state from L1, check the assertion, and if it is wrong open a dispute game against it with the challenge bond and play it to the end')
    .option('--key <hex>', 'key that posts the bond and the moves (default: the devnet challenger)')
    .action(async (id: string, o: L1Opts) => {
      const t = await l1Target(o, (d) => d.keys.challenger)
      if (!t.key) throw new Error('--key is required when no devnet is running')
      const assertion = await readAssertion(t.pub, t.deployment.rollup, BigInt(id))
      const parent = await readAssertion(t.pub, t.deployment.rollup, assertion.parentId)
      const redis = await ensureRedis((l) => console.log(l))
      const dir = mkdtempSync(path.join(tmpdir(), 'veridex-challenge-'))
      const verifier = await Verifier.create({ l1: t.pub, inbox: t.deployment.inbox, fromBlock: t.deployment.deployBlock, genesis: t.genesis, dbPath: path.join(dir, 'verifier.sqlite'), keepStates: Number(assertion.inboxPosition) + 1 })
      const program = loadEngineProgramFile(engineWasmPath())
      const traces = new TraceQueue({ redisUrl: redis.url })
      const worker = new TraceWorker({ redisUrl: redis.url, program, name: 'challenge-worker' })
      const t0 = performance.now()
      try {
        console.log(`deriving batches 0..${assertion.inboxPosition - 1n} from L1…`)
        while (!verifier.verified(Number(assertion.inboxPosition) - 1)) await verifier.sync()
        const agent = new DisputeAgent({
          l1: t.pub, wallet: l1Wallet(t.cfg, t.key), rollup: t.deployment.rollup, game: t.deployment.disputeGame, sequencerInbox: t.deployment.inbox,
          fromBlock: t.deployment.deployBlock, verifier, program, traces, challenge: false, defend: false, log: (l) => console.log(l),
        })
        const wrong = agent.wrong(assertion, parent)
        if (!wrong) {
          console.log(`assertion ${id} matches the state derived from L1 (root ${assertion.stateRoot}, ${assertion.steps} steps ≥ the VM's): nothing to challenge`)
          process.exitCode = 1
          return
        }
        const gameId = await agent.challenge(BigInt(id))
        for (;;) {
          await agent.step()
          const g = await readGame(t.pub, t.deployment.disputeGame, gameId)
          if (g.status !== GameStatus.Active) {
            console.log(`dispute ${gameId}: ${STATUS[g.status]} after ${((performance.now() - t0) / 1000).toFixed(1)} s`)
            if (g.status !== GameStatus.ChallengerWon) process.exitCode = 1
            break
          }
          await new Promise((r) => setTimeout(r, 500))
        }
      } finally {
        await worker.close()
        await traces.close()
        await verifier.stop()
        await redis.stop()
        rmSync(dir, { recursive: true, force: true })
      }
      process.exit()
    })

  const dispute = program.command('dispute').description('dispute games on L1')
  withL1(dispute.command('status'))
    .argument('[id]', 'one game (default: all games)')
    .description('games, their disputed assertion, whose move it is, the segment still disputed, rounds left and both clocks')
    .action(async (id: string | undefined, o: L1Opts) => {
      const t = await l1Target(o, (d) => d.keys.challenger)
      const game = t.deployment.disputeGame
      const degree = (await t.pub.readContract({ address: game, abi: disputeGameAbi, functionName: 'degree' })) as bigint
      const count = (await t.pub.readContract({ address: game, abi: disputeGameAbi, functionName: 'gameCount' })) as bigint
      const ids = id === undefined ? Array.from({ length: Number(count) }, (_, i) => BigInt(i)) : [BigInt(id)]
      if (id !== undefined && BigInt(id) >= count) throw new Error(`no game ${id}: there are ${count} games`)
      const now = (await t.pub.getBlock({ blockTag: 'pending' })).timestamp
      const rows = []
      for (const gid of ids) {
        const g = await readGame(t.pub, game, gid)
        const assertion = await readAssertion(t.pub, t.deployment.rollup, g.assertionId)
        const b = g.status === GameStatus.Active ? await latestBisection(t.pub, game, gid, t.deployment.deployBlock) : undefined
        const running = g.status === GameStatus.Active ? now - g.lastMoveAt : 0n
        const clock = (left: bigint, mine: boolean) => (mine ? (left > running ? left - running : 0n) : left)
        rows.push({
          game: gid,
          assertion: g.assertionId,
          assertionSteps: assertion.steps,
          status: STATUS[g.status],
          challenger: g.challenger,
          asserter: g.asserter,
          ...(b && {
            toMove: g.asserterToMove ? 'asserter' : 'challenger',
            disputedSteps: `${b.start}..${b.start + b.len}`,
            stepsLeft: b.len,
            roundsLeft: roundsFor(b.len, degree),
            clocks: { challenger: `${clock(g.challengerTimeLeft, !g.asserterToMove)} s`, asserter: `${clock(g.asserterTimeLeft, g.asserterToMove)} s` },
          }),
        })
      }
      if (rows.length === 0) console.log('no dispute games yet')
      console.log(JSON.stringify(rows, (_, x) => (typeof x === 'bigint' ? x.toString() : x), 2))
      const assertionCount = (await t.pub.readContract({ address: t.deployment.rollup, abi: rollupAbi, functionName: 'assertionCount' })) as bigint
      if (id === undefined) console.log(`${count} games over ${assertionCount - 1n} assertions; degree ${degree}`)
    })
}
