/**
 * `engine`: the native engine (engine.wasm on Node's WebAssembly, executor/engine/host.ts) on a
 * realistic mix — resting orders, cancels, crossing orders and deposits — pre-built into
 * batches of ~1,000 items, then timed with `runBatch` on a fresh engine, state root after
 * every batch (incremental Merkle tree, executor/vm/stateRoot.ts).
 *
 * Signatures are checked inside the engine through the `ecrecover` host call, so the headline
 * figure includes one uncached libsecp256k1 recovery per signed item. The "without recovery"
 * figure runs the same NativeEngine with an `ecrecover` option that replays the answers recorded
 * in a real run. Both must reach the reference state root, or the section fails.
 */
import { readFileSync } from 'node:fs'
import { type Address, type Hex, hexToBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import { BTC_PERP, DEFAULT_L2_CHAIN_ID, devnetGenesis } from '../cli/config.js'
import {
  DELAYED_DEPOSIT, ResultCode, batchMessage, encodeDelayedItem, encodeDelayedMessage, encodeDepositPayload, encodeGenesis,
  resultCodeName, type BatchHeader, type TxMessage,
} from '../sdk/protocol.js'
import { FastSigner } from './signer.js'
import { prng } from './prng.js'
import { type BenchSection, benchKey, now } from './lib.js'

const BRIDGE = '0x00000000000000000000000000000000b1d6e000' as Address
const MID = 60_000n * 1_000_000n
const TICK = BTC_PERP.tickSize


export interface BuiltWorkload {
  genesis: Uint8Array
  delayed: Uint8Array[]
  setup: Uint8Array
  batches: Uint8Array[]
  itemsPerBatch: number[]
  mix: Record<string, number>
  /** State root after the last batch, computed on the engine that built the batches. */
  finalRoot: Hex
}

/** Builds the batches on a reference NativeEngine, checking every item is accepted. */
async function buildWorkload(o: { accounts: number; batches: number; itemsPerBatch: number; progress: (s: string) => void }): Promise<BuiltWorkload> {
  const rand = prng(0x5eed)
  const oracleKey = benchKey('engine-oracle', 0)
  const genesisCfg = devnetGenesis(privateKeyToAccount(oracleKey).address)
  const genesis = encodeGenesis(genesisCfg)
  const signer = new FastSigner(DEFAULT_L2_CHAIN_ID)
  const keys = Array.from({ length: o.accounts }, (_, i) => benchKey('engine', i))
  const priv = keys.map((k) => hexToBytes(k))
  const addrs = keys.map((k) => privateKeyToAccount(k).address)
  const nonces = new Array<bigint>(o.accounts).fill(0n)
  const resting: bigint[][] = Array.from({ length: o.accounts }, () => [])
  const delayed: Uint8Array[] = []
  const deposit = (to: Address, amount: bigint) =>
    delayed.push(encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: encodeDepositPayload(to, 0, amount) }))

  const ref = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
  ref.init(genesis)
  let clock = 1_700_000_000n

  // Setup: every account deposits 10,000 vUSD, the oracle publishes the mark price.
  for (const a of addrs) deposit(a, 10_000_000_000n)
  const setupHeader: BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: ++clock }
  ref.beginBatch(setupHeader)
  const oracle = ref.execItem(signer.item(hexToBytes(oracleKey), { kind: 'OraclePrice', message: { market: BTC_PERP.id, price: MID, timestamp: clock } }))
  if (oracle.code !== ResultCode.OK) throw new Error(`oracle price rejected: ${resultCodeName(oracle.code)}`)
  const setup = batchMessage(setupHeader, ref.endBatch().data)

  const mix: Record<string, number> = { resting: 0, crossing: 0, cancel: 0, deposit: 0, fills: 0 }
  const batches: Uint8Array[] = []
  const itemsPerBatch: number[] = []
  const signed = (i: number, tx: TxMessage) => signer.item(priv[i]!, tx)
  for (let b = 0; b < o.batches; b++) {
    // About 1% of the items consume a deposit that arrived from L1 since the last batch.
    const deposits = Math.max(1, Math.round(o.itemsPerBatch / 100))
    for (let d = 0; d < deposits; d++) deposit(addrs[Math.floor(rand() * o.accounts)]!, 1_000_000_000n)
    let depositsLeft = deposits
    const header: BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: ++clock }
    ref.beginBatch(header)
    let items = 0
    while (items < o.itemsPerBatch) {
      const r = rand()
      const i = Math.floor(rand() * o.accounts)
      let item: Uint8Array
      let kind: string
      if (r < 0.01 && depositsLeft > 0) {
        item = encodeDelayedItem(1)
        depositsLeft--
        kind = 'deposit'
      } else if (r < 0.16 && resting[i]!.length > 0) {
        const list = resting[i]!
        const orderId = list.splice(Math.floor(rand() * list.length), 1)[0]!
        if (!ref.order(orderId)) continue // filled meanwhile
        item = signed(i, { kind: 'Cancel', message: { orderId, nonce: nonces[i]! } })
        kind = 'cancel'
      } else {
        const crossing = r < 0.36
        const isBuy = rand() < 0.5
        const away = crossing ? -8n : BigInt(1 + Math.floor(rand() * 30))
        const price = isBuy ? MID - away * TICK : MID + away * TICK
        const size = BigInt(1 + Math.floor(rand() * 10))
        item = signed(i, { kind: 'Order', message: { market: BTC_PERP.id, isBuy, price, size, nonce: nonces[i]! } })
        kind = crossing ? 'crossing' : 'resting'
      }
      const res = ref.execItem(item)
      if (res.code !== ResultCode.OK) throw new Error(`bench workload: ${kind} item rejected with ${resultCodeName(res.code)}`)
      if (kind !== 'deposit') nonces[i]!++
      if (kind === 'resting' || kind === 'crossing') {
        mix.fills! += res.fills.length
        if (ref.order(res.orderId)) resting[i]!.push(res.orderId)
      }
      mix[kind]!++
      items++
    }
    batches.push(batchMessage(header, ref.endBatch().data))
    itemsPerBatch.push(items)
    if ((b + 1) % 10 === 0 || b + 1 === o.batches) o.progress(`built ${b + 1}/${o.batches} batches (${items} items each)`)
  }
  const finalRoot = new StateRootTracker(ref).compute(BigInt(batches.length + 1)).stateRoot
  return { genesis, delayed, setup, batches, itemsPerBatch, mix, finalRoot }
}

// ---------------------------------------------------------------------------------------------

interface Runner {
  runBatch(m: Uint8Array): unknown
}

/** Times runBatch (and the state root after each batch) over all batches; returns totals. */
function timeBatches(engine: Runner, tracker: StateRootTracker, w: BuiltWorkload) {
  let execMs = 0
  let rootMs = 0
  let root: Hex = '0x'
  for (let b = 0; b < w.batches.length; b++) {
    const t0 = now()
    engine.runBatch(w.batches[b]!)
    const t1 = now()
    root = tracker.compute(BigInt(b + 2)).stateRoot
    rootMs += now() - t1
    execMs += t1 - t0
  }
  return { execMs, rootMs, root }
}

export const engineSection: BenchSection = {
  name: 'engine',
  description: 'native engine.wasm runBatch items/s on a mix of resting/crossing orders, cancels and deposits; state root per batch',
  async run(ctx) {
    await ctx.ensure('sig')
    const quick = ctx.opts.quick
    const cfg = quick ? { accounts: 128, batches: 6, itemsPerBatch: 1_000, reps: 2 } : { accounts: 256, batches: 30, itemsPerBatch: 1_000, reps: 4 }
    ctx.progress(`building ${cfg.batches} batches of ${cfg.itemsPerBatch} items for ${cfg.accounts} accounts (signing and checking every item on a reference engine)`)
    const w = await buildWorkload({ ...cfg, progress: ctx.progress })
    const total = w.itemsPerBatch.reduce((a, b) => a + b, 0)
    const pct = (k: string) => `${((100 * w.mix[k]!) / total).toFixed(0)}% ${k}`
    ctx.progress(`workload: ${total} items: ${pct('resting')}, ${pct('crossing')} (${w.mix.fills} fills), ${pct('cancel')}, ${pct('deposit')}; ${w.batches.reduce((a, b) => a + b.length, 0)} bytes`)

    const wasm = new Uint8Array(readFileSync(engineWasmPath()))
    const delayedSource = (i: bigint) => w.delayed[Number(i)]!

    // 1. NativeEngine, the production host. The first repetition warms the JIT and is not counted.
    let exec = 0
    let roots = 0
    let counted = 0
    for (let rep = 0; rep < cfg.reps; rep++) {
      // Uncached recovery: the memo in ecrecover would otherwise answer repeated signatures.
      const engine = await NativeEngine.load({ delayed: delayedSource, wasm, ecrecover: ecrecoverUncached })
      engine.init(w.genesis)
      engine.runBatch(w.setup)
      const tracker = new StateRootTracker(engine)
      tracker.compute(1n)
      const r = timeBatches(engine, tracker, w)
      if (r.root !== w.finalRoot) throw new Error(`NativeEngine reached state root ${r.root}, the reference ${w.finalRoot}`)
      ctx.progress(`NativeEngine rep ${rep + 1}/${cfg.reps}: ${Math.round((total / r.execMs) * 1000)} items/s, state root ${(r.rootMs / w.batches.length).toFixed(2)} ms/batch${rep === 0 ? ' (warm-up, not counted)' : ''}`)
      if (rep === 0 && cfg.reps > 1) continue
      exec += r.execMs
      roots += r.rootMs
      counted++
    }
    const nativeRate = ((total * counted) / exec) * 1000
    ctx.figure({ key: 'engine_orders_per_s', value: nativeRate, unit: 'items/s', reference: 'sig_recover_per_s_one_core', note: 'NativeEngine.runBatch, one core, includes the in-engine ecrecover host call; excludes the state root' })
    ctx.figure({ key: 'state_root_ms_per_batch', value: roots / (counted * w.batches.length), unit: `ms/batch (~${cfg.itemsPerBatch} items)`, note: 'StateRootTracker.compute after each batch (incremental memory Merkle tree)' })
    ctx.figure({ key: 'engine_orders_per_s_with_state_root', value: ((total * counted) / (exec + roots)) * 1000, unit: 'items/s', reference: 'sig_recover_per_s_one_core', note: 'runBatch + state root per batch' })

    // 2. The same engine whose ecrecover replays the answers recorded in a run with real recovery,
    //    so the difference is the time spent recovering signatures. Both must reach the reference root.
    const log: (Uint8Array | undefined)[] = []
    const timeRun = async (mode: 'record' | 'replay') => {
      let cursor = 0
      if (mode === 'record') log.length = 0 // the log covers one whole run, setup included
      const recover = mode === 'record'
        ? (d: Uint8Array, s: Uint8Array) => { const a = ecrecoverUncached(d, s); log.push(a); return a }
        : () => log[cursor++]
      const engine = await NativeEngine.load({ delayed: delayedSource, wasm, ecrecover: recover })
      engine.init(w.genesis)
      engine.runBatch(w.setup)
      const tracker = new StateRootTracker(engine)
      tracker.compute(1n)
      const r = timeBatches(engine, tracker, w)
      if (r.root !== w.finalRoot) throw new Error(`engine with ${mode}ed ecrecover reached state root ${r.root}, the reference ${w.finalRoot}`)
      return r
    }
    let realMs = 0
    let replayMs = 0
    const hostReps = Math.max(1, cfg.reps - 1)
    for (let rep = 0; rep < hostReps; rep++) {
      realMs += (await timeRun('record')).execMs
      replayMs += (await timeRun('replay')).execMs
    }
    const share = 1 - replayMs / realMs
    ctx.progress(`${log.length} ecrecover calls (${(log.length / total).toFixed(2)} per item); with recovery ${Math.round((total * hostReps / realMs) * 1000)} items/s, replayed ${Math.round((total * hostReps / replayMs) * 1000)} items/s; both reach the reference state root`)
    ctx.figure({ key: 'engine_orders_per_s_excl_ecrecover', value: ((total * hostReps) / replayMs) * 1000, unit: 'items/s', reference: 'sig_recover_per_s_one_core', note: 'NativeEngine whose ecrecover replays recorded answers (state root checked)' })
    ctx.figure({ key: 'engine_ecrecover_time_share', value: share, unit: 'fraction of runBatch time', note: 'time in host ecrecover / runBatch time, with vs without real recovery' })
  },
}
