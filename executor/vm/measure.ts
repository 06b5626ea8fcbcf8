/**
 * Interpreter speed on realistic engine batches, against the native run of the same batch.
 * Run: npx tsx executor/vm/measure.ts
 *
 * Workloads: (1) a batch of 200 EIP-712-signed orders that cross and match (each one an
 * ecrecover and several keccaks, as the sequencer posts them); (2) a batch that consumes 400
 * L2 orders from the delayed inbox (no signatures: the interpreter's own speed).
 */
import { readFileSync } from 'node:fs'
import { type Hex, getAddress } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { buildEngine } from '../engine/build.js'
import { NativeEngine, engineWasmPath } from '../engine/host.js'
import * as P from '../../sdk/protocol.js'
import { listContext, loadEngineProgram, machineFromEngine, runBatchVm } from './engine.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const key = (n: number) => privateKeyToAccount(`0x${(n + 1).toString(16).padStart(64, '0')}` as Hex)
const traders = Array.from({ length: 20 }, (_, i) => key(0x1000 + i))
const oracle = key(0x0dac1e)
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: [BTC] }

async function sign(account: LocalAccount, tx: P.TxMessage): Promise<Uint8Array> {
  const signature = await account.signTypedData({
    domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: tx.kind, message: tx.message,
  } as unknown as Parameters<LocalAccount['signTypedData']>[0])
  return P.encodeItem(tx, signature)
}

export interface Measurement { name: string; steps: number; vmMs: number; nativeMs: number; stepsPerSecond: number }

export async function measure(log = console.log): Promise<Measurement[]> {
  await buildEngine()
  const wasm = new Uint8Array(readFileSync(engineWasmPath()))
  const program = loadEngineProgram(wasm)
  const delayed: Uint8Array[] = traders.map((t) =>
    P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(t.address, 0, 10_000_000n * USDC) }))
  const setup = P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: 100n },
    Uint8Array.of(0, ...(await sign(oracle, { kind: 'OraclePrice', message: { market: 1, price: 50_000n * USDC, timestamp: 1n } }))))

  // workload 1: signed orders around the mark, alternating sides, so most of them match
  const items: number[] = []
  for (let i = 0; i < 200; i++) {
    const t = traders[i % traders.length]!
    const isBuy = i % 2 === 0
    const price = (50_000n + (isBuy ? 1n : -1n) * BigInt(i % 7)) * USDC
    items.push(...(await sign(t, { kind: 'Order', message: { market: 1, isBuy, price, size: BigInt(1 + (i % 13)), nonce: BigInt(Math.floor(i / traders.length)) } })))
  }
  const signedBatch = P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: 200n }, Uint8Array.of(0, ...items))

  // workload 2: 400 unsigned orders from the delayed inbox
  const delayed2 = [...delayed]
  for (let i = 0; i < 400; i++) {
    const t = traders[i % traders.length]!
    const isBuy = i % 2 === 0
    delayed2.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender: t.address, timestamp: 0n, payload: P.encodeUnsignedItem({ kind: 'Order', message: { market: 1, isBuy, price: (50_000n + (isBuy ? 1n : -1n) * BigInt(i % 9)) * USDC, size: BigInt(1 + (i % 11)), nonce: 0n } }) }))
  }
  const delayedBatch = P.batchMessage({ afterDelayedCount: BigInt(delayed2.length), timestamp: 200n }, new Uint8Array(0))

  const out: Measurement[] = []
  for (const [name, batch, dl] of [['200 signed orders', signedBatch, delayed2], ['400 delayed-inbox orders', delayedBatch, delayed2]] as const) {
    const source = (i: bigint) => dl[Number(i)]!
    const fresh = async () => {
      const e = await NativeEngine.load({ delayed: source, wasm })
      e.init(P.encodeGenesis(GENESIS))
      e.runBatch(setup)
      return e
    }
    let best = { vmMs: Infinity, nativeMs: Infinity, steps: 0 }
    for (let rep = 0; rep < 5; rep++) {
      const native = await fresh()
      const vm = machineFromEngine(program, native, 1n, listContext(1n, [batch], source))
      let t0 = performance.now()
      const steps = runBatchVm(vm)
      const vmMs = performance.now() - t0
      t0 = performance.now()
      native.runBatch(batch)
      const nativeMs = performance.now() - t0
      if (Buffer.compare(new Uint8Array(native.memory.buffer), vm.memory.u8) !== 0) throw new Error(`${name}: VM and native memories differ`)
      best = { vmMs: Math.min(best.vmMs, vmMs), nativeMs: Math.min(best.nativeMs, nativeMs), steps }
    }
    const m = { name, steps: best.steps, vmMs: best.vmMs, nativeMs: best.nativeMs, stepsPerSecond: best.steps / (best.vmMs / 1000) }
    out.push(m)
    log(`${name}: ${m.steps} steps; VM ${m.vmMs.toFixed(1)} ms = ${(m.stepsPerSecond / 1e6).toFixed(1)} M steps/s; native ${m.nativeMs.toFixed(2)} ms (${(m.vmMs / m.nativeMs).toFixed(1)}x)`)
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) await measure()
