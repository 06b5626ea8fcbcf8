/**
 * A copy of the engine state at a batch boundary, and the state root computed from such copies
 * instead of the live engine: the sequencer copies the state when it closes a batch (well under
 * a millisecond) and hashes it off the request path (sequencer/rootThread.ts) while the engine
 * already runs the next batch. Same roots as StateRootTracker on the live engine (same code: it
 * runs StateRootTracker over the copies).
 */
import type { Hex } from 'viem'
import { type GlobalValue, type MerkleizableEngine, type StateRootParts, StateRootTracker } from '../executor/vm/stateRoot.js'

export interface StateSnapshot { memory: Uint8Array; globals: GlobalValue[]; outboxRoot: Hex; moduleRoot: Hex }

export type StateRoots = StateRootParts & { stateRoot: Hex }

/** Copies what the state root depends on. */
export function snapshotState(engine: MerkleizableEngine): StateSnapshot {
  return { memory: new Uint8Array(engine.memory.buffer).slice(), globals: engine.globals(), outboxRoot: engine.outboxRoot(), moduleRoot: engine.moduleRoot }
}

/**
 * State roots of successive snapshots. Like StateRootTracker (which it wraps), it rehashes only
 * the memory that changed since the previous snapshot it saw, so feed it snapshots in order.
 */
export class SnapshotRoots {
  private current?: StateSnapshot
  private tracker?: StateRootTracker

  compute(s: StateSnapshot, inboxPosition: bigint): StateRoots {
    this.current = s
    if (!this.tracker) {
      const self = this
      const view: MerkleizableEngine = {
        memory: { get buffer() { return self.current!.memory.buffer } } as WebAssembly.Memory,
        globals: () => self.current!.globals,
        outboxRoot: () => self.current!.outboxRoot,
        get moduleRoot() { return self.current!.moduleRoot },
      }
      this.tracker = new StateRootTracker(view)
    }
    return this.tracker.compute(inboxPosition)
  }
}
