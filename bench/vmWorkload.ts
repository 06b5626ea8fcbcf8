/**
 * Interpreter speed on realistic engine batches (bench/workload.ts), against the native run of
 * the same batches. Run: npx tsx bench/vmWorkload.ts (a quick look; `npm run bench -- --only vm`
 * is the benchmark, bench/vm.ts, and it uses the timed comparison defined here).
 *
 * The comparison runs the batches on a fresh NativeEngine and on the VM started from the same
 * state, with the same (uncached) signature recovery on both paths, and fails unless memories and
 * state roots agree.
 */
import { readFileSync } from 'node:fs'
import type { Hex } from 'viem'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { ecrecoverUncached } from '../executor/vm/ecrecover.js'
import { ENGINE_HOSTS, HostId, ecrecoverHostWith } from '../executor/vm/host.js'
import { listContext, loadEngineProgram, runBatchVm } from '../executor/vm/engine.js'
import { type HostFn, Machine } from '../executor/vm/machine.js'
import { quiescentStateRoot } from '../executor/vm/machineHash.js'
import type { Program } from '../executor/vm/program.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import { type Workload, buildSignedWorkload, buildUnsignedWorkload } from './workload.js'

/** The engine's host functions with a given signature recovery (the bench passes an uncached one). */
export function hostsWithEcrecover(recover: Recover): HostFn[] {
  const hosts = [...ENGINE_HOSTS]
  hosts[HostId.ECRECOVER] = ecrecoverHostWith(recover)
  return hosts
}

/** A fresh NativeEngine at inbox position 1 (genesis and setup run). */
export async function nativeAtStart(w: Workload, wasm: Uint8Array, recover: Recover = ecrecoverUncached): Promise<NativeEngine> {
  const e = await NativeEngine.load({ delayed: (i) => w.delayed[Number(i)]!, wasm, ecrecover: recover })
  e.init(w.genesis)
  e.runBatch(w.setup)
  return e
}

/** A quiescent VM with the native engine's state, serving the workload's batches. */
export function vmFrom(program: Program, native: NativeEngine, w: Workload, hosts: HostFn[] = hostsWithEcrecover(ecrecoverUncached)): Machine {
  return Machine.atBoundary(
    program,
    { memory: new Uint8Array(native.memory.buffer), globals: native.globals(), inboxPosition: 1n },
    { hosts, context: listContext(1n, w.batches, (i) => w.delayed[Number(i)]!), entry: program.exports.get('run_batch')!.index },
  )
}

export interface RunComparison { steps: number; vmMs: number; nativeMs: number; stateRoot: Hex }

type Recover = (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined

/**
 * Runs every batch of `w` on the VM and on a fresh NativeEngine from the same state, with the same
 * signature recovery on both (uncached unless `recover` says otherwise); throws unless the memories
 * and the state roots are equal afterwards.
 */
export async function compareRun(program: Program, wasm: Uint8Array, w: Workload, recover: Recover = ecrecoverUncached): Promise<RunComparison> {
  const native = await nativeAtStart(w, wasm, recover)
  const vm = vmFrom(program, native, w, hostsWithEcrecover(recover))
  let steps = 0
  let t0 = performance.now()
  for (let b = 0; b < w.batches.length; b++) steps += runBatchVm(vm)
  const vmMs = performance.now() - t0
  t0 = performance.now()
  for (const batch of w.batches) native.runBatch(batch)
  const nativeMs = performance.now() - t0
  if (Buffer.compare(new Uint8Array(native.memory.buffer), vm.memory.u8) !== 0) throw new Error(`${w.name}: VM and native memories differ`)
  const nativeRoot = new StateRootTracker(native).compute(BigInt(w.batches.length + 1)).stateRoot
  const vmRoot = quiescentStateRoot(vm)
  if (vmRoot !== nativeRoot) throw new Error(`${w.name}: VM state root ${vmRoot}, native ${nativeRoot}`)
  return { steps, vmMs, nativeMs, stateRoot: vmRoot }
}

export interface Measurement { name: string; steps: number; vmMs: number; nativeMs: number; stepsPerSecond: number }

export async function measure(log = console.log): Promise<Measurement[]> {
  await buildEngine()
  const wasm = new Uint8Array(readFileSync(engineWasmPath()))
  const program = loadEngineProgram(wasm)
  const out: Measurement[] = []
  for (const w of [await buildSignedWorkload({ batches: 1, itemsPerBatch: 200 }), await buildUnsignedWorkload({ batches: 1, ordersPerBatch: 400 })]) {
    let best = { vmMs: Infinity, nativeMs: Infinity, steps: 0 }
    for (let rep = 0; rep < 5; rep++) {
      const r = await compareRun(program, wasm, w)
      best = { vmMs: Math.min(best.vmMs, r.vmMs), nativeMs: Math.min(best.nativeMs, r.nativeMs), steps: r.steps }
    }
    const m = { name: w.name, steps: best.steps, vmMs: best.vmMs, nativeMs: best.nativeMs, stepsPerSecond: best.steps / (best.vmMs / 1000) }
    out.push(m)
    log(`${m.name}: ${m.steps} steps; VM ${m.vmMs.toFixed(1)} ms = ${(m.stepsPerSecond / 1e6).toFixed(1)} M steps/s; native ${m.nativeMs.toFixed(2)} ms (${(m.vmMs / m.nativeMs).toFixed(1)}x)`)
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) await measure()
