/**
 * `engine`: the native engine (engine.wasm on Node's WebAssembly, executor/engine/host.ts) on a
 * realistic mix (bench/workload.ts: resting and crossing orders, cancels, deposits, withdrawals) pre-built into
 * batches of ~1,000 items, then timed with `runBatch` on a fresh engine, state root after
 * every batch (incremental Merkle tree, executor/vm/stateRoot.ts).
 *
 * Signatures are checked inside the engine through the `ecrecover` host call, so the headline
 * figure includes one uncached libsecp256k1 recovery per signed item. The "without recovery"
 * figure runs the same NativeEngine with an `ecrecover` option that replays the answers recorded
 * in a real run. Both must reach the reference state root, or the section fails.
 */
import { readFileSync } from 'node:fs'
import { type Hex, hexToBytes } from 'viem'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import { FastSigner } from './signer.js'
import { MEASURE_CHAIN_ID, buildSignedWorkload, type Workload } from './workload.js'
import { type BenchSection, now } from './lib.js'

type Recover = (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined

/**
 * Runs the workload on a fresh NativeEngine whose ecrecover is `recover`, timing runBatch and the
 * state root after each batch apart; throws unless it reaches the reference state root.
 */
async function timeRun(w: Workload, wasm: Uint8Array, recover: Recover, what: string) {
  const engine = await NativeEngine.load({ delayed: (i) => w.delayed[Number(i)]!, wasm, ecrecover: recover })
  engine.init(w.genesis)
  engine.runBatch(w.setup)
  const tracker = new StateRootTracker(engine)
  tracker.compute(1n)
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
  if (root !== w.finalRoot) throw new Error(`${what} reached state root ${root}, the reference ${w.finalRoot}`)
  return { execMs, rootMs }
}

export const engineSection: BenchSection = {
  name: 'engine',
  description: 'native engine.wasm runBatch items/s on a mix of resting/crossing orders, cancels and deposits; state root per batch',
  async run(ctx) {
    await ctx.ensure('sig')
    const quick = ctx.opts.quick
    const cfg = quick ? { accounts: 128, batches: 6, itemsPerBatch: 1_000, reps: 2 } : { accounts: 256, batches: 30, itemsPerBatch: 1_000, reps: 4 }
    ctx.progress(`building ${cfg.batches} batches of ${cfg.itemsPerBatch} items for ${cfg.accounts} accounts (signing and checking every item on a reference engine)`)
    const signer = new FastSigner(MEASURE_CHAIN_ID)
    const w = await buildSignedWorkload({ accounts: cfg.accounts, batches: cfg.batches, itemsPerBatch: cfg.itemsPerBatch, sign: (key, tx) => signer.item(hexToBytes(key), tx) })
    const total = w.items
    const pct = (k: string) => `${((100 * w.mix[k]!) / total).toFixed(0)}% ${k}`
    ctx.progress(`workload: ${total} items: ${pct('resting')}, ${pct('crossing')} (${w.mix.fills} fills), ${pct('cancel')}, ${pct('deposit')}, ${pct('withdraw')}; ${w.batches.reduce((a, b) => a + b.length, 0)} bytes`)

    const wasm = new Uint8Array(readFileSync(engineWasmPath()))

    // 1. Real (uncached) recovery: the memo in ecrecover would otherwise answer repeated
    //    signatures. The first repetition warms the JIT and is not counted.
    let exec = 0
    let roots = 0
    let counted = 0
    for (let rep = 0; rep < cfg.reps; rep++) {
      const r = await timeRun(w, wasm, ecrecoverUncached, 'NativeEngine')
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
    //    so the difference is the time spent recovering signatures.
    const log: (Uint8Array | undefined)[] = []
    const record: Recover = (d, sig) => {
      const a = ecrecoverUncached(d, sig)
      log.push(a)
      return a
    }
    let realMs = 0
    let replayMs = 0
    const hostReps = Math.max(1, cfg.reps - 1)
    for (let rep = 0; rep < hostReps; rep++) {
      log.length = 0 // the log covers one whole run, setup included
      realMs += (await timeRun(w, wasm, record, 'engine with recorded ecrecover')).execMs
      let cursor = 0
      replayMs += (await timeRun(w, wasm, () => log[cursor++], 'engine with replayed ecrecover')).execMs
    }
    const share = 1 - replayMs / realMs
    ctx.progress(`${log.length} ecrecover calls (${(log.length / total).toFixed(2)} per item); with recovery ${Math.round((total * hostReps / realMs) * 1000)} items/s, replayed ${Math.round((total * hostReps / replayMs) * 1000)} items/s; both reach the reference state root`)
    ctx.figure({ key: 'engine_orders_per_s_excl_ecrecover', value: ((total * hostReps) / replayMs) * 1000, unit: 'items/s', reference: 'sig_recover_per_s_one_core', note: 'NativeEngine whose ecrecover replays recorded answers (state root checked)' })
    ctx.figure({ key: 'engine_ecrecover_time_share', value: share, unit: 'fraction of runBatch time', note: 'time in host ecrecover / runBatch time, with vs without real recovery' })
  },
}
