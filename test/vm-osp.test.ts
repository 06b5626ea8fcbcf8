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
  oneStepProofEntryAbi, oneStepProofEntryBytecode, oneStepProver0Abi, oneStepProver0Bytecode, oneStepProverMathAbi,
  oneStepProverMathBytecode, oneStepProverMemoryAbi, oneStepProverMemoryBytecode,
} from '../contracts/out/artifacts.js'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { listContext, loadEngineProgram, machineFromEngine } from '../executor/vm/engine.js'
import { step } from '../executor/vm/interpreter.js'
import { type Machine, Status } from '../executor/vm/machine.js'
import { exportedConst, machineHash } from '../executor/vm/machineHash.js'
import { opName } from '../executor/vm/opcodes.js'
import type { Program } from '../executor/vm/program.js'
import { provable, proveStep } from '../executor/vm/proof.js'
import { instantiateSpec } from '../executor/vm/spec.js'
import * as P from '../sdk/protocol.js'

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
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: [BTC] }
const SPEC_DIR = process.env.WASM_SPEC_DIR ?? '/work/shared/wasm-spec'
const SPEC_FILES = ['i32', 'i64', 'int_exprs', 'address', 'load', 'store', 'memory', 'memory_grow', 'memory_size', 'select', 'local_get', 'local_set',
  'local_tee', 'br', 'br_if', 'br_table', 'block', 'loop', 'if', 'call', 'return', 'traps', 'unreachable', 'stack', 'func', 'global', 'endianness']
/** Samples wanted; override with VM_OSP_SAMPLES. */
const TARGET = Number(process.env.VM_OSP_SAMPLES ?? 10_000)

async function sign(account: LocalAccount, tx: P.TxMessage): Promise<Uint8Array> {
  const signature = await account.signTypedData({
    domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: tx.kind, message: tx.message,
  } as unknown as Parameters<LocalAccount['signTypedData']>[0])
  return P.encodeItem(tx, signature)
}

interface Ctx { batchLimit: bigint; entryFunction: number; outboxRootPtr: number; maxMemoryPages: number; codeRoot: Hex; sequencerInbox: Address }
interface Sample { info: string; cls: string; ctx: Ctx; before: Hex; after: Hex; proof: Hex }

function ctxFor(p: Program, entry: number, batchLimit: bigint): Ctx {
  return {
    batchLimit,
    entryFunction: entry >= 0 ? entry : 0xffffffff,
    outboxRootPtr: entry >= 0 ? exportedConst(p, 'OUTBOX_ROOT_PTR') : 0,
    maxMemoryPages: p.memory?.max ?? 0,
    codeRoot: bytesToHex(p.codeRoot()),
    sequencerInbox: '0x0000000000000000000000000000000000000000',
  }
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
  if (op === 0x10 || op === 0x0f || op === 0xe3) return 'call/return/enter'
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
    const name = m.status === Status.Running ? opName(m.program.op[m.pc]!) : `status ${m.status}`
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
      this.samples.push({ info, cls: trapped ? 'trap' : cls, ctx, before, after: machineHash(m), proof: bytesToHex(proof) })
    }
    return moved
  }
}

describe('vm one-step proofs on L1', function () {
  this.timeout(300_000)
  let anvil: Anvil
  let pub: ReturnType<typeof createPublicClient>
  let entry: Address
  const sampler = new Sampler(40, 0)

  before(async () => {
    await buildContracts()
    await buildEngine()
    anvil = await startAnvil()
    pub = createPublicClient({ transport: http(anvil.rpcUrl, { batch: { batchSize: 200 } }) })
    const chain = l1Chain({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl })
    const wallet = createWalletClient({ transport: http(anvil.rpcUrl), account: privateKeyToAccount(anvil.privateKeys[0]!), chain })
    const deploy = async (abi: readonly unknown[], bytecode: Hex, args: unknown[] = []) => {
      const hash = await wallet.deployContract({ abi: abi as never, bytecode, args: args as never, chain })
      const r = await pub.waitForTransactionReceipt({ hash })
      return r.contractAddress!
    }
    const p0 = await deploy(oneStepProver0Abi, oneStepProver0Bytecode)
    const pm = await deploy(oneStepProverMathAbi, oneStepProverMathBytecode)
    const pmem = await deploy(oneStepProverMemoryAbi, oneStepProverMemoryBytecode)
    entry = await deploy(oneStepProofEntryAbi, oneStepProofEntryBytecode, [p0, pm, pmem])
  })

  after(async () => {
    await anvil?.stop()
  })

  const call = (s: Sample, proof: Hex = s.proof) =>
    pub.readContract({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: [s.ctx, s.before, proof] })

  it('samples steps of real engine batches', async () => {
    const wasm = new Uint8Array(readFileSync(engineWasmPath()))
    const program = loadEngineProgram(wasm)
    const delayed = [
      P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(traders[0]!.address, 0, 100_000n * USDC) }),
      P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(traders[1]!.address, 0, 100_000n * USDC) }),
    ]
    const native = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    native.init(P.encodeGenesis(GENESIS))
    const items = async (txs: [LocalAccount, P.TxMessage][]) => Uint8Array.of(0, ...(await Promise.all(txs.map(([a, t]) => sign(a, t)))).flatMap((x) => [...x]))
    const msgs = [
      P.batchMessage({ afterDelayedCount: 2n, timestamp: 10n }, await items([[oracle, { kind: 'OraclePrice', message: { market: 1, price: 50_000n * USDC, timestamp: 5n } }]])),
      P.batchMessage({ afterDelayedCount: 2n, timestamp: 11n }, await items([
        [traders[0]!, { kind: 'Order', message: { market: 1, isBuy: true, price: 50_000n * USDC, size: 10n, nonce: 0n } }],
        [traders[1]!, { kind: 'Order', message: { market: 1, isBuy: false, price: 49_999n * USDC, size: 4n, nonce: 0n } }],
        [traders[0]!, { kind: 'Withdraw', message: { asset: 0, amount: 5n * USDC, to: traders[0]!.address, nonce: 1n } }],
      ])),
      P.batchMessage({ afterDelayedCount: 2n, timestamp: 12n }, new Uint8Array(0)),
    ]
    const m = machineFromEngine(program, native, 0n, listContext(0n, msgs, (i) => delayed[Number(i)]!))
    const ctx = ctxFor(program, m.entry, BigInt(msgs.length))
    // count steps first to pick a sampling rate
    const probe = m.snapshot()
    let total = 0
    while (step(probe)) total++
    sampler.rate = Math.min(1, (TARGET * 0.8) / total)
    let n = 0
    while (sampler.stepAndMaybeProve(m, ctx, m.status !== Status.Running || (m.program.op[m.pc] === 0x0f && m.frames === 1))) n++
    expect(n).to.equal(total)
    // the Ready machine with no further batch steps to itself
    sampler.stepAndMaybeProve(m, ctx, true)
    console.log(`      engine: ${total} steps over ${msgs.length} batches, ${sampler.samples.length} sampled`)
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
            ctx = ctxFor(m.program, -1, 0n)
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
    // keep the total within the target: thin the spec samples, keeping every trap and every class
    const spec = specSampler.samples
    const room = Math.max(2000, TARGET - sampler.samples.length)
    const keepEvery = Math.max(1, Math.ceil(spec.length / room))
    spec.forEach((s, i) => { if (i % keepEvery === 0 || s.cls === 'trap' || s.cls.startsWith('stopped') || s.cls === 'globals') sampler.samples.push(s) })
    console.log(`      spec: ${spec.length} provable steps seen, ${sampler.samples.length - before} kept`)
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
    for (const c of ['math', 'memory load/store', 'memory size/grow', 'locals', 'globals', 'call/return/enter', 'control/const/stack', 'trap', 'ready', 'stopped (finished)', 'stopped (errored)']) {
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
    let worst = { gas: 0n, bytes: 0 }
    for (const [cls, list] of [...byClass].sort()) {
      // the largest proofs of the class plus a spread of the others
      const sorted = [...list].sort((a, b) => b.proof.length - a.proof.length)
      const pick = [...sorted.slice(0, 10), ...sorted.filter((_, i) => i % Math.max(1, Math.floor(sorted.length / 20)) === 0)].slice(0, 30)
      const gas = await Promise.all(pick.map((s) => pub.estimateContractGas({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: [s.ctx, s.before, s.proof] })))
      gas.sort((a, b) => (a < b ? -1 : 1))
      const sizes = list.map((s) => (s.proof.length - 2) / 2).sort((a, b) => a - b)
      // calldata = selector + ctx (6 words) + hash + offset + length + padded proof
      const calldata = (b: number) => 4 + 32 * 9 + Math.ceil(b / 32) * 32
      const maxGas = gas[gas.length - 1]!
      const maxBytes = calldata(sizes[sizes.length - 1]!)
      if (maxGas > worst.gas) worst = { ...worst, gas: maxGas }
      if (maxBytes > worst.bytes) worst = { ...worst, bytes: maxBytes }
      lines.push(`${cls.padEnd(22)} n=${String(list.length).padStart(5)}  gas max ${maxGas} median ${gas[gas.length >> 1]}  calldata max ${maxBytes} median ${calldata(sizes[sizes.length >> 1]!)} bytes`)
    }
    console.log(`      (gas = eth_estimateGas of a transaction, 21000 and calldata included)\n      ${lines.join('\n      ')}`)
    expect(worst.bytes).to.be.lessThan(4096)
    expect(Number(worst.gas)).to.be.lessThan(150_000)
  })

  it('a corrupted proof reverts or yields another hash', async () => {
    const samples = sampler.samples
    let checked = 0
    let seed = 99
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n }
    const picks = samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 150)) === 0)
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
