/**
 * The engine on the VM: load engine.wasm with the engine host list, start a quiescent machine
 * from a native engine's state at a batch boundary, and run whole batches.
 */
import { readFileSync } from 'node:fs'
import { ENGINE_HOSTS, ENGINE_IMPORTS } from './host.js'
import { run } from './interpreter.js'
import { Machine, Status, type VmContext } from './machine.js'
import { loadProgram, type Program } from './program.js'
import type { GlobalValue } from './stateRoot.js'

/** Loads engine.wasm for the VM (rejects floats and unknown imports). */
export function loadEngineProgram(wasm: Uint8Array): Program {
  const p = loadProgram(wasm, ENGINE_IMPORTS)
  const e = p.exports.get('run_batch')
  if (!e || e.kind !== 'func') throw new Error('the module exports no run_batch function: not an engine module')
  return p
}

export function loadEngineProgramFile(path: string): Program {
  return loadEngineProgram(new Uint8Array(readFileSync(path)))
}

/** Something that holds the engine state at a batch boundary, like NativeEngine. */
export interface EngineStateSource {
  readonly memory: WebAssembly.Memory
  globals(): GlobalValue[]
}

/** A quiescent machine with the state of `engine` (memory copied) at inbox position `inboxPosition`. */
export function machineFromEngine(program: Program, engine: EngineStateSource, inboxPosition: bigint, context: VmContext): Machine {
  return Machine.atBoundary(
    program,
    { memory: new Uint8Array(engine.memory.buffer), globals: engine.globals(), inboxPosition },
    { hosts: ENGINE_HOSTS, context, entry: program.exports.get('run_batch')!.index },
  )
}

/** A context that serves the messages of batches `first`, `first + 1`, … from a list. */
export function listContext(first: bigint, messages: readonly Uint8Array[], delayed: (i: bigint) => Uint8Array): VmContext {
  return {
    message: (pos) => (pos >= first && pos - first < BigInt(messages.length) ? messages[Number(pos - first)] : undefined),
    delayed,
  }
}

/**
 * Runs the machine through its next batch (Ready → … → Ready); returns the steps taken.
 * Throws if the machine traps (the native engine would have thrown too) or the budget runs out.
 */
export function runBatchVm(m: Machine, budget = 1e12): number {
  if (m.status !== Status.Ready) throw new Error(`runBatchVm needs a quiescent machine, status is ${m.status}`)
  const start = m.inboxPosition
  let steps = 0
  while (steps < budget) {
    const n = run(m, Math.min(1 << 30, budget - steps), true)
    steps += n
    const status = m.status as number // run() changed it
    if (status === Status.Errored) throw new Error(`the VM trapped at step ${m.steps}: ${m.trapReason}`)
    if (status === Status.Ready && m.inboxPosition > start) return steps
    if (n === 0) throw new Error(`no batch at inbox position ${m.inboxPosition} in the machine's context`)
  }
  throw new Error(`the batch did not finish within ${budget} steps`)
}
