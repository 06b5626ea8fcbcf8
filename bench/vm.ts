/**
 * `vm`: the single-step interpreter (executor/vm/) against native WebAssembly on the same batches,
 * then one-step proofs of sampled steps on a real L1 (anvil).
 *
 * 1. Speed. The workloads are bench/workload.ts's and the timed comparison bench/vmWorkload.ts's (shared with its
 *    quick script): signed batches as the sequencer posts them (resting and crossing orders,
 *    cancels, deposits consumed by DELAYED items, a few withdrawals; signed here with the fast
 *    bench signer, cross-checked against viem) and unsigned orders sent through the delayed inbox.
 *    Each repetition runs every batch on a fresh NativeEngine (the reference, same run) and on the
 *    VM started from the same state, both with uncached libsecp256k1 recovery; the memories and
 *    state roots must be equal afterwards or the section fails. The first repetition warms the JIT
 *    and is not counted.
 * 2. One-step proofs. Steps of the first signed batch are sampled (the first occurrences of every
 *    opcode, then at random), skipping the steps `provable()` says the L1 prover does not support
 *    yet. Each proof goes to OneStepProofEntry on an anvil started here: the returned hash must be
 *    the interpreter's hash after the step, then eth_estimateGas and the exact calldata size are
 *    recorded. Gas is a transaction's (21,000 and calldata included).
 */
import { readFileSync } from 'node:fs'
import { type Address, type Hex, bytesToHex, createPublicClient, createWalletClient, encodeFunctionData, hexToBytes, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../contracts/anvil.js'
import { l1Chain } from '../contracts/l1.js'
import * as artifacts from '../contracts/out/artifacts.js'
import { oneStepProofEntryAbi, oneStepProofEntryBytecode } from '../contracts/out/artifacts.js'
import { engineWasmPath } from '../executor/engine/host.js'
import { ecrecoverUncached, recoveryCache } from '../executor/vm/ecrecover.js'
import { loadEngineProgram } from '../executor/vm/engine.js'
import { HostId } from '../executor/vm/host.js'
import { step } from '../executor/vm/interpreter.js'
import { type Machine, Status } from '../executor/vm/machine.js'
import { machineHash } from '../executor/vm/machineHash.js'
import { executionContext } from '../executor/vm/module.js'
import { compareRun, nativeAtStart, vmFrom } from './vmWorkload.js'
import { type ItemSigner, type Workload, MEASURE_CHAIN_ID, buildSignedWorkload, buildUnsignedWorkload } from './workload.js'
import { Op, opName } from '../executor/vm/instructions.js'
import type { Program } from '../executor/vm/program.js'
import { provable, proveStep } from '../executor/vm/proof.js'
import { FastSigner } from './signer.js'
import { type BenchContext, type BenchSection, fmt, quantile } from './lib.js'

const HOST_NAMES = Object.fromEntries(Object.entries(HostId).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>

/** The proof class of the machine's next step (flat-key friendly). */
export function proofClass(m: Machine): string {
  if (m.status === Status.Errored) return 'errored'
  if (m.status === Status.Finished) return 'finished'
  if (m.status === Status.Ready) return 'ready'
  const op = m.program.op[m.pc]!
  if (op === Op.CALL_HOST) return `host_${HOST_NAMES[m.program.b[m.pc]!] ?? m.program.b[m.pc]}`
  if (op === Op.CALL_INDIRECT) return 'call_indirect'
  if ((op >= 0x45 && op <= 0x8a) || op === 0xa7 || op === 0xac || op === 0xad || (op >= 0xc0 && op <= 0xc4)) return 'math'
  if (op >= 0x28 && op <= 0x3e) return 'memory'
  if (op === Op.MEMORY_SIZE || op === Op.MEMORY_GROW) return 'memory_grow'
  if (op >= Op.LOCAL_GET && op <= Op.LOCAL_TEE) return 'locals'
  if (op === Op.GLOBAL_GET || op === Op.GLOBAL_SET) return 'globals'
  if (op === Op.CALL || op === Op.RETURN || op === Op.ENTER) return 'call'
  return 'control'
}

const stepName = (m: Machine) => {
  if (m.status !== Status.Running) return `status ${m.status}`
  const op = m.program.op[m.pc]!
  return op === Op.CALL_HOST ? `call_host ${HOST_NAMES[m.program.b[m.pc]!]}` : opName(op)
}

interface ProofSample { cls: string; name: string; before: Hex; after: Hex; proof: Hex }

/**
 * Steps the machine through its next batch one step at a time, proving the first `perOp`
 * occurrences of every opcode and other steps at random, plus the step entering the batch, the
 * RETURN that ends it and a Ready step with no further batch (which steps to itself).
 */
function sampleProofs(m: Machine, o: { perOp: number; target: number; totalSteps: number }) {
  const samples: ProofSample[] = []
  const seen = new Map<string, number>()
  const skipped = new Map<string, number>()
  let seed = 12345
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const rate = Math.min(1, o.target / Math.max(1, o.totalSteps))
  const take = (force: boolean) => {
    const name = stepName(m)
    const n = seen.get(name) ?? 0
    const want = force || n < o.perOp || random() < rate
    let s: Omit<ProofSample, 'after'> | undefined
    if (want) {
      // Inbox and delayed reads are checked against a SequencerInbox holding this batch, which the
      // bench does not deploy; they are exempt from the targets and proven in test/vm-osp.test.ts.
      const op = m.program.op[m.pc]
      const readsInbox = op === Op.CALL_HOST && (m.program.b[m.pc] === HostId.INBOX_READ || m.program.b[m.pc] === HostId.DELAYED_READ)
      const key = readsInbox ? `${name} (needs the inbox; see test/vm-osp.test.ts)` : name
      if (readsInbox) skipped.set(key, (skipped.get(key) ?? 0) + 1)
      else if (provable(m)) {
        seen.set(name, n + 1)
        s = { cls: proofClass(m), name, before: machineHash(m), proof: bytesToHex(proveStep(m)) }
      } else skipped.set(name, (skipped.get(name) ?? 0) + 1)
    }
    const moved = step(m)
    if (s) samples.push({ ...s, after: machineHash(m) })
    return moved
  }
  const start = m.inboxPosition
  take(true) // Ready → entering run_batch
  while (m.status === Status.Running) take(m.frames === 1 && m.program.op[m.pc] === Op.RETURN)
  if (m.status !== Status.Ready || m.inboxPosition !== start + 1n) throw new Error(`the sampled batch ended in status ${m.status}: ${m.trapReason ?? ''}`)
  return { samples, skipped }
}

/** The machine with its context cut after one batch, so that its last Ready step is the "no batch" one. */
function oneBatch(w: Workload): Workload {
  return { ...w, batches: w.batches.slice(0, 1) }
}

/**
 * Deploys the provers and OneStepProofEntry the way test/vm-osp.test.ts does. The provers are
 * found from the entry's constructor parameters (`proverX_` → artifact `oneStepProverX`), so a
 * prover added to the constructor (host I/O) is deployed without a change here.
 */
export async function deployOneStepProofEntry(anvil: Anvil) {
  const pub = createPublicClient({ transport: http(anvil.rpcUrl, { batch: { batchSize: 100 } }) })
  const chain = l1Chain({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl })
  const wallet = createWalletClient({ transport: http(anvil.rpcUrl), account: privateKeyToAccount(anvil.privateKeys[0]!), chain })
  const deploy = async (abi: readonly unknown[], bytecode: Hex, args: unknown[] = []) => {
    const hash = await wallet.deployContract({ abi: abi as never, bytecode, args: args as never, chain })
    return (await pub.waitForTransactionReceipt({ hash })).contractAddress!
  }
  const ctor = (oneStepProofEntryAbi as readonly { type: string; inputs?: readonly { name: string }[] }[]).find((x) => x.type === 'constructor')
  const table = artifacts as unknown as Record<string, unknown>
  const provers: Address[] = []
  for (const input of ctor?.inputs ?? []) {
    const suffix = input.name.replace(/_$/, '').replace(/^prover/, '')
    const id = `oneStepProver${suffix.charAt(0).toUpperCase()}${suffix.slice(1)}`
    const abi = table[`${id}Abi`] as readonly unknown[] | undefined
    const bytecode = table[`${id}Bytecode`] as Hex | undefined
    if (!abi || !bytecode) throw new Error(`OneStepProofEntry constructor parameter ${input.name}: no artifact ${id}`)
    provers.push(await deploy(abi, bytecode))
  }
  const entry = await deploy(oneStepProofEntryAbi, oneStepProofEntryBytecode, provers)
  return { pub, entry }
}

async function proofSection(ctx: BenchContext, program: Program, wasm: Uint8Array, w: Workload) {
  const quick = ctx.opts.quick
  const first = oneBatch(w)
  const probe = vmFrom(program, await nativeAtStart(first, wasm), first)
  let totalSteps = 0
  while (step(probe) && probe.status !== Status.Ready) totalSteps++
  const m = vmFrom(program, await nativeAtStart(first, wasm), first)
  const t0 = performance.now()
  const { samples, skipped } = sampleProofs(m, { perOp: quick ? 2 : 4, target: quick ? 120 : 300, totalSteps })
  // The Ready machine with no batch left in its context steps to itself.
  samples.push({ cls: 'ready', name: 'status 3 (no batch)', before: machineHash(m), proof: bytesToHex(proveStep(m)), after: (step(m), machineHash(m)) })
  ctx.progress(`proved ${samples.length} steps of a ${totalSteps}-step batch in ${((performance.now() - t0) / 1000).toFixed(1)} s; skipped: ${skipped.size ? [...skipped].map(([k, n]) => `${k} ×${n}`).join(', ') : 'none'}`)

  ctx.progress('starting anvil and deploying OneStepProofEntry')
  const anvil = await startAnvil()
  try {
    const { pub, entry } = await deployOneStepProofEntry(anvil)
    const c = executionContext(program, 2n)
    // batchLimit: inbox positions below it have a batch (position 1 here); the last Ready step is at 2.
    const args = (s: ProofSample) => [c, s.before, s.proof] as const
    const gas: number[] = new Array(samples.length)
    const t1 = performance.now()
    const CONC = 50
    for (let i = 0; i < samples.length; i += CONC) {
      await Promise.all(samples.slice(i, i + CONC).map(async (s, j) => {
        let got: Hex
        try {
          got = await pub.readContract({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: args(s) })
        } catch (e) {
          throw new Error(`proof of ${s.name} (${s.cls}) reverted on L1: ${(e as Error).message.split('\n')[0]}`)
        }
        if (got !== s.after) throw new Error(`proof of ${s.name} (${s.cls}): L1 returned ${got}, the interpreter ${s.after}`)
        gas[i + j] = Number(await pub.estimateContractGas({ address: entry, abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: args(s) }))
      }))
    }
    const calldata = samples.map((s) => hexToBytes(encodeFunctionData({ abi: oneStepProofEntryAbi, functionName: 'proveOneStep', args: args(s) })).length)
    ctx.progress(`${samples.length} proofs accepted by OneStepProofEntry (hash after the step matches) and gas-estimated in ${((performance.now() - t1) / 1000).toFixed(1)} s`)

    const classes = new Map<string, number[]>()
    samples.forEach((s, i) => classes.set(s.cls, [...(classes.get(s.cls) ?? []), i]))
    const overall = samples.map((_, i) => i).filter((i) => samples[i]!.cls !== 'host_inbox_read')
    const g = overall.map((i) => gas[i]!)
    const b = overall.map((i) => calldata[i]!)
    const target = '(issue target: every proof except an inbox read <= 150,000 gas and <= 4 KB calldata)'
    ctx.figure({ key: 'osp_steps_measured', value: samples.length, unit: 'proofs', note: `classes: ${[...classes.keys()].join(', ')}` })
    ctx.figure({ key: 'osp_max_gas', value: Math.max(...g), unit: 'gas', note: `eth_estimateGas of proveOneStep, all classes except host_inbox_read ${target}` })
    ctx.figure({ key: 'osp_median_gas', value: quantile(g, 0.5), unit: 'gas' })
    ctx.figure({ key: 'osp_max_calldata_bytes', value: Math.max(...b), unit: 'bytes', note: `proveOneStep calldata (selector + ABI encoding) ${target}` })
    ctx.figure({ key: 'osp_median_calldata_bytes', value: quantile(b, 0.5), unit: 'bytes' })
    for (const [cls, idx] of [...classes].sort()) {
      const cg = idx.map((i) => gas[i]!)
      const cb = idx.map((i) => calldata[i]!)
      ctx.progress(`  ${cls.padEnd(18)} n=${String(idx.length).padStart(4)}  gas max ${fmt(Math.max(...cg))} median ${fmt(quantile(cg, 0.5))}  calldata max ${fmt(Math.max(...cb))} median ${fmt(quantile(cb, 0.5))} bytes`)
      ctx.figure({ key: `osp_${cls}_max_gas`, value: Math.max(...cg), unit: 'gas', note: `${idx.length} proofs` })
      ctx.figure({ key: `osp_${cls}_max_calldata_bytes`, value: Math.max(...cb), unit: 'bytes' })
    }
    ctx.progress(`proof classes measured: ${[...classes.keys()].sort().join(', ')}; no proofs yet for: ${[...skipped.keys()].join(', ') || 'none'}`)
  } finally {
    await anvil.stop()
  }
}

export const vmSection: BenchSection = {
  name: 'vm',
  description: 'single-step VM steps/s and time vs native engine.wasm on the same batches (signed and unsigned); one-step proof gas/calldata on anvil',
  async run(ctx) {
    const quick = ctx.opts.quick
    const cfg = quick
      ? { signed: { batches: 2, itemsPerBatch: 250 }, unsigned: { batches: 2, ordersPerBatch: 500 }, reps: 2 }
      : { signed: { batches: 6, itemsPerBatch: 1_000 }, unsigned: { batches: 6, ordersPerBatch: 1_000 }, reps: 4 }
    const wasm = new Uint8Array(readFileSync(engineWasmPath()))
    const program = loadEngineProgram(wasm)

    const signer = new FastSigner(MEASURE_CHAIN_ID)
    await signer.crossCheckWithViem([
      { key: `0x${'11'.repeat(32)}`, tx: { kind: 'Order', message: { market: 1, isBuy: true, price: 50_000_000_000n, size: 3n, nonce: 7n } } },
      { key: `0x${'22'.repeat(32)}`, tx: { kind: 'Cancel', message: { orderId: 5n, nonce: 1n } } },
    ])
    const sign: ItemSigner = (key, tx) => signer.item(hexToBytes(key), tx)
    ctx.progress(`building ${cfg.signed.batches} signed batches of ${cfg.signed.itemsPerBatch} items and ${cfg.unsigned.batches} batches of ${cfg.unsigned.ordersPerBatch} delayed-inbox orders (every item checked on a reference engine)`)
    const signed = await buildSignedWorkload({ ...cfg.signed, sign })
    const unsigned = await buildUnsignedWorkload({ ...cfg.unsigned, sign })
    const mix = Object.entries(signed.mix).map(([k, v]) => `${v} ${k}`).join(', ')
    ctx.progress(`signed workload: ${signed.items} items: ${mix}; ${signed.batches.reduce((a, x) => a + x.length, 0)} bytes`)

    // Signed batches twice: with recovery served from a cache that the warm-up repetition filled
    // (how a dispute re-executes a batch from checkpoints: executor/vm/ecrecover.ts recoveryCache),
    // which measures the interpreter itself, and cold (every repetition recovers every signature on
    // both paths), where libsecp256k1 dominates both. Unsigned orders have no recovery at all.
    const runs = [
      { w: signed, suffix: '', recover: recoveryCache(), label: 'signed batches (orders, cancels, crossing, deposits, withdrawals), recovery served from a warm cache on both paths' },
      { w: signed, suffix: '_cold', recover: ecrecoverUncached, label: 'the same signed batches, uncached recovery on both paths' },
      { w: unsigned, suffix: '_unsigned', recover: ecrecoverUncached, label: 'unsigned orders through the delayed inbox' },
    ]
    for (const { w, suffix, recover, label } of runs) {
      let steps = 0, vmMs = 0, nativeMs = 0, counted = 0
      const reps = cfg.reps > 1 ? cfg.reps : 2 // the first repetition warms up (and fills the cache)
      for (let rep = 0; rep < reps; rep++) {
        const r = await compareRun(program, wasm, w, recover)
        const warm = rep === 0
        ctx.progress(`${w.name}${suffix} rep ${rep + 1}/${reps}: ${r.steps} steps, VM ${r.vmMs.toFixed(0)} ms (${fmt(r.steps / r.vmMs / 1000)} M steps/s), native ${r.nativeMs.toFixed(1)} ms, VM/native ${fmt(r.vmMs / r.nativeMs)}x; state roots equal ${r.stateRoot.slice(0, 10)}…${warm ? ' (warm-up, not counted)' : ''}`)
        if (warm) continue
        steps += r.steps
        vmMs += r.vmMs
        nativeMs += r.nativeMs
        counted++
      }
      ctx.figure({ key: `vm_native_items_per_s${suffix}`, value: (w.items * counted) / nativeMs * 1000, unit: 'items/s', reference: `vm_native_items_per_s${suffix}`, note: `NativeEngine.runBatch, ${label}` })
      ctx.figure({ key: `vm_items_per_s${suffix}`, value: (w.items * counted) / vmMs * 1000, unit: 'items/s', reference: `vm_native_items_per_s${suffix}`, note: `the interpreter, ${label}` })
      ctx.figure({ key: `vm_steps_per_s${suffix}`, value: steps / vmMs * 1000, unit: 'steps/s', note: `interpreter steps per second (issue target >= 20,000,000), ${label}` })
      ctx.figure({ key: `vm_native_ratio${suffix}`, value: vmMs / nativeMs, unit: 'x (VM time / native time)', note: `same batches, same run, ${label}` })
      ctx.figure({ key: `vm_steps_per_item${suffix}`, value: steps / (w.items * counted), unit: 'steps/item' })
    }

    await proofSection(ctx, program, wasm, signed)
  },
}
