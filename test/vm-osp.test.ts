/**
 * One-step proofs on a real L1: machines from real engine batches and from spec-suite modules are
 * sampled at many steps; each step's proof (executor/vm/proof.ts) goes to OneStepProofEntry on
 * anvil, which must return the interpreter's hash after the step. Corrupted proofs must revert or
 * give a different hash. Prints gas and calldata per instruction class.
 */
import { expect } from 'chai'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Address, type Hex, bytesToHex, createPublicClient, createWalletClient, getAddress, http } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../contracts/anvil.js'
import { l1Chain } from '../contracts/l1.js'
import { buildContracts } from '../contracts/build.js'
import {
  oneStepProofEntryAbi, oneStepProofEntryBytecode, oneStepProver0Abi, oneStepProver0Bytecode, oneStepProverHostIoAbi,
  oneStepProverHostIoBytecode, oneStepProverMathAbi, oneStepProverMathBytecode, oneStepProverMemoryAbi, oneStepProverMemoryBytecode,
  sequencerInboxAbi, sequencerInboxBytecode,
} from '../contracts/out/artifacts.js'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { listContext, loadEngineProgram, machineFromEngine } from '../executor/vm/engine.js'
import { ENGINE_HOSTS, ENGINE_IMPORTS } from '../executor/vm/host.js'
import { step } from '../executor/vm/interpreter.js'
import { Machine, Status } from '../executor/vm/machine.js'
import { machineHash } from '../executor/vm/machineHash.js'
import { executionContext, type ExecutionContext } from '../executor/vm/module.js'
import { allOpcodes, Op, opName } from '../executor/vm/instructions.js'
import { loadProgram, type Program } from '../executor/vm/program.js'
import { provable, proveStep } from '../executor/vm/proof.js'
import { instantiateSpec } from '../executor/vm/spec.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const traders = [0xa11ce, 0xb0b, 0xca201].map(key)
const oracle = key(0x0dac1e)
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
/** Two oracle keys, an admin; BTC with fees, funding (a small impact notional), a liquidation band; a BTC call expiring at 10,000 s. */
const oracle2 = key(0x0dac2e)
const admin = key(0xad111)
const BTC_V1: P.MarketConfig = { ...BTC, makerFeePpm: 200, takerFeePpm: 500, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000, impactNotional: 200n * USDC, maxFundingPpbPerHour: 500_000 }
const CALL: P.MarketConfig = {
  ...BTC, id: 3, symbol: 'BTC-50000-C', kind: P.MarketKind.CALL, underlying: 1, strike: 50_000n * USDC, expiry: 10_000n,
  initialMarginPpm: 150_000, maintenanceMarginPpm: 75_000, optionMinPpm: 100_000,
}
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, oracles: [oracle.address, oracle2.address], admin: admin.address, markets: [BTC_V1, CALL] }
const SPEC_DIR = process.env.WASM_SPEC_DIR ?? '/work/shared/wasm-spec'
const SPEC_FILES = ['i32', 'i64', 'int_exprs', 'address', 'load', 'store', 'memory', 'memory_grow', 'memory_size', 'select', 'local_get', 'local_set',
  'local_tee', 'br', 'br_if', 'br_table', 'block', 'loop', 'if', 'call', 'call_indirect', 'return', 'traps', 'unreachable', 'stack', 'func', 'global', 'endianness']
/** Samples wanted; override with VM_OSP_SAMPLES. */
const TARGET = Number(process.env.VM_OSP_SAMPLES ?? 10_000)

const sign = (account: LocalAccount, tx: P.TxMessage) => signItem(account, CHAIN_ID, tx)

type Ctx = ExecutionContext
interface Sample { op: string; info: string; cls: string; ctx: Ctx; before: Hex; after: Hex; proof: Hex }

const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000'
const HOST_NAMES = ['inbox_read', 'delayed_read', 'keccak256', 'ecrecover', 'abort']
/** Host reads carry whole messages: exempt from the 4 KB / 150k gas limits, reported only. */
const EXEMPT = new Set(['host inbox_read', 'host delayed_read'])
/** keccak256 over up to 1 KB (hand-built module): its own line in the table, held to the same 4 KB / 150k limits. */
const KECCAK_1KB = 'host keccak256 (≤1 KB)'

function ctxFor(p: Program, batchLimit: bigint, sequencerInbox: Address = ZERO_ADDRESS): Ctx {
  return executionContext(p, batchLimit, sequencerInbox)
}

function classOf(m: Machine): string {
  if (m.status === Status.Errored) return 'stopped (errored)'
  if (m.status === Status.Finished) return 'stopped (finished)'
  if (m.status === Status.Ready) return 'ready'
  const op = m.program.op[m.pc]!
  if ((op >= 0x45 && op <= 0x8a) || op === 0xa7 || op === 0xac || op === 0xad || (op >= 0xc0 && op <= 0xc4)) return 'math'
  if (op >= 0x28 && op <= 0x3e) return 'memory load/store'
  if (op === 0x3f || op === 0x40) return 'memory size/grow'
  if (op >= 0x20 && op <= 0x22) return 'locals'
  if (op === 0x23 || op === 0x24) return 'globals'
  if (op === 0x10 || op === 0x11 || op === 0x0f || op === 0xe3) return 'call/return/enter'
  if (op === 0xe2 && m.program.b[m.pc]! < 4) return `host ${HOST_NAMES[m.program.b[m.pc]!]}`
  return 'control/const/stack'
}

/** Samples a machine run: the first `perOp` occurrences of each opcode, then every step with probability `rate`. */
class Sampler {
  samples: Sample[] = []
  seen = new Map<string, number>()
  private seed = 12345
  constructor(private readonly perOp: number, public rate: number) {}
  private random() {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0
    return this.seed / 2 ** 32
  }
  /** Proves the machine's next step if sampled, then takes the step. Returns false when the machine stopped. */
  stepAndMaybeProve(m: Machine, ctx: Ctx, force = false): boolean {
    const op = m.status === Status.Running ? m.program.op[m.pc]! : -1
    const name = op === 0xe2 ? `host ${m.program.b[m.pc]}` : op >= 0 ? opName(op) : `status ${m.status}`
    const n = this.seen.get(name) ?? 0
    const trapNext = m.status === Status.Running
    const want = force || n < this.perOp || this.random() < this.rate
    let proof: Uint8Array | undefined
    let before: Hex | undefined
    let cls = ''
    let info = ''
    if (want && provable(m)) {
      this.seen.set(name, n + 1)
      cls = classOf(m)
      proof = proveStep(m)
      info = `${name} pc ${m.pc} sp ${m.sp} top ${m.sp > 0 ? m.lo[m.sp - 1]! >>> 0 : '-'} ${m.sp > 1 ? m.lo[m.sp - 2]! >>> 0 : '-'} a ${m.program.a[m.pc]} mem ${m.memory.u8.length}`
      before = machineHash(m)
    }
    const moved = step(m)
    if (proof && before) {
      const trapped = trapNext && m.status === Status.Errored
      this.samples.push({ op: name, info, cls: trapped ? 'trap' : cls, ctx, before, after: machineHash(m), proof: bytesToHex(proof) })
    }
    return moved
  }
}

describe('vm one-step proofs on L1', function () {
  this.timeout(300_000)
  let anvil: Anvil
  let pub: ReturnType<typeof createPublicClient>
  let entry: Address
  let inbox: Address
  let wallet: ReturnType<typeof createWalletClient>
  let chain: ReturnType<typeof l1Chain>
  const sampler = new Sampler(40, 0)

  before(async () => {
    await buildContracts()
    await buildEngine()
    anvil = await startAnvil()
    pub = createPublicClient({ transport: http(anvil.rpcUrl, { batch: { batchSize: 200 } }) })
    chain = l1Chain({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl })
    wallet = createWalletClient({ transport: http(anvil.rpcUrl), account: privateKeyToAccount(anvil.privateKeys[0]!), chain })
    const deploy = async (abi: readonly unknown[], bytecode: Hex, args: unknown[] = []) => {
      const hash = await wallet.deployContract({ abi: abi as never, bytecode, args: args as never, chain, account: wallet.account! })
      const r = await pub.waitForTransactionReceipt({ hash })
      return r.contractAddress!
    }
    const p0 = await deploy(oneStepProver0Abi, oneStepProver0Bytecode)
    const pm = await deploy(oneStepProverMathAbi, oneStepProverMathBytecode)
    const pmem = await deploy(oneStepProverMemoryAbi, oneStepProverMemoryBytecode)
    const phost = await deploy(oneStepProverHostIoAbi, oneStepProverHostIoBytecode)
    entry = await deploy(oneStepProofEntryAbi, oneStepProofEntryBytecode, [p0, pm, pmem, phost])
    // the wallet is both sequencer and bridge, so the test can post batches and deposits itself
    inbox = await deploy(sequencerInboxAbi, sequencerInboxBytecode, [wallet.account!.address, 3600n, 2n ** 62n])
    await send(inbox, 'initialize', [wallet.account!.address])
  })

  after(async () => {
    await anvil?.stop()
  })

  async function send(address: Address, functionName: string, args: unknown[]) {
    const hash = await wallet.writeContract({ address, abi: sequencerInboxAbi, functionName: functionName as never, args: args as never, chain, account: wallet.account! })
    const r = await pub.waitForTransactionReceipt({ hash })
    if (r.status !== 'success') throw new Error(`${functionName} reverted`)
  }

  const call = (s: Sample, proof: Hex = s.proof) =>
    pub.readContract({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: [s.ctx, s.before, proof] })

  it('samples steps of real engine batches', async () => {
    const wasm = new Uint8Array(readFileSync(engineWasmPath()))
    const program = loadEngineProgram(wasm)
    // the delayed messages and batches go through the real SequencerInbox: host reads are proven against its accumulators
    const delayed: Uint8Array[] = []
    // traders 0 and 1 are well funded; trader 2 has 3,000 USDC and will be liquidated
    for (const [t, amount] of [[traders[0]!, 100_000n], [traders[1]!, 100_000n], [traders[2]!, 3_000n]] as const) {
      const payload = P.encodeDepositPayload(t.address, 0, amount * USDC)
      await send(inbox, 'deliverFromBridge', [BRIDGE, bytesToHex(payload)])
      const timestamp = await pub.readContract({ address: inbox, abi: sequencerInboxAbi, functionName: 'delayedTimestamp', args: [BigInt(delayed.length)] })
      delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp, payload }))
    }
    const [t0, t1, t2] = traders as [LocalAccount, LocalAccount, LocalAccount]
    const K = 1_000n // BTC sizes are in 0.001 BTC
    const order = (m: Partial<P.OrderMsg> & { isBuy: boolean; price: bigint; size: bigint; nonce: bigint }): P.TxMessage => ({ kind: 'Order', message: { market: 1, ...m } })
    const px = (market: number, usd: bigint, timestamp: bigint): P.TxMessage => ({ kind: 'OraclePrice', message: { market, price: usd * USDC, timestamp } })
    const item = (a: LocalAccount | P.TxMessage | Address, t?: P.TxMessage) =>
      typeof a === 'string' ? Promise.resolve(P.encodeLiquidateItem(a)) : 'kind' in a ? Promise.resolve(P.encodeDelayedItem(3)) : sign(a, t!)
    // The batches walk through engine v1: oracle median of two keys, fills with fees, post-only,
    // stops and take-profits (fired by an index move), an option trade, replace, an ADMIN market
    // addition, an hour of funding, a liquidation closing against the book and deleveraging the
    // rest, cancel-all, and the option's expiry and lazy settlement. Each batch is first run item
    // by item on a native engine, which must accept every item.
    const plan: [P.BatchHeader, [LocalAccount | P.TxMessage | Address, P.TxMessage?][]][] = [
      [{ afterDelayedCount: 3n, timestamp: 10n }, [[oracle, px(1, 50_000n, 5n)], [oracle2, px(1, 50_010n, 6n)]]],
      [{ afterDelayedCount: 3n, timestamp: 11n }, [
        [t0, order({ isBuy: true, price: 50_000n * USDC, size: 10n, nonce: 0n })],
        [t1, order({ isBuy: false, price: 49_999n * USDC, size: 4n, nonce: 0n })],
        [t0, { kind: 'Withdraw', message: { asset: 0, amount: 5n * USDC, to: t0.address, nonce: 1n } }],
      ]],
      [{ afterDelayedCount: 3n, timestamp: 12n }, []],
      [{ afterDelayedCount: 3n, timestamp: 70n }, [
        [t1, order({ isBuy: false, price: 50_050n * USDC, size: 600n, nonce: 1n })],
        [t1, order({ isBuy: false, price: 50_100n * USDC, size: 5n, postOnly: true, nonce: 2n })],
        [t1, order({ isBuy: true, price: 49_900n * USDC, size: 10n, nonce: 3n })],
        [t2, order({ isBuy: true, price: 50_100n * USDC, size: 500n, orderType: P.OrderType.MARKET, timeInForce: P.TimeInForce.FOK, nonce: 0n })],
        [t0, order({ isBuy: true, price: 51_000n * USDC, size: 2n, orderType: P.OrderType.STOP_MARKET, triggerPrice: 50_500n * USDC, nonce: 2n })],
        [t0, order({ isBuy: false, price: 49_000n * USDC, size: 3n, orderType: P.OrderType.TAKE_PROFIT_MARKET, triggerPrice: 50_400n * USDC, reduceOnly: true, nonce: 3n })],
        [t1, order({ market: 3, isBuy: false, price: 1_000n * USDC, size: 10n, expiry: 5_000n, nonce: 4n })],
        [t0, order({ market: 3, isBuy: true, price: 1_000n * USDC, size: 10n, timeInForce: P.TimeInForce.IOC, nonce: 4n })],
        [t1, { kind: 'Replace', message: { orderId: 0n, price: 50_200n * USDC, size: 6n, nonce: 5n } }],
        [admin, { kind: 'AdminAction', message: { action: P.AdminAction.ADD_MARKET, config: bytesToHex(P.encodeMarketConfig({ ...BTC, id: 2, symbol: 'ETH-PERP' })), nonce: 0n } }],
      ]],
      // past the hour: funding from the minute samples; the index rises to 50,600 and fires the stop and the take-profit
      [{ afterDelayedCount: 3n, timestamp: 3_700n }, [[oracle, px(1, 50_600n, 3_650n)], [oracle2, px(1, 50_620n, 3_660n)]]],
      // the index falls to 45,000: trader 2 (long 0.5 BTC from 50,050) is below maintenance
      [{ afterDelayedCount: 3n, timestamp: 3_710n }, [
        [oracle, px(1, 45_000n, 3_705n)], [oracle2, px(1, 45_010n, 3_706n)], [t2.address],
        [t0, { kind: 'CancelAll', message: { market: P.ALL_MARKETS, nonce: 5n } }],
        [t1, { kind: 'Transfer', message: { to: t0.address, asset: 0, amount: 10n * USDC, nonce: 6n } }],
      ]],
      // after the option's expiry: the first index at or past it settles the series; trader 0's transfer settles his long call
      [{ afterDelayedCount: 3n, timestamp: 20_000n }, [
        [oracle, px(1, 46_000n, 19_990n)],
        [t0, { kind: 'Transfer', message: { to: t1.address, asset: 0, amount: 1n * USDC, nonce: 6n } }],
      ]],
    ]
    const checker = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    checker.init(P.encodeGenesis(GENESIS))
    const batches: [P.BatchHeader, Uint8Array][] = []
    for (const [h, txs] of plan) {
      checker.beginBatch(h)
      for (const [a, t] of txs) {
        // the REPLACE names t1's post-only order, whose id the engine gave it in this batch
        if (t?.kind === 'Replace') t.message.orderId = checker.orders(t1.address).find((o) => o.postOnly)!.orderId
        const res = checker.execItem(await item(a, t))
        expect(P.resultCodeName(res.code), `${t?.kind ?? 'LIQUIDATE'} ${JSON.stringify(t?.message ?? a, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`).to.equal('OK')
      }
      batches.push([h, checker.endBatch().data])
    }
    // what the batches did, as the engine reports it
    const ledger = checker.ledger()
    expect([ledger.liquidations, ledger.fees > 0n, ledger.deleverages > 0n]).to.deep.equal([1n, true, true])
    // funding at the 3,600-s hour (paid at 3,700) and at the 7,200-s one (paid at 20,000), newest first
    expect(checker.fundingHistory(1).map((f) => f.time)).to.deep.equal([7_200n, 3_600n])
    expect(checker.market(3)!.settled).to.equal(true)
    expect(checker.orders(t0.address)).to.deep.equal([])
    expect(checker.account(t2.address).positions).to.deep.equal([])
    expect(checker.marketIds()).to.deep.equal([1, 3, 2])
    for (const [i, [h, data]] of batches.entries()) await send(inbox, 'addSequencerBatch', [BigInt(i), bytesToHex(data), h.afterDelayedCount, h.timestamp])
    const native = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    native.init(P.encodeGenesis(GENESIS))
    const msgs = batches.map(([h, data]) => P.batchMessage(h, data))
    const m = machineFromEngine(program, native, 0n, listContext(0n, msgs, (i) => delayed[Number(i)]!))
    const ctx = ctxFor(program, BigInt(msgs.length), inbox)
    // count steps first to pick a sampling rate
    const probe = m.snapshot()
    let total = 0
    while (step(probe)) total++
    sampler.rate = Math.min(1, (TARGET * 0.8) / total)
    let n = 0
    // every host call is proven (a few hundred), and the first step of every engine function the
    // batches enter (the v1 code paths among them), besides the sampled steps
    const starts = new Set(program.funcStart)
    const entered = new Set<number>()
    const firstEntry = () => m.status === Status.Running && starts.has(m.pc) && !entered.has(m.pc) && entered.add(m.pc) !== undefined
    while (sampler.stepAndMaybeProve(m, ctx, m.status !== Status.Running || (m.program.op[m.pc] === 0x0f && m.frames === 1) || m.program.op[m.pc] === 0xe2 || firstEntry())) n++
    expect(n).to.equal(total)
    expect(entered.size).to.be.greaterThan(50)
    // the Ready machine with no further batch steps to itself
    sampler.stepAndMaybeProve(m, ctx, true)
    console.log(`      engine: ${total} steps over ${msgs.length} batches, ${sampler.samples.length} sampled; ${entered.size} of ${program.funcStart.length} functions entered, each proven at its first step`)
  })

  it('samples steps of spec-suite modules (traps and finished machines included)', function () {
    if (!existsSync(SPEC_DIR)) this.skip()
    const before = sampler.samples.length
    const specSampler = new Sampler(20, 1)
    for (const name of SPEC_FILES) {
      const file = join(SPEC_DIR, name, `${name}.json`)
      if (!existsSync(file)) continue
      const json = JSON.parse(readFileSync(file, 'utf8')) as { commands: { type: string; filename?: string; action?: { type: string; field: string; args?: { type: string; value: string }[]; module?: string } }[] }
      let m: Machine | undefined
      let ctx: Ctx | undefined
      for (const c of json.commands) {
        if (c.type === 'module') {
          try {
            m = instantiateSpec(new Uint8Array(readFileSync(join(SPEC_DIR, name, c.filename!))))
            ctx = ctxFor(m.program, 0n)
          } catch {
            m = undefined
          }
          continue
        }
        const a = c.action
        if (!m || !ctx || !a || a.type !== 'invoke' || a.module) continue
        if ((a.args ?? []).some((v) => v.type !== 'i32' && v.type !== 'i64')) continue
        const e = m.program.exports.get(a.field)
        if (!e || e.kind !== 'func' || m.program.funcHost[e.index]! >= 0) continue
        m.invoke(e.index, (a.args ?? []).map((v) => {
          const b = BigInt.asUintN(64, BigInt(v.value))
          return { lo: Number(b & 0xffffffffn) | 0, hi: v.type === 'i64' ? Number(b >> 32n) | 0 : 0 }
        }))
        let steps = 0
        // every step of short invocations; deep recursions are thinned out
        specSampler.rate = specSampler.samples.length < 30_000 ? 0.5 : 0.02
        while (m.status === Status.Running && steps < 200_000) {
          if (steps === 200) specSampler.rate = 0.001
          specSampler.stepAndMaybeProve(m, ctx)
          steps++
        }
        // a stopped machine steps to itself
        if (m.status !== Status.Running) specSampler.stepAndMaybeProve(m, ctx, true)
      }
    }
    // keep the total within the target: thin the spec samples, keeping every trap, every class and every opcode
    const spec = specSampler.samples
    const room = Math.max(2000, TARGET - sampler.samples.length)
    const keepEvery = Math.max(1, Math.ceil(spec.length / room))
    const kept = new Set(sampler.samples.map((s) => s.op))
    spec.forEach((s, i) => {
      if (i % keepEvery === 0 || !kept.has(s.op) || s.cls === 'trap' || s.cls.startsWith('stopped') || s.cls === 'globals') {
        sampler.samples.push(s)
        kept.add(s.op)
      }
    })
    console.log(`      spec: ${spec.length} provable steps seen, ${sampler.samples.length - before} kept`)
  })

  it('host calls on a hand-built module: 1 KB keccak, ranges across leaves, traps, refused signatures', async () => {
    // (module (import "veridex" "keccak256" (func (param i32 i32 i32))) (import "veridex" "ecrecover" (func (param i32 i32 i32) (result i32)))
    //   (memory 4) (func (export "k") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 call 0)
    //   (func (export "e") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call 1)
    //   (func (export "a") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 local.get 0 call 2)) with env.abort imported third
    const str = (t: string) => [t.length, ...Buffer.from(t)]
    const section = (id: number, body: number[]) => [id, body.length, ...body]
    const body = (f: number) => [10, 0, 0x20, 0, 0x20, 1, 0x20, 2, 0x10, f, 0x0b]
    const wasm = Uint8Array.from([
      0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      ...section(1, [3, 0x60, 3, 0x7f, 0x7f, 0x7f, 0, 0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
      ...section(2, [3, ...str('veridex'), ...str('keccak256'), 0, 0, ...str('veridex'), ...str('ecrecover'), 0, 1, ...str('env'), ...str('abort'), 0, 2]),
      ...section(3, [3, 0, 1, 0]),
      ...section(5, [1, 0, 4]),
      ...section(7, [3, ...str('k'), 0, 3, ...str('e'), 0, 4, ...str('a'), 0, 5]),
      ...section(10, [3, ...body(0), ...body(1), 12, 0, 0x20, 0, 0x20, 1, 0x20, 2, 0x20, 0, 0x10, 2, 0x0b]),
    ])
    const program = loadProgram(wasm, ENGINE_IMPORTS)
    const m = new Machine(program, { hosts: ENGINE_HOSTS })
    const ctx = ctxFor(program, 0n)
    const mem = m.memory.u8
    for (let i = 0; i < 4096; i++) mem[i] = (i * 131 + 7) & 0xff
    for (let i = 150_000; i < 152_000; i++) mem[i] = (i * 17) & 0xff
    // a real signature at 3000 (v ‖ r ‖ s), its digest at 2900; its high-s twin at 3100
    const digest = new Uint8Array(32).fill(0x5a)
    const sig = Buffer.from((await traders[0]!.sign!({ hash: bytesToHex(digest) })).slice(2), 'hex')
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(`0x${sig.subarray(32, 64).toString('hex')}`)
    const highS = Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex')
    mem.set(digest, 2900)
    mem.set([sig[64]!, ...sig.subarray(0, 64)], 3000)
    mem.set([sig[64]! ^ 1, ...sig.subarray(0, 32), ...highS], 3100)
    mem.set([29, ...sig.subarray(0, 64)], 3200)
    const calls: [string, number, number, number][] = [
      ['k', 7, 1024, 200_001], ['k', 0, 1024, 1000], ['k', 1, 1023, 150_031], ['k', 5, 0, 64], ['k', 33, 64, 40],
      ['k', 3, 1025, 0], ['k', 0, 32, 262_130], ['k', 262_100, 100, 0],
      // ranges whose leaves touch (one run), and out before both ecrecover inputs (runs not in argument order)
      ['k', 96, 64, 64], ['e', 2900, 3000, 100],
      ['e', 2900, 3000, 4000], ['e', 2900, 3000, 3020], ['e', 2900, 3100, 4100], ['e', 2900, 3200, 4200], ['e', 2900, 3000, 262_140],
      ['a', 1, 2, 3],
    ]
    const local = new Sampler(1000, 1)
    for (const [f, a, b, c] of calls) {
      const e = program.exports.get(f)!
      // a trap leaves memory as it was, and invoke starts afresh from any status
      m.invoke(e.index, [a, b, c].map((v) => ({ lo: v | 0, hi: 0 })))
      let guard = 0
      while (m.status === Status.Running && guard++ < 100) local.stepAndMaybeProve(m, ctx, m.program.op[m.pc] === 0xe2)
    }
    // instructions no loadable spec module has (their spec files also use floats): unreachable, BR and
    // BR_IF that drop values, i64.store8/16/32 (within a leaf, across two leaves, out of bounds)
    //   (func (export "u") unreachable)
    //   (func (export "b") (result i32) (block (result i32) i32.const 1 i32.const 2 br 0))
    //   (func (export "c") (param i32) (result i32) (block (result i32) i32.const 1 i32.const 2 local.get 0 br_if 0 drop))
    //   (func (export "s") (param i32 i64) i64.store8/16/32 of local 1 at local 0, offsets 0, 1, 2)
    const misc = loadProgram(Uint8Array.from([
      0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      ...section(1, [4, 0x60, 0, 0, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7e, 0]),
      ...section(3, [4, 0, 1, 2, 3]),
      ...section(5, [1, 0, 1]),
      ...section(7, [4, ...str('u'), 0, 0, ...str('b'), 0, 1, ...str('c'), 0, 2, ...str('s'), 0, 3]),
      ...section(10, [4, 3, 0, 0x00, 0x0b, 11, 0, 0x02, 0x7f, 0x41, 1, 0x41, 2, 0x0c, 0, 0x0b, 0x0b,
        14, 0, 0x02, 0x7f, 0x41, 1, 0x41, 2, 0x20, 0, 0x0d, 0, 0x1a, 0x0b, 0x0b,
        23, 0, 0x20, 0, 0x20, 1, 0x3c, 0, 0, 0x20, 0, 0x20, 1, 0x3d, 1, 1, 0x20, 0, 0x20, 1, 0x3e, 2, 2, 0x0b]),
    ]), ENGINE_IMPORTS)
    const mm = new Machine(misc, { hosts: ENGINE_HOSTS })
    const miscCtx = ctxFor(misc, 0n)
    const v = { lo: 0x55667788, hi: 0x11223344 }
    for (const [f, args] of [['u', []], ['b', []], ['c', [{ lo: 0, hi: 0 }]], ['c', [{ lo: 1, hi: 0 }]], ['s', [{ lo: 5, hi: 0 }, v]],
      ['s', [{ lo: 29, hi: 0 }, v]], ['s', [{ lo: 65_532, hi: 0 }, v]]] as const) {
      mm.invoke(misc.exports.get(f)!.index, [...args])
      let guard = 0
      while (mm.status === Status.Running && guard++ < 100) local.stepAndMaybeProve(mm, miscCtx, true)
      local.stepAndMaybeProve(mm, miscCtx, true)
    }
    const host = local.samples.filter((x) => x.cls.startsWith('host') || x.cls === 'trap')
    expect(host.length).to.be.greaterThanOrEqual(calls.length)
    for (const x of local.samples) if (x.cls === 'host keccak256') x.cls = KECCAK_1KB
    sampler.samples.push(...local.samples)
    // the refused high-s, v = 29 and in-range calls return 0 / 1 as the interpreter says: checked with the others below
    console.log(`      hand-built module: ${host.length} host steps (1 KB keccak included), ${local.samples.length} steps in all`)
  })

  it('the L1 prover returns the interpreter\'s hash after every sampled step', async () => {
    const samples = sampler.samples
    expect(samples.length).to.be.greaterThan(1000)
    const t0 = performance.now()
    const results: (Hex | Error)[] = new Array(samples.length)
    const CONC = 400
    for (let i = 0; i < samples.length; i += CONC) {
      await Promise.all(samples.slice(i, i + CONC).map(async (s, j) => {
        try { results[i + j] = await call(s) } catch (e) { results[i + j] = e as Error }
      }))
    }
    const bad: string[] = []
    samples.forEach((s, i) => {
      const r = results[i]!
      if (r instanceof Error) bad.push(`#${i} ${s.cls} ${s.info}: reverted: ${r.message.split('\n').slice(0, 3).join(' ')}`)
      else if (r !== s.after) bad.push(`#${i} ${s.cls}: got ${r}, want ${s.after}`)
    })
    const byClass = new Map<string, number>()
    for (const s of samples) byClass.set(s.cls, (byClass.get(s.cls) ?? 0) + 1)
    console.log(`      ${samples.length} steps checked on anvil in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${[...byClass].map(([c, n]) => `${c} ${n}`).join(', ')}`)
    expect(bad.slice(0, 10), `${bad.length} of ${samples.length} failed`).to.deep.equal([])
    // every instruction the lowering can emit, every host function
    const ops = new Set(samples.map((x) => x.op))
    const missing = allOpcodes().filter((op) => op !== Op.CALL_HOST && !ops.has(opName(op))).map(opName)
    for (let id = 0; id < HOST_NAMES.length; id++) if (!ops.has(`host ${id}`)) missing.push(`host ${HOST_NAMES[id]}`)
    expect(missing, 'instructions never proven').to.deep.equal([])
    for (const c of ['math', 'memory load/store', 'memory size/grow', 'locals', 'globals', 'call/return/enter', 'control/const/stack', 'trap', 'ready', 'stopped (finished)', 'stopped (errored)',
      'host keccak256', 'host ecrecover', 'host inbox_read', 'host delayed_read']) {
      expect(byClass.get(c) ?? 0, c).to.be.greaterThan(0)
    }
  })

  it('gas and calldata per class (estimateGas on a sample of each class)', async () => {
    const byClass = new Map<string, Sample[]>()
    for (const s of sampler.samples) {
      const l = byClass.get(s.cls) ?? []
      l.push(s)
      byClass.set(s.cls, l)
    }
    const lines: string[] = []
    let worst = { gas: 0n, gasClass: '', bytes: 0 }
    for (const [cls, list] of [...byClass].sort()) {
      // the largest proofs of the class plus a spread of the others
      const sorted = [...list].sort((a, b) => b.proof.length - a.proof.length)
      const pick = [...sorted.slice(0, 10), ...sorted.filter((_, i) => i % Math.max(1, Math.floor(sorted.length / 20)) === 0)].slice(0, 30)
      const gas = await Promise.all(pick.map((s) => pub.estimateContractGas({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: [s.ctx, s.before, s.proof] })))
      gas.sort((a, b) => (a < b ? -1 : 1))
      const sizes = list.map((s) => (s.proof.length - 2) / 2).sort((a, b) => a - b)
      // calldata = selector + ctx (8 words) + hash + offset + length + padded proof
      const calldata = (b: number) => 4 + 32 * 11 + Math.ceil(b / 32) * 32
      const maxGas = gas[gas.length - 1]!
      const maxBytes = calldata(sizes[sizes.length - 1]!)
      if (!EXEMPT.has(cls) && maxGas > worst.gas) worst = { ...worst, gas: maxGas, gasClass: cls }
      if (!EXEMPT.has(cls) && maxBytes > worst.bytes) worst = { ...worst, bytes: maxBytes }
      lines.push(`${(EXEMPT.has(cls) ? `${cls} (exempt)` : cls).padEnd(31)} n=${String(list.length).padStart(5)}  gas max ${maxGas} median ${gas[gas.length >> 1]}  calldata max ${maxBytes} median ${calldata(sizes[sizes.length >> 1]!)} bytes`)
    }
    console.log(`      (gas = eth_estimateGas of a transaction, 21000 and calldata included)\n      ${lines.join('\n      ')}`)
    expect(worst.bytes).to.be.lessThan(4096)
    expect(Number(worst.gas), worst.gasClass).to.be.lessThan(150_000)
  })

  it('a corrupted proof reverts or yields another hash', async () => {
    const samples = sampler.samples
    let checked = 0
    let seed = 99
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n }
    // a spread of all samples, and every host call
    const picks = samples.filter((x, i) => i % Math.max(1, Math.floor(samples.length / 150)) === 0 || x.cls.startsWith('host'))
    await Promise.all(picks.map(async (s) => {
      const bytes = Buffer.from(s.proof.slice(2), 'hex')
      for (let t = 0; t < 3; t++) {
        const b = Uint8Array.from(bytes)
        const at = rnd(b.length)
        b[at] = b[at]! ^ (1 << rnd(8))
        let r: Hex | undefined
        try { r = await call(s, bytesToHex(b)) } catch { r = undefined }
        expect(r, `${s.cls}: byte ${at} of ${b.length} flipped`).to.not.equal(s.after)
        checked++
      }
    }))
    // a wrong hash before the step is refused
    for (const s of picks.slice(0, 20)) {
      let r: Hex | undefined
      try { r = await call({ ...s, before: `0x${'11'.repeat(32)}` }) } catch { r = undefined }
      expect(r).to.equal(undefined)
    }
    console.log(`      ${checked} corrupted proofs rejected`)
  })
})
