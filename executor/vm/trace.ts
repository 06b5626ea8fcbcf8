/**
 * A machine's execution trace as the dispute game sees it: the machine hash after k steps, for
 * any k. Checkpoints (full machine copies, memory included) every `checkpointEvery` steps make
 * `hashAt(k)` re-run at most that many steps. A machine that stops (finished, trapped, or
 * quiescent with no further batch in its context) stays as it is, so for every k past the end
 * `hashAt(k)` is the final hash: that pads the trace to any length.
 */
import type { Hex } from 'viem'
import { run } from './interpreter.js'
import type { Machine } from './machine.js'
import { machineHash } from './machineHash.js'

export interface TraceOptions {
  /** Steps between checkpoints (memory copies); default 2^20. */
  checkpointEvery?: number
}

export class Trace {
  private readonly every: number
  /** checkpoints[i] is the machine after i × every steps. */
  private readonly checkpoints: Machine[]
  /** Set once the machine is known to stop: the step count where it did, and its final state. */
  private end?: { steps: number; machine: Machine }

  constructor(start: Machine, opts: TraceOptions = {}) {
    this.every = opts.checkpointEvery ?? 1 << 20
    if (!(this.every >= 1)) throw new Error('checkpointEvery must be at least 1')
    this.checkpoints = [start.snapshot()]
  }

  /** A machine copy exactly at step k (or the final machine, if it stops before k). */
  machineAt(k: number): Machine {
    if (!Number.isSafeInteger(k) || k < 0) throw new Error(`step ${k} is not a non-negative integer`)
    if (this.end && k >= this.end.steps) return this.end.machine.snapshot()
    const cp = Math.min(Math.floor(k / this.every), this.checkpoints.length - 1)
    const m = this.checkpoints[cp]!.snapshot()
    let pos = cp * this.every
    while (pos < k) {
      const target = Math.min(k, (Math.floor(pos / this.every) + 1) * this.every)
      const want = target - pos
      const n = run(m, want)
      pos += n
      if (n < want) {
        this.end = { steps: pos, machine: m.snapshot() }
        return m
      }
      if (pos % this.every === 0 && pos / this.every === this.checkpoints.length) this.checkpoints.push(m.snapshot())
    }
    return m
  }

  /** The machine hash after k steps. */
  hashAt(k: number): Hex {
    return machineHash(this.machineAt(k))
  }

  /** Runs to the end if needed; the number of steps after which the machine no longer changes. */
  length(): number {
    while (!this.end) this.machineAt((this.checkpoints.length + 1) * this.every)
    return this.end.steps
  }

  /** A copy of the state at step k, to resume from later (restore = keep using the copy). */
  snapshot(k: number): Machine {
    return this.machineAt(k)
  }
}
