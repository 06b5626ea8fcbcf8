/**
 * The VM trace of one assertion, built from a TraceTask: a Ready machine with the parent's engine
 * state, serving the assertion's batches, padded past its end (a Ready machine with no batch left
 * steps to itself). Checkpoints bound every re-execution (executor/vm/trace.ts), and signature
 * recoveries are cached for the life of the trace, since a dispute replays the same batches many
 * times.
 */
import type { Hex } from 'viem'
import { recoveryCache } from '../../executor/vm/ecrecover.js'
import { listContext } from '../../executor/vm/engine.js'
import { ENGINE_HOSTS, HostId, ecrecoverHostWith } from '../../executor/vm/host.js'
import { Machine } from '../../executor/vm/machine.js'
import { executionContext, type ExecutionContext } from '../../executor/vm/module.js'
import type { Program } from '../../executor/vm/program.js'
import { proveStepAt } from '../../executor/vm/proof.js'
import { Trace } from '../../executor/vm/trace.js'
import { bytesToHex } from 'viem'
import type { TraceTask } from './traceTask.js'

/** Steps between checkpoints: 2^20 steps re-run at most ~40 ms; a checkpoint copies the engine memory. */
export const CHECKPOINT_EVERY = 1 << 20

export class AssertionTrace {
  readonly trace: Trace
  constructor(readonly program: Program, readonly task: TraceTask, checkpointEvery = CHECKPOINT_EVERY) {
    const root = bytesToHex(program.moduleRoot)
    if (root !== task.moduleRoot)
      throw new Error(`the trace task runs module ${task.moduleRoot}, this process has engine module ${root}: build the same engine.wasm (npm run build)`)
    const delayed = new Map(task.delayed.map((d) => [d.index, d.bytes]))
    const hosts = [...ENGINE_HOSTS]
    hosts[HostId.ECRECOVER] = ecrecoverHostWith(recoveryCache())
    const start = Machine.atBoundary(
      program,
      { memory: task.memory, globals: task.globals, inboxPosition: task.inboxPosition },
      {
        hosts,
        context: listContext(task.inboxPosition, task.messages, (i) => {
          const m = delayed.get(i)
          if (!m) throw new Error(`the trace task lacks delayed message ${i}`)
          return m
        }),
        entry: program.exports.get('run_batch')!.index,
      },
    )
    this.trace = new Trace(start, { checkpointEvery })
  }

  /** The machine hash after k steps (k past the end: the final hash). */
  hashAt(k: bigint): Hex {
    return this.trace.hashAt(Number(this.clamp(k)))
  }

  /** The one-step proof of step k → k + 1. */
  proveStep(k: bigint): Uint8Array {
    return proveStepAt(this.trace, Number(this.clamp(k)))
  }

  /** Steps after which the machine no longer changes (runs the whole trace once). */
  length(): bigint {
    return BigInt(this.trace.length())
  }

  /** The ExecutionContext a one-step proof of this trace is checked with. */
  context(sequencerInbox: Hex): ExecutionContext {
    return executionContext(this.program, this.task.batchLimit, sequencerInbox)
  }

  /** Points far past the end are the end: the machine is stopped there (keeps k a safe integer). */
  private clamp(k: bigint): bigint {
    if (k < 0n) throw new Error(`step ${k} is negative`)
    if (k <= BigInt(Number.MAX_SAFE_INTEGER >> 1)) return k
    const end = this.length()
    return k > end ? end : k
  }
}
