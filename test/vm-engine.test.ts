/**
 * The VM against the native engine: the same batches (signed orders, cancels, transfers,
 * withdrawals, oracle prices, deposits and L2 transactions through the delayed inbox, and
 * malformed bytes) run through NativeEngine.runBatch and through the interpreter from the same
 * starting state must leave identical memory, globals and state roots after every batch.
 */
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { type Address, type Hex, getAddress } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import { listContext, loadEngineProgram, machineFromEngine, runBatchVm } from '../executor/vm/engine.js'
import { Machine, Status, type VmContext } from '../executor/vm/machine.js'
import { machineHash, quiescentStateRoot } from '../executor/vm/machineHash.js'
import type { Program } from '../executor/vm/program.js'
import { Trace } from '../executor/vm/trace.js'
import { step } from '../executor/vm/interpreter.js'
import * as P from '../sdk/protocol.js'
import { rng } from './helpers/rng.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const traders = [0xa11ce, 0xb0b, 0xca201, 0xda7e, 0xe7e].map(key)
const oracle = key(0x0dac1e)
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')

const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
const ETH: P.MarketConfig = {
  id: 2, symbol: 'ETH-PERP', tickSize: 10_000n, stepSize: 1_000n, minSize: 1_000n, maxSize: 100_000_000n, maxPrice: 10_000_000_000n,
  sizeDecimals: 6, initialMarginPpm: 50_000, maintenanceMarginPpm: 30_000,
}
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: [BTC, ETH] }

async function sign(account: LocalAccount, tx: P.TxMessage): Promise<Uint8Array> {
  const signature = await account.signTypedData({
    domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: tx.kind, message: tx.message,
  } as unknown as Parameters<LocalAccount['signTypedData']>[0])
  return P.encodeItem(tx, signature)
}


function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

describe('vm engine', function () {
  this.timeout(180_000)
  let wasm: Uint8Array
  let program: Program

  before(async () => {
    await buildEngine()
    wasm = new Uint8Array(readFileSync(engineWasmPath()))
    program = loadEngineProgram(wasm)
  })

  it('loads engine.wasm: integer-only, host imports only, lowered with a code root', () => {
    expect(program.op.length).to.be.greaterThan(1000)
    expect(program.codeRoot()).to.have.length(32)
    expect(program.globalTypes.length).to.equal(0)
  })

  it('runs thousands of random batches exactly like the native engine', async () => {
    const delayed: Uint8Array[] = []
    const getDelayed = (i: bigint) => {
      const m = delayed[Number(i)]
      if (!m) throw new Error(`no delayed message ${i}`)
      return m
    }
    const native = await NativeEngine.load({ delayed: getDelayed })
    native.init(P.encodeGenesis(GENESIS))
    const tracker = new StateRootTracker(native)
    const messages: Uint8Array[] = []
    let position = 0n
    const ctx: VmContext = { message: (pos) => messages[Number(pos)], delayed: getDelayed }
    let vm = machineFromEngine(program, native, 0n, ctx)
    // at genesis both agree already
    expect(quiescentStateRoot(vm)).to.equal(tracker.compute(0n).stateRoot)

    const r = rng(20240601)
    let clock = 1_000n
    let oracleTs = 1n
    let totalSteps = 0
    let nativeMs = 0
    let vmMs = 0
    const BATCHES = Number(process.env.VM_ENGINE_BATCHES ?? 2000)
    const nonceOf = (a: LocalAccount) => native.nonce(a.address)
    const openOrders: bigint[] = []

    const randomItem = async (): Promise<Uint8Array> => {
      const t = r.pick(traders)
      const nonce = r.chance(0.9) ? nonceOf(t) : BigInt(r.int(5))
      const kind = r.int(100)
      if (kind < 45) {
        const m = r.pick([BTC, ETH])
        const mid = m === BTC ? 50_000n : 3_000n
        const price = m === BTC ? (mid + BigInt(r.int(200)) - 100n) * USDC : (mid * 100n + BigInt(r.int(400)) - 200n) * 10_000n
        const size = m === BTC ? BigInt(1 + r.int(500)) : BigInt(1 + r.int(3000)) * 1000n
        return sign(t, { kind: 'Order', message: { market: m.id, isBuy: r.chance(0.5), price, size, nonce } })
      }
      if (kind < 55) return sign(t, { kind: 'Cancel', message: { orderId: openOrders.length && r.chance(0.7) ? r.pick(openOrders) : BigInt(r.int(50)), nonce } })
      if (kind < 65) return sign(t, { kind: 'Transfer', message: { to: r.pick(traders).address, asset: r.int(3), amount: BigInt(r.int(5_000)) * USDC, nonce } })
      if (kind < 73) return sign(t, { kind: 'Withdraw', message: { to: t.address, asset: r.int(2), amount: BigInt(1 + r.int(1000)) * USDC, nonce } })
      if (kind < 83) {
        oracleTs += 1n
        const signer = r.chance(0.9) ? oracle : t
        return sign(signer, { kind: 'OraclePrice', message: { market: r.pick([1, 2, 3]), price: (r.chance(0.5) ? 50_000n : 3_000n) * USDC + BigInt(r.int(1000)) * USDC, timestamp: oracleTs } })
      }
      if (kind < 90) return P.encodeDelayedItem(r.int(3))
      // malformed: a corrupted signed item or junk
      const good = await sign(t, { kind: 'Order', message: { market: 1, isBuy: true, price: 50_000n * USDC, size: 1n, nonce } })
      if (r.chance(0.5)) { good[5 + r.int(good.length - 5)]! ^= 1 << r.int(8); return good }
      return r.bytes(1 + r.int(40))
    }

    for (let b = 0; b < BATCHES; b++) {
      // delayed inbox: deposits, L2 transactions from L1, junk
      for (let n = r.int(3); n > 0; n--) {
        const k = r.int(10)
        if (k < 6) {
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(r.pick(traders).address, r.int(2), BigInt(1 + r.int(100_000)) * USDC) }))
        } else if (k < 9) {
          const sender: Address = r.pick(traders).address
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender, timestamp: 0n, payload: P.encodeUnsignedItem({ kind: 'Order', message: { market: 1, isBuy: r.chance(0.5), price: BigInt(49_900 + r.int(200)) * USDC, size: BigInt(1 + r.int(50)), nonce: 0n } }) }))
        } else delayed.push(r.bytes(r.int(60)))
      }
      clock += BigInt(r.int(3))
      const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: clock }
      const items: Uint8Array[] = []
      const shape = r.int(20)
      if (shape !== 0) for (let n = 1 + r.int(6); n > 0; n--) items.push(await randomItem())
      let data = shape === 0 ? new Uint8Array(0) : P.batchMessage(header, Uint8Array.of(0, ...items.flatMap((i) => [...i]))).subarray(16)
      if (shape === 1) data = Uint8Array.of(7, ...data.subarray(1)) // unknown format: no items
      if (shape === 2 && data.length > 3) data = data.subarray(0, data.length - 1 - r.int(3)) // truncated last item
      const msg = P.batchMessage(header, data)
      messages.push(msg)

      let t0 = performance.now()
      native.runBatch(msg)
      nativeMs += performance.now() - t0
      position += 1n
      t0 = performance.now()
      totalSteps += runBatchVm(vm)
      vmMs += performance.now() - t0

      for (let id = native.nextOrderId() - 1n; id > 0n && id > native.nextOrderId() - 8n; id--) if (native.order(id)) openOrders.push(id)
      const nm = new Uint8Array(native.memory.buffer)
      const vmMem = vm.memory.u8
      if (nm.length !== vmMem.length || Buffer.compare(nm, vmMem) !== 0) {
        expect.fail(`batch ${b}: memories differ (native ${nm.length} bytes, vm ${vmMem.length}) first at 0x${firstDiff(nm, vmMem).toString(16)}`)
      }
      expect(vm.globalValues()).to.deep.equal(native.globals())
      expect(vm.inboxPosition).to.equal(position)
      expect(vm.status).to.equal(Status.Ready)
      if (b % 8 === 0 || b === BATCHES - 1) {
        const root = tracker.compute(position).stateRoot
        expect(quiescentStateRoot(vm), `state root after batch ${b}`).to.equal(root)
        expect(machineHash(vm)).to.equal(root)
      }
      // now and then restart the VM from the native state (the boundary hand-off path)
      if (b % 50 === 49) vm = machineFromEngine(program, native, position, ctx)
    }
    const stats = native.stats()
    console.log(`      ${BATCHES} batches: ${totalSteps} VM steps in ${vmMs.toFixed(0)} ms (${(totalSteps / vmMs / 1000).toFixed(1)} M steps/s), native ${nativeMs.toFixed(0)} ms; ${stats.accounts} accounts, ${stats.restingOrders} resting orders, ${native.outboxCount()} withdrawals`)
    expect(native.outboxCount() > 0n).to.equal(true)
    expect(stats.restingOrders).to.be.greaterThan(0)
  })

  it('a trace over two batches: hashAt pads with the final hash, matches a straight run', async () => {
    const delayed = [P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(traders[0]!.address, 0, 1000n * USDC) })]
    const native = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    native.init(P.encodeGenesis(GENESIS))
    const o = await sign(oracle, { kind: 'OraclePrice', message: { market: 1, price: 50_000n * USDC, timestamp: 5n } })
    const msgs = [
      P.batchMessage({ afterDelayedCount: 1n, timestamp: 10n }, Uint8Array.of(0, ...o)),
      P.batchMessage({ afterDelayedCount: 1n, timestamp: 11n }, new Uint8Array(0)),
    ]
    const ctx = listContext(0n, msgs, (i) => delayed[Number(i)]!)
    const start = machineFromEngine(program, native, 0n, ctx)
    const genesisRoot = machineHash(start)
    const trace = new Trace(start, { checkpointEvery: 5000 })
    const straight = start.snapshot()
    const ks = [0, 1, 2, 3, 777, 4999, 5000, 5001, 12_345]
    const want = new Map<number, string>()
    let at = 0
    for (const k of ks) {
      while (at < k) { if (!stepOnce(straight)) break; at++ }
      want.set(k, machineHash(straight))
    }
    for (const k of [...ks].reverse()) expect(trace.hashAt(k), `hash at ${k}`).to.equal(want.get(k))
    expect(trace.hashAt(0)).to.equal(genesisRoot)
    const end = trace.length()
    expect(end).to.be.greaterThan(1000)
    const final = trace.hashAt(end)
    expect(trace.hashAt(end + 1)).to.equal(final)
    expect(trace.hashAt(end * 4)).to.equal(final)
    // the final machine is quiescent after both batches: its hash is the state root
    native.runBatch(msgs[0]!)
    native.runBatch(msgs[1]!)
    expect(final).to.equal(new StateRootTracker(native).compute(2n).stateRoot)
    // in between, hashes differ from step to step
    expect(trace.hashAt(10)).to.not.equal(trace.hashAt(11))
  })
})

function stepOnce(m: Machine): boolean {
  return step(m)
}
