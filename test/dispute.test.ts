/**
 * The bisection dispute game (docs/disputes.md) on a real anvil: real engine batches go through
 * the SequencerInbox, a Verifier derives their roots and step counts, the honest side computes
 * machine hashes with the VM Trace and one-step proofs with proveStepAt, and both sides play the
 * DisputeGame contract move by move, reading the opponent's hashes from the Bisected events.
 *
 * The scenarios form one assertion chain: each confirms an honest assertion that the next builds on.
 */
import { expect } from 'chai'
import {
  type Abi,
  type Address,
  type Hex,
  BaseError,
  ContractFunctionRevertedError,
  type PublicClient,
  type TransactionReceipt,
  bytesToHex,
  createTestClient,
  decodeErrorResult,
  getAddress,
  http,
  keccak256,
  parseEther,
  parseEventLogs,
  toHex,
} from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../contracts/anvil.js'
import { buildContracts } from '../contracts/build.js'
import { type Artifacts, type Deployment, contractsFor, deployVeridex, loadArtifacts } from '../contracts/deploy.js'
import { l1Chain, l1Public, l1Wallet } from '../contracts/l1.js'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { genesisRoots } from '../executor/genesis.js'
import { InboxReader, l1BatchMessage } from '../executor/inboxReader.js'
import { Verifier } from '../executor/verifier.js'
import { listContext, loadEngineProgramFile, machineFromEngine, runBatchVm } from '../executor/vm/engine.js'
import { run } from '../executor/vm/interpreter.js'
import { Status } from '../executor/vm/machine.js'
import { memoryRoot } from '../executor/vm/machineHash.js'
import { exportedConst } from '../executor/vm/module.js'
import type { Program } from '../executor/vm/program.js'
import { proveStep, proveStepAt } from '../executor/vm/proof.js'
import { globalsHash, machineRoot as machineRootOf } from '../executor/vm/stateRoot.js'
import { Trace } from '../executor/vm/trace.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'
import { tempDir } from './helpers/devnet.js'

const L2_CHAIN_ID = 412346
const USDC = 1_000_000n
const BOND = parseEther('1')
const CHALLENGE_BOND = parseEther('0.25')
const PERIOD = 1000n
const CLOCK = 600n
const DEGREE = 16n
const MOVE_GAS = 1_000_000n
const GameStatus = { Active: 1, ChallengerWon: 2, AsserterWon: 3, Closed: 4 } as const
const Reason = { OneStepProof: 0, Timeout: 1, AssertionGone: 2 } as const
const AssertionStatus = { Pending: 1, Confirmed: 2, Rejected: 3 } as const

const l2Key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const traders = [0xa11ce, 0xb0b].map(l2Key)
const oracle = l2Key(0x0dac1e)
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
const GENESIS: P.GenesisConfig = { chainId: L2_CHAIN_ID, oracle: oracle.address, markets: [BTC] }

const sign = (account: LocalAccount, tx: P.TxMessage) => signItem(account, L2_CHAIN_ID, tx)
const items = async (txs: [LocalAccount, P.TxMessage][]) =>
  Uint8Array.of(0, ...(await Promise.all(txs.map(([a, t]) => sign(a, t)))).flatMap((x) => [...x]))
const price = (p: bigint, timestamp: bigint): [LocalAccount, P.TxMessage] => [oracle, { kind: 'OraclePrice', message: { market: 1, price: p * USDC, timestamp } }]

const ROLES = ['deployer', 'sequencer', 'proposer', 'evil', 'challenger', 'challenger2', 'other'] as const
type Role = (typeof ROLES)[number]
type Contracts = Awaited<ReturnType<typeof contractsFor<{ public: PublicClient; wallet: ReturnType<typeof l1Wallet> }>>>

/** One side of a game: how it sees the trace, and how it proves a step. */
interface Party {
  name: string
  role: Role
  honest: boolean
  hash: (k: bigint) => Hex
  prove: (k: bigint) => Hex
}

interface Bisection { start: bigint; len: bigint; hashes: Hex[] }

/** The bisection points of docs/disputes.md: start + len * j / k, k = min(D, len). */
function points(start: bigint, len: bigint): bigint[] {
  const k = len < DEGREE ? len : DEGREE
  return Array.from({ length: Number(k) + 1 }, (_, j) => start + (len * BigInt(j)) / k)
}

const memo = (f: (k: bigint) => Hex) => {
  const cache = new Map<bigint, Hex>()
  return (k: bigint) => {
    let h = cache.get(k)
    if (!h) cache.set(k, (h = f(k)))
    return h
  }
}

describe('dispute game on L1', function () {
  this.timeout(600_000)
  let A: Artifacts
  let allErrors: Abi
  let anvil: Anvil
  let pub: PublicClient
  let d: Deployment
  let c: Record<Role, Contracts>
  let addr: Record<Role, Address>
  let verifier: Verifier
  let program: Program
  let messages: Uint8Array[] = []
  /** Each batch's data as read from its calldata. */
  let posted: Uint8Array[] = []
  let delayed: Uint8Array[] = []
  /** Gas paid per account, so balance checks see only bond payments. */
  const spent = new Map<Address, bigint>()
  const gas: Record<'challenge' | 'bisect' | 'oneStepProve' | 'timeout' | 'close', bigint[]> = { challenge: [], bisect: [], oneStepProve: [], timeout: [], close: [] }
  /** The honest assertion each scenario confirms: the next one's parent. */
  let tip = { id: 0n, position: 0n }

  const mined = async (hash: Promise<Hex> | Hex): Promise<TransactionReceipt> => {
    const r = await pub.waitForTransactionReceipt({ hash: await hash })
    if (r.status !== 'success') {
      // replay it where it ran, for the revert reason
      const tx = await pub.getTransaction({ hash: r.transactionHash })
      const why = await revertOf(pub.call({ account: tx.from, to: tx.to!, data: tx.input, value: tx.value, gas: tx.gas, blockNumber: r.blockNumber - 1n })).catch((e: Error) => ({ name: e.message.split('\n')[0]!, args: [] }))
      throw new Error(`transaction ${r.transactionHash} reverted: ${why.name}(${why.args.join(', ')}), gas used ${r.gasUsed} of ${tx.gas}`)
    }
    spent.set(getAddress(r.from), (spent.get(getAddress(r.from)) ?? 0n) + r.gasUsed * r.effectiveGasPrice)
    return r
  }
  /** Balance plus the gas it paid: what changes only through payments. */
  const net = async (who: Address) => (await pub.getBalance({ address: who })) + (spent.get(who) ?? 0n)
  const testClient = () => createTestClient({ mode: 'anvil', chain: l1Chain({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl }), transport: http(anvil.rpcUrl) })
  const advance = async (seconds: bigint) => {
    await testClient().increaseTime({ seconds: Number(seconds) })
    await testClient().mine({ blocks: 1 })
  }

  /** The custom error a call reverts with (decoded against every contract's errors when it bubbled up). */
  async function revertOf(p: Promise<unknown>): Promise<{ name: string; args: readonly unknown[] }> {
    let error: unknown
    try {
      await p
    } catch (e) {
      error = e
    }
    if (error === undefined) throw new Error('expected a revert, but the call succeeded')
    const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
    if (!(reverted instanceof ContractFunctionRevertedError)) throw new Error(`expected a revert, got: ${String(error)}`)
    if (reverted.data?.errorName) return { name: reverted.data.errorName, args: reverted.data.args ?? [] }
    if (!reverted.raw) throw new Error(`a revert without data: ${reverted.shortMessage}`)
    const decoded = decodeErrorResult({ abi: allErrors, data: reverted.raw })
    return { name: decoded.errorName, args: decoded.args ?? [] }
  }
  async function expectRevert(p: Promise<unknown>, name: string, args?: readonly unknown[]) {
    const r = await revertOf(p)
    expect(r.name).to.equal(name)
    if (args) expect(r.args).to.deep.equal(args)
  }

  before(async () => {
    await buildContracts()
    await buildEngine()
    A = await loadArtifacts()
    allErrors = [A.disputeGameAbi, A.rollupAbi, A.oneStepProofEntryAbi, A.oneStepProver0Abi, A.oneStepProverMathAbi, A.oneStepProverMemoryAbi, A.oneStepProverHostIoAbi]
      .flatMap((abi) => (abi as Abi).filter((x) => x.type === 'error'))
    anvil = await startAnvil()
    const l1 = { chainId: anvil.chainId, rpcUrl: anvil.rpcUrl }
    pub = l1Public(l1) as unknown as PublicClient
    const keys = Object.fromEntries(ROLES.map((r, i) => [r, anvil.privateKeys[i]!])) as Record<Role, Hex>
    addr = Object.fromEntries(ROLES.map((r) => [r, privateKeyToAccount(keys[r]).address])) as Record<Role, Address>
    const roots = await genesisRoots(GENESIS)
    d = await deployVeridex({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      deployerKey: keys.deployer,
      sequencer: addr.sequencer,
      proposer: addr.proposer,
      moduleRoot: roots.moduleRoot,
      genesisMachineRoot: roots.machineRoot,
      genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: PERIOD,
      bondWei: BOND,
      forceInclusionDelaySeconds: 3600n,
      // the batches carry small L2 timestamps, far from anvil's clock
      maxTimeVariationSeconds: 2n ** 62n,
      disputeDegree: DEGREE,
      disputeClockSeconds: CLOCK,
      challengeBondWei: CHALLENGE_BOND,
    })
    c = Object.fromEntries(
      await Promise.all(ROLES.map(async (r) => [r, await contractsFor(d, { public: pub, wallet: l1Wallet(l1, keys[r]) })])),
    ) as Record<Role, Contracts>
    await mined(c.deployer.rollup.write.setValidator([addr.evil, true]))

    // two deposits through the real Bridge, then eight batches of oracle prices and orders
    await mined(c.deployer.collateral.write.mint([addr.deployer, 200_000n * USDC]))
    await mined(c.deployer.collateral.write.approve([d.bridge, 200_000n * USDC]))
    for (const t of traders) await mined(c.deployer.bridge.write.depositERC20([t.address, 100_000n * USDC]))
    const batches: Uint8Array[] = [
      await items([price(50_000n, 5n)]),
      await items([
        [traders[0]!, { kind: 'Order', message: { market: 1, isBuy: true, price: 50_000n * USDC, size: 10n, nonce: 0n } }],
        [traders[1]!, { kind: 'Order', message: { market: 1, isBuy: false, price: 49_999n * USDC, size: 4n, nonce: 0n } }],
        [traders[0]!, { kind: 'Withdraw', message: { asset: 0, amount: 5n * USDC, to: traders[0]!.address, nonce: 1n } }],
      ]),
      await items([price(50_100n, 6n), [traders[1]!, { kind: 'Order', message: { market: 1, isBuy: false, price: 50_050n * USDC, size: 3n, nonce: 1n } }]]),
      await items([price(50_200n, 7n)]),
      await items([price(50_300n, 8n)]),
      await items([price(50_400n, 9n)]),
      await items([price(50_500n, 10n)]),
      await items([price(50_600n, 11n)]),
    ]
    for (const [i, data] of batches.entries()) {
      await mined(c.sequencer.inbox.write.addSequencerBatch([BigInt(i), bytesToHex(data), 2n, 10n + BigInt(i)]))
    }

    // the verifier derives every root and step count from L1; the traces replay the same inputs
    verifier = await Verifier.create({ l1: pub as never, inbox: d.inbox, fromBlock: d.deployBlock, genesis: GENESIS, dbPath: `${tempDir('dispute')}/verifier.sqlite` })
    expect((await verifier.sync()).length).to.equal(batches.length)
    const read = await new InboxReader(pub as never, d.inbox, d.deployBlock).poll()
    posted = read.batches.map((b) => b.data)
    messages = read.batches.map(l1BatchMessage)
    delayed = read.delayed.map((m) => m.bytes)
    program = loadEngineProgramFile(engineWasmPath())
  })

  after(async () => {
    await verifier?.stop()
    await anvil?.stop()
    const stats = (xs: bigint[]) => (xs.length ? `min ${Math.min(...xs.map(Number))}, max ${Math.max(...xs.map(Number))} (${xs.length} txs)` : 'none')
    console.log(`      gas: challenge ${stats(gas.challenge)}; bisect ${stats(gas.bisect)}; oneStepProve ${stats(gas.oneStepProve)}; timeout ${stats(gas.timeout)}; close ${stats(gas.close)}`)
  })

  // ---------------------------------------------------------------------------------------------
  // Traces and parties

  /** The native engine after `position` batches. */
  async function nativeAt(position: bigint): Promise<NativeEngine> {
    const native = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    native.init(P.encodeGenesis(GENESIS))
    for (let p = 0; p < Number(position); p++) native.runBatch(messages[p]!)
    return native
  }

  /** The VM trace from the Ready machine at `from` over batches from..to-1 (padded past `to`). */
  async function traceOf(from: bigint, to: bigint, prog: Program = program): Promise<Trace> {
    const ctx = listContext(from, messages.slice(Number(from), Number(to)), (i) => delayed[Number(i)]!)
    return new Trace(machineFromEngine(prog, await nativeAt(from), from, ctx), { checkpointEvery: 1 << 16 })
  }

  const honestParty = (name: string, role: Role, trace: Trace): Party => ({
    name, role, honest: true,
    hash: memo((k) => trace.hashAt(Number(k))),
    prove: (k) => bytesToHex(proveStepAt(trace, Number(k))),
  })

  /** Agrees with the honest trace before step `from`, claims `claim` from there on. */
  const lyingParty = (name: string, role: Role, trace: Trace, from: bigint, claim: (k: bigint) => Hex): Party => ({
    name, role, honest: false,
    hash: memo((k) => (k < from ? trace.hashAt(Number(k)) : claim(k))),
    prove: (k) => bytesToHex(proveStepAt(trace, Number(k))),
  })

  const honestRoots = (position: bigint) => {
    const v = verifier.verified(Number(position) - 1)!
    return { machineRoot: v.machineRoot, outboxRoot: v.outboxRoot, stateRoot: v.stateRoot }
  }

  async function createAssertion(role: Role, parentId: bigint, position: bigint, machineRoot: Hex, outboxRoot: Hex, steps: bigint): Promise<bigint> {
    const r = await mined(c[role].rollup.write.createAssertion([parentId, machineRoot, position, outboxRoot, steps], { value: BOND }))
    const [e] = parseEventLogs({ abi: A.rollupAbi, logs: r.logs, eventName: 'AssertionCreated' })
    expect(e!.args.steps).to.equal(steps)
    return e!.args.id
  }

  const status = async (id: bigint) => (await c.other.rollup.read.getAssertion([id])).status

  async function challenge(ch: Party, assertionId: bigint): Promise<{ gameId: bigint; first: Bisection }> {
    const a = await c.other.rollup.read.getAssertion([assertionId])
    const hashes = points(0n, a.steps).map(ch.hash)
    const r = await mined(c[ch.role].disputeGame.write.challenge([assertionId, hashes], { value: CHALLENGE_BOND }))
    gas.challenge.push(r.gasUsed)
    const [created] = parseEventLogs({ abi: A.disputeGameAbi, logs: r.logs, eventName: 'GameCreated' })
    const [bis] = parseEventLogs({ abi: A.disputeGameAbi, logs: r.logs, eventName: 'Bisected' })
    expect(created!.args).to.deep.include({ assertionId, challenger: addr[ch.role], asserter: a.proposer, steps: a.steps, endHash: a.stateRoot, batchLimit: a.inboxPosition })
    return { gameId: created!.args.gameId, first: { start: bis!.args.start, len: bis!.args.len, hashes: [...bis!.args.hashes] } }
  }

  /** The mover's move against the opponent's latest bisection, or undefined if it agrees with all of it. */
  function plan(p: Party, last: Bisection) {
    const pts = points(last.start, last.len)
    let i = -1
    for (let j = 0; j + 1 < pts.length && i < 0; j++) if (p.hash(pts[j + 1]!) !== last.hashes[j + 1]) i = j
    if (i < 0) return undefined
    const from = pts[i]!
    const len = pts[i + 1]! - from
    if (len > 1n) return { kind: 'bisect' as const, i, newHashes: points(from, len).map(p.hash) }
    return { kind: 'prove' as const, i, proof: p.prove(from) }
  }

  /** One move by the mover; returns the new bisection (or undefined when the game ended). */
  async function move(gameId: bigint, p: Party, last: Bisection): Promise<{ receipt: TransactionReceipt; next?: Bisection }> {
    const m = plan(p, last)
    if (!m) throw new Error(`${p.name} agrees with every hash of its opponent's bisection`)
    const g = c[p.role].disputeGame
    // An explicit limit: the estimate runs at the pending block's time, and whether the move
    // changes the mover's clock slot (and so its gas) depends on the time it is mined at.
    // a dishonest move is tried first, so that a refused one is never sent
    if (!p.honest) {
      const account = addr[p.role]
      if (m.kind === 'bisect') await g.simulate.bisect([gameId, last.hashes, BigInt(m.i), m.newHashes], { account })
      else await g.simulate.oneStepProve([gameId, last.hashes, BigInt(m.i), m.proof], { account })
    }
    const sent = m.kind === 'bisect'
      ? g.write.bisect([gameId, last.hashes, BigInt(m.i), m.newHashes], { gas: MOVE_GAS })
      : g.write.oneStepProve([gameId, last.hashes, BigInt(m.i), m.proof], { gas: MOVE_GAS })
    const receipt = await mined(sent)
    gas[m.kind === 'bisect' ? 'bisect' : 'oneStepProve'].push(receipt.gasUsed)
    const [bis] = parseEventLogs({ abi: A.disputeGameAbi, logs: receipt.logs, eventName: 'Bisected' })
    return { receipt, next: bis && { start: bis.args.start, len: bis.args.len, hashes: [...bis.args.hashes] } }
  }

  interface Played {
    winner: Address
    reason: number
    /** L1 transactions per side, the challenge included. */
    txs: { challenger: number; asserter: number }
    /** Why the losing side could not move, when it lost on time. */
    stuck?: string
  }

  /**
   * Plays games to their end, in parallel as on L1: every round, each game's mover moves. A
   * dishonest mover tries its move; when the contract refuses it (it cannot prove a lie), it goes
   * silent. When only silent movers are left, time passes and their games end by timeout. An
   * honest move must never fail.
   */
  async function playAll(
    games: { gameId: bigint; challenger: Party; asserter: Party; first: Bisection }[],
    onResolved: (gameId: bigint) => Promise<void> = async () => {},
  ): Promise<Played[]> {
    const state = games.map((g) => ({ ...g, last: g.first, txs: { challenger: 1, asserter: 0 }, stuck: undefined as string | undefined, done: false }))
    for (;;) {
      let moved = false
      for (const s of state.filter((x) => !x.done)) {
        const g = await c.other.disputeGame.read.game([s.gameId])
        if (g.status !== GameStatus.Active) {
          s.done = true
          await onResolved(s.gameId)
          continue
        }
        const side = g.asserterToMove ? 'asserter' : 'challenger'
        const mover = g.asserterToMove ? s.asserter : s.challenger
        expect(await c.other.disputeGame.read.mover([s.gameId])).to.equal(addr[mover.role])
        let result: Awaited<ReturnType<typeof move>> | undefined
        if (mover.honest) result = await move(s.gameId, mover, s.last)
        else if (!s.stuck) {
          result = await move(s.gameId, mover, s.last).catch(async (e: unknown) => {
            s.stuck = e instanceof Error && /agrees with every hash/.test(e.message) ? 'no move' : (await revertOf(Promise.reject(e))).name
            return undefined
          })
        }
        if (result) {
          moved = true
          s.txs[side] += 1
          if (result.next) s.last = result.next
        }
      }
      const open = state.filter((x) => !x.done)
      if (open.length === 0) break
      if (!moved) {
        await advance(CLOCK + 1n)
        for (const s of open) {
          const r = await mined(c.other.disputeGame.write.timeout([s.gameId]))
          gas.timeout.push(r.gasUsed)
          s.done = true
          await onResolved(s.gameId)
        }
      }
    }
    return Promise.all(state.map(async (s) => {
      const resolved = (await pub.getContractEvents({ address: d.disputeGame, abi: A.disputeGameAbi, eventName: 'GameResolved', args: { gameId: s.gameId }, fromBlock: d.deployBlock }))[0]!
      return { winner: resolved.args.winner!, reason: resolved.args.reason!, txs: s.txs, stuck: s.stuck }
    }))
  }

  const play = async (gameId: bigint, challenger: Party, asserter: Party, first: Bisection) => (await playAll([{ gameId, challenger, asserter, first }]))[0]!

  /** Confirms the honest assertion after its challenge period and makes it the next scenario's parent. */
  async function confirmHonest(id: bigint, position: bigint) {
    const deadline = await c.other.rollup.read.challengeDeadline([id])
    const now = (await pub.getBlock()).timestamp
    if (now < deadline) await advance(deadline - now)
    await mined(c.other.rollup.write.confirmAssertion([id]))
    expect(await status(id)).to.equal(AssertionStatus.Confirmed)
    tip = { id, position }
  }

  /**
   * Scenario 1: an honest challenger against a false assertion (and a descendant built on it).
   * The challenger must win, take both bonds and get its own back; the honest sibling posted
   * after the rejection is confirmed.
   */
  async function honestChallengerWins(evil: (trace: Trace, steps: bigint, position: bigint) => Promise<{ machineRoot: Hex; outboxRoot: Hex; steps: bigint; party: Party }>) {
    const position = tip.position + 1n
    const trace = await traceOf(tip.position, position)
    const steps = verifier.stepsBetween(tip.position, position)
    const honest = honestRoots(position)
    // the trace and the verifier agree: the exact count reaches the verified root, one step less does not
    expect(trace.hashAt(0)).to.equal((await c.other.rollup.read.getAssertion([tip.id])).stateRoot)
    expect(trace.hashAt(Number(steps))).to.equal(honest.stateRoot)
    expect(trace.hashAt(Number(steps) - 1)).to.not.equal(honest.stateRoot)
    expect(BigInt(trace.length())).to.equal(steps)

    const e = await evil(trace, steps, position)
    const bad = await createAssertion('evil', tip.id, position, e.machineRoot, e.outboxRoot, e.steps)
    const child = await createAssertion('evil', bad, position + 1n, honestRoots(position + 1n).machineRoot, honestRoots(position + 1n).outboxRoot, 1000n)
    const before = await net(addr.challenger)
    const ch = honestParty('honest challenger', 'challenger', trace)
    const { gameId, first } = await challenge(ch, bad)
    expect(await c.other.rollup.read.openDisputes([bad])).to.equal(1n)
    const result = await play(gameId, ch, e.party, first)
    expect(result.winner).to.equal(addr.challenger)
    expect(await status(bad)).to.equal(AssertionStatus.Rejected)
    expect(await c.other.rollup.read.openDisputes([bad])).to.equal(0n)
    expect((await c.other.disputeGame.read.game([gameId])).status).to.equal(GameStatus.ChallengerWon)

    // the descendant falls with it, its bond following the parent's to the challenger
    await mined(c.other.rollup.write.rejectDescendant([child]))
    expect(await status(child)).to.equal(AssertionStatus.Rejected)
    expect(await net(addr.challenger)).to.equal(before + 2n * BOND)
    expect(await pub.getBalance({ address: d.disputeGame })).to.equal(0n)

    const good = await createAssertion('proposer', tip.id, position, honest.machineRoot, honest.outboxRoot, steps)
    await confirmHonest(good, position)
    return { result, steps }
  }

  // ---------------------------------------------------------------------------------------------

  it('an InboxReader takes a batch\'s data from knownData only when it gives L1\'s accumulator, else from the calldata', async () => {
    expect(posted.length).to.be.greaterThan(1)
    const right = new InboxReader(pub as never, d.inbox, d.deployBlock, { knownData: (i) => posted[i]?.slice() })
    const a = await right.poll()
    expect(right.knownDataBatches).to.equal(posted.length)
    expect(a.batches.map(l1BatchMessage)).to.deep.equal(messages)
    // One byte off in batch 1, and one batch the process knows nothing of: both read from calldata.
    const forged = posted.map((x) => x.slice())
    const last = forged[1]!.length - 1
    forged[1]![last] = forged[1]![last]! ^ 1
    const wrong = new InboxReader(pub as never, d.inbox, d.deployBlock, { knownData: (i) => (i === 0 ? undefined : forged[i]) })
    const b = await wrong.poll()
    expect(wrong.knownDataBatches).to.equal(posted.length - 2)
    expect(b.batches.map(l1BatchMessage)).to.deep.equal(messages)
    expect(b.batches.map((x) => x.afterAcc)).to.deep.equal(a.batches.map((x) => x.afterAcc))
  })

  it('deploys the game bound to the engine module and the rollup', async () => {
    expect(await c.other.rollup.read.disputeGame()).to.equal(d.disputeGame)
    expect(await c.other.disputeGame.read.osp()).to.equal(d.oneStepProofEntry)
    expect(await c.other.disputeGame.read.degree()).to.equal(DEGREE)
    expect(await c.other.disputeGame.read.clockSeconds()).to.equal(CLOCK)
    expect(await c.other.disputeGame.read.challengeBond()).to.equal(CHALLENGE_BOND)
    expect(await c.other.disputeGame.read.bisectionPoints([5n, 40n])).to.deep.equal(points(5n, 40n))
    expect(await c.other.disputeGame.read.bisectionPoints([0n, 3n])).to.deep.equal([0n, 1n, 2n, 3n])
    // every batch's step count came from running it on the VM against the native engine
    for (let i = 0; i < messages.length; i++) expect(verifier.verified(i)!.steps > 1000n).to.equal(true)
    expect(verifier.stepsBetween(0n, 2n)).to.equal(verifier.verified(0)!.steps + verifier.verified(1)!.steps)
    expect(() => verifier.stepsBetween(0n, 99n)).to.throw(/only 8 of those batches/)
  })

  it('1a. a corrupted state root loses: the honest challenger wins and the descendant falls', async () => {
    const { result } = await honestChallengerWins(async (trace, steps) => {
      const machineRoot = keccak256(toHex('corrupted machine'))
      const outboxRoot = honestRoots(tip.position + 1n).outboxRoot
      const claimed = await c.other.rollup.read.computeStateRoot([machineRoot, tip.position + 1n, outboxRoot])
      return { machineRoot, outboxRoot, steps, party: lyingParty('corrupt asserter', 'evil', trace, steps, () => claimed) }
    })
    console.log(`      1a: ${result.reason === Reason.OneStepProof ? 'one-step proof' : `timeout (asserter stuck: ${result.stuck})`}; txs ${JSON.stringify(result.txs)}`)
  })

  it('1b. the right root with too few steps loses (the hash at `steps` is a running machine)', async () => {
    const { result, steps } = await honestChallengerWins(async (trace, steps, position) => {
      const h = honestRoots(position)
      const short = steps / 2n
      expect(trace.hashAt(Number(short))).to.not.equal(h.stateRoot)
      return { machineRoot: h.machineRoot, outboxRoot: h.outboxRoot, steps: short, party: lyingParty('short asserter', 'evil', trace, short, () => h.stateRoot) }
    })
    // the honest sibling reused the rejected assertion's (parent, root) key
    expect(steps > 1000n).to.equal(true)
    console.log(`      1b: ${result.reason === Reason.OneStepProof ? 'one-step proof' : `timeout (asserter stuck: ${result.stuck})`}; txs ${JSON.stringify(result.txs)}`)
  })

  it('1c. a different engine module loses at the instruction it changed', async () => {
    let divergence = -1
    const { result } = await honestChallengerWins(async (trace, steps, position) => {
      // the evil engine: the same module with one executed i32.add turned into i32.sub, picked
      // past the middle of the batch so the game has to narrow a long range
      const probe = trace.machineAt(Math.floor(Number(steps) / 2))
      for (let tries = 0; tries < 50; tries++) {
        while (!(probe.status === Status.Running && program.op[probe.pc] === 0x6a && probe.lo[probe.sp - 1] !== 0 && probe.lo[probe.sp - 2] !== 0)) {
          if (run(probe, 1) === 0) throw new Error('no i32.add with non-zero operands left in the batch')
        }
        const changedPc = probe.pc
        const op = program.op.slice()
        op[changedPc] = 0x6b // i32.sub
        // It claims the registered module: its hashes carry the real module and code roots, so
        // they match the honest trace until the changed instruction runs.
        const evilProgram: Program = { ...program, op, moduleRoot: program.moduleRoot, codeRoot: program.codeRoot }
        const evilTrace = await traceOf(tip.position, position, evilProgram)
        const end = evilTrace.machineAt(Number(steps) * 4)
        if (end.status === Status.Ready && end.inboxPosition === position) {
          const mem = memoryRoot(end)
          const machineRoot = machineRootOf(globalsHash(end.globalValues()), mem.root, mem.pages)
          const ptr = exportedConst(program, 'OUTBOX_ROOT_PTR')
          const outboxRoot = bytesToHex(end.memory.u8.slice(ptr, ptr + 32))
          if (machineRoot !== honestRoots(position).machineRoot) {
            const evilSteps = BigInt(evilTrace.length())
            const claimed = await c.other.rollup.read.computeStateRoot([machineRoot, position, outboxRoot])
            expect(evilTrace.hashAt(Number(evilSteps))).to.equal(claimed)
            // the traces part where the changed instruction first runs: equal before it, different after
            let lo = 0
            let hi = Number(steps)
            while (hi - lo > 1) {
              const mid = Math.floor((lo + hi) / 2)
              if (evilTrace.hashAt(mid) === trace.hashAt(mid)) lo = mid
              else hi = mid
            }
            const m = trace.machineAt(lo)
            expect(m.status === Status.Running && m.pc === changedPc).to.equal(true)
            divergence = lo
            const party: Party = {
              name: 'evil-module asserter', role: 'evil', honest: false,
              hash: memo((k) => evilTrace.hashAt(Number(k))),
              prove: (k) => bytesToHex(proveStep(evilTrace.machineAt(Number(k)))),
            }
            return { machineRoot, outboxRoot, steps: evilSteps, party }
          }
        }
        run(probe, 1)
      }
      throw new Error('no single-instruction change found that alters the batch result')
    })
    console.log(`      1c: changed instruction at step ${divergence}; ${result.reason === Reason.OneStepProof ? 'one-step proof' : `timeout (asserter stuck: ${result.stuck})`}; txs ${JSON.stringify(result.txs)}`)
  })

  it('2. lying challengers lose against an honest assertion, whose confirmation waits for all their games', async () => {
    const position = tip.position + 1n
    const trace = await traceOf(tip.position, position)
    const steps = verifier.stepsBetween(tip.position, position)
    const honest = honestRoots(position)
    const good = await createAssertion('proposer', tip.id, position, honest.machineRoot, honest.outboxRoot, steps)
    const asserter = honestParty('honest asserter', 'proposer', trace)
    const liar1 = lyingParty('liar 1', 'challenger', trace, steps / 3n, (k) => keccak256(toHex(`lie 1 at ${k}`)))
    const liar2 = lyingParty('liar 2', 'challenger2', trace, (2n * steps) / 3n, (k) => keccak256(toHex(`lie 2 at ${k}`)))
    const before = await net(addr.proposer)
    const g1 = await challenge(liar1, good)
    const g2 = await challenge(liar2, good)
    expect(await c.other.rollup.read.openDisputes([good])).to.equal(2n)

    // both games run at once; when the first ends, the other still holds the assertion back
    const resolved: bigint[] = []
    const [r1, r2] = await playAll([
      { gameId: g1.gameId, challenger: liar1, asserter, first: g1.first },
      { gameId: g2.gameId, challenger: liar2, asserter, first: g2.first },
    ], async (gameId) => {
      resolved.push(gameId)
      if (resolved.length > 1) return
      expect(await status(good)).to.equal(AssertionStatus.Pending)
      expect(await net(addr.proposer)).to.equal(before + CHALLENGE_BOND)
      expect(await c.other.rollup.read.openDisputes([good])).to.equal(1n)
      // (confirmAssertion checks open games before the challenge period)
      await expectRevert(c.other.rollup.write.confirmAssertion([good]), 'AssertionInDispute', [good])
    })
    expect(resolved).to.have.length(2)
    expect(r1!.winner).to.equal(addr.proposer)
    expect(r2!.winner).to.equal(addr.proposer)
    expect(await net(addr.proposer)).to.equal(before + 2n * CHALLENGE_BOND)
    expect((await c.other.disputeGame.read.game([g2.gameId])).status).to.equal(GameStatus.AsserterWon)
    await confirmHonest(good, position)
    for (const [n, r] of [[1, r1], [2, r2]] as const) {
      console.log(`      2: game ${n}: ${r!.reason === Reason.OneStepProof ? 'one-step proof' : `timeout (liar stuck: ${r!.stuck})`}; txs ${JSON.stringify(r!.txs)}`)
    }
  })

  it('3. a silent party loses on time; bad moves revert with their custom errors', async () => {
    const position = tip.position + 1n
    const trace = await traceOf(tip.position, position)
    const steps = verifier.stepsBetween(tip.position, position)
    const honest = honestRoots(position)
    const game = c.other.disputeGame

    // a false assertion whose proposer never answers
    const badRoot = keccak256(toHex('silent and wrong'))
    const bad = await createAssertion('evil', tip.id, position, badRoot, honest.outboxRoot, steps)
    const badState = (await c.other.rollup.read.getAssertion([bad])).stateRoot
    const parentRoot = trace.hashAt(0)
    const ch = honestParty('honest challenger', 'challenger', trace)
    const pts = points(0n, steps)
    const hashes = pts.map(ch.hash)
    await expectRevert(c.challenger.disputeGame.write.challenge([bad, hashes], { value: CHALLENGE_BOND - 1n }), 'WrongChallengeBond', [CHALLENGE_BOND, CHALLENGE_BOND - 1n])
    await expectRevert(c.challenger.disputeGame.write.challenge([bad, [...hashes.slice(0, -1), badState]], { value: CHALLENGE_BOND }), 'EndHashMatches', [badState])
    await expectRevert(c.challenger.disputeGame.write.challenge([bad, [badRoot, ...hashes.slice(1)]], { value: CHALLENGE_BOND }), 'StartHashMismatch', [parentRoot, badRoot])
    await expectRevert(c.challenger.disputeGame.write.challenge([bad, hashes.slice(1)], { value: CHALLENGE_BOND }), 'WrongHashCount', [17n, 16n])
    await expectRevert(c.challenger.disputeGame.write.challenge([tip.id, hashes], { value: CHALLENGE_BOND }), 'AssertionNotPending', [tip.id])
    const { gameId, first } = await challenge(ch, bad)
    const created = (await game.read.game([gameId]))
    expect(created).to.deep.include({ assertionId: bad, challenger: addr.challenger, asserter: addr.evil, start: 0n, len: steps, asserterToMove: true, status: GameStatus.Active })

    // moves the evil asserter could try, each refused
    const evil = c.evil.disputeGame
    const sub = points(pts[0]!, pts[1]! - pts[0]!).map(ch.hash)
    const forged = [...first.hashes]
    forged[3] = badRoot
    await expectRevert(c.challenger.disputeGame.write.bisect([gameId, first.hashes, 0n, sub]), 'NotYourTurn', [addr.evil])
    await expectRevert(c.other.disputeGame.write.bisect([gameId, first.hashes, 0n, sub]), 'NotYourTurn', [addr.evil])
    await expectRevert(evil.write.bisect([gameId, forged, 0n, sub]), 'CommitmentMismatch')
    await expectRevert(evil.write.bisect([gameId, first.hashes, 16n, sub]), 'PartOutOfRange', [16n, 16n])
    // agreeing with the challenger at the end of part 0 is no dispute
    await expectRevert(evil.write.bisect([gameId, first.hashes, 0n, sub]), 'EndHashMatches', [first.hashes[1]])
    await expectRevert(evil.write.bisect([gameId, first.hashes, 0n, [badRoot, ...sub.slice(1, -1), badRoot]]), 'StartHashMismatch', [first.hashes[0], badRoot])
    await expectRevert(evil.write.bisect([gameId, first.hashes, 0n, [...sub.slice(0, -1)]]), 'WrongHashCount', [17n, 16n])
    await expectRevert(evil.write.oneStepProve([gameId, first.hashes, 0n, '0x00']), 'WrongSegmentLength', [0n, pts[1]! - pts[0]!])
    const lastMove = (await game.read.game([gameId])).lastMoveAt
    await expectRevert(game.write.timeout([gameId]), 'ClockNotExpired', [lastMove + CLOCK])
    await expectRevert(game.write.close([gameId]), 'AssertionStillStands', [bad])
    const [chLeft, asLeft] = await game.read.timeLeft([gameId])
    expect(chLeft).to.equal(CLOCK)
    expect(asLeft <= CLOCK).to.equal(true)

    await advance(CLOCK)
    expect((await game.read.timeLeft([gameId]))[1]).to.equal(0n)
    const tail = [...sub.slice(0, -1), badRoot]
    await expectRevert(evil.write.bisect([gameId, first.hashes, 0n, tail]), 'ClockExpired', [lastMove + CLOCK])
    const before = await net(addr.challenger)
    const r = await mined(game.write.timeout([gameId]))
    gas.timeout.push(r.gasUsed)
    const [resolved] = parseEventLogs({ abi: A.disputeGameAbi, logs: r.logs, eventName: 'GameResolved' })
    expect(resolved!.args).to.deep.equal({ gameId, winner: addr.challenger, reason: Reason.Timeout })
    expect(await status(bad)).to.equal(AssertionStatus.Rejected)
    expect(await net(addr.challenger)).to.equal(before + BOND + CHALLENGE_BOND)
    await expectRevert(game.write.timeout([gameId]), 'GameNotActive', [gameId])
    await expectRevert(c.challenger.disputeGame.write.bisect([gameId, first.hashes, 0n, sub]), 'GameNotActive', [gameId])

    // an honest assertion; a challenger that opens a game and then goes silent
    const good = await createAssertion('proposer', tip.id, position, honest.machineRoot, honest.outboxRoot, steps)
    const asserter = honestParty('honest asserter', 'proposer', trace)
    const liar = lyingParty('silent liar', 'challenger2', trace, 1n, (k) => keccak256(toHex(`silent lie at ${k}`)))
    const g = await challenge(liar, good)
    await move(g.gameId, asserter, g.first)
    expect(await game.read.mover([g.gameId])).to.equal(addr.challenger2)
    const proposerBefore = await net(addr.proposer)
    await advance(CLOCK)
    const t = await mined(game.write.timeout([g.gameId]))
    gas.timeout.push(t.gasUsed)
    const [won] = parseEventLogs({ abi: A.disputeGameAbi, logs: t.logs, eventName: 'GameResolved' })
    expect(won!.args).to.deep.equal({ gameId: g.gameId, winner: addr.proposer, reason: Reason.Timeout })
    expect(await net(addr.proposer)).to.equal(proposerBefore + CHALLENGE_BOND)

    // once the challenge period is over, no game can be opened
    const deadline = await c.other.rollup.read.challengeDeadline([good])
    const now = (await pub.getBlock()).timestamp
    if (now < deadline) await advance(deadline - now)
    await expectRevert(c.challenger.disputeGame.write.challenge([good, points(0n, steps).map(liar.hash)], { value: CHALLENGE_BOND }), 'ChallengeTooLate', [deadline])
    await confirmHonest(good, position)
  })

  it('4. two challengers at once: the first win rejects the assertion, the other game is closed with its bond returned', async () => {
    const position = tip.position + 1n
    const trace = await traceOf(tip.position, position)
    const steps = verifier.stepsBetween(tip.position, position)
    const honest = honestRoots(position)
    const machineRoot = keccak256(toHex('wrong, twice challenged'))
    const claimed = await c.other.rollup.read.computeStateRoot([machineRoot, position, honest.outboxRoot])
    const bad = await createAssertion('evil', tip.id, position, machineRoot, honest.outboxRoot, steps)
    const evilParty = lyingParty('corrupt asserter', 'evil', trace, steps, () => claimed)
    const chA = honestParty('challenger A', 'challenger', trace)
    const chB = honestParty('challenger B', 'challenger2', trace)
    const gA = await challenge(chA, bad)
    const gB = await challenge(chB, bad)
    expect(await c.other.rollup.read.openDisputes([bad])).to.equal(2n)
    // game B proceeds a round, independently of A
    const b1 = await move(gB.gameId, evilParty, gB.first)
    await move(gB.gameId, chB, b1.next!)
    const beforeB = await net(addr.challenger2)
    const rA = await play(gA.gameId, chA, evilParty, gA.first)
    expect(rA.winner).to.equal(addr.challenger)
    expect(await status(bad)).to.equal(AssertionStatus.Rejected)
    expect(await c.other.rollup.read.openDisputes([bad])).to.equal(1n)

    const r = await mined(c.other.disputeGame.write.close([gB.gameId]))
    gas.close.push(r.gasUsed)
    const [closed] = parseEventLogs({ abi: A.disputeGameAbi, logs: r.logs, eventName: 'GameResolved' })
    expect(closed!.args).to.deep.equal({ gameId: gB.gameId, winner: '0x0000000000000000000000000000000000000000', reason: Reason.AssertionGone })
    expect((await c.other.disputeGame.read.game([gB.gameId])).status).to.equal(GameStatus.Closed)
    expect(await net(addr.challenger2)).to.equal(beforeB + CHALLENGE_BOND)
    expect(await c.other.rollup.read.openDisputes([bad])).to.equal(0n)
    expect(await pub.getBalance({ address: d.disputeGame })).to.equal(0n)

    const good = await createAssertion('proposer', tip.id, position, honest.machineRoot, honest.outboxRoot, steps)
    await confirmHonest(good, position)
  })

  it('5. a 2^32-step claim over a padded trace is settled in at most 10 L1 transactions per side (D = 16)', async () => {
    const position = tip.position + 1n
    const trace = await traceOf(tip.position, position)
    const honest = honestRoots(position)
    const huge = 2n ** 32n
    // past the real end the trace is padded: the Ready machine at the batch limit steps to itself
    expect(trace.hashAt(Number(huge))).to.equal(honest.stateRoot)
    const machineRoot = keccak256(toHex('wrong after 2^32 steps'))
    const claimed = await c.other.rollup.read.computeStateRoot([machineRoot, position, honest.outboxRoot])
    const bad = await createAssertion('evil', tip.id, position, machineRoot, honest.outboxRoot, huge)
    const ch = honestParty('honest challenger', 'challenger', trace)
    const { gameId, first } = await challenge(ch, bad)
    const result = await play(gameId, ch, lyingParty('corrupt asserter', 'evil', trace, huge, () => claimed), first)
    expect(result.winner).to.equal(addr.challenger)
    const bisections = (await pub.getContractEvents({ address: d.disputeGame, abi: A.disputeGameAbi, eventName: 'Bisected', args: { gameId }, fromBlock: d.deployBlock })).length
    // ⌈log16(2^32)⌉ = 8 bisections (the challenge's included), then one proof of the padding step
    expect(bisections).to.equal(8)
    expect(result.reason).to.equal(Reason.OneStepProof)
    expect(result.txs.challenger).to.be.at.most(10)
    expect(result.txs.asserter).to.be.at.most(10)
    console.log(`      5: ${bisections} bisections; L1 transactions: challenger ${result.txs.challenger}, asserter ${result.txs.asserter}`)
    const good = await createAssertion('proposer', tip.id, position, honest.machineRoot, honest.outboxRoot, verifier.stepsBetween(tip.position, position))
    await confirmHonest(good, position)
  })
})
