/**
 * The L2 state root (docs/protocol.md §9): a hash of the engine's memory, mutable globals,
 * module, inbox position and outbox root at a batch boundary. The VM's machine hash at a
 * quiescent point must equal it; the Rollup recomputes it from the parts a proposer posts.
 */
import { type Hex, bytesToHex, hexToBytes } from 'viem'
import { keccak } from './keccak.js'
import { MemoryMerkleTree } from './moduleMemory.js'

export interface GlobalValue { type: 'i32' | 'i64'; value: bigint }

export interface StateRootParts {
  moduleRoot: Hex
  machineRoot: Hex
  inboxPosition: bigint
  outboxRoot: Hex
}

const TYPE_BYTE = { i32: 0x7f, i64: 0x7e } as const

/** keccak256 over (type u8 ‖ value u64) for each mutable global, in index order. */
export function globalsHash(globals: readonly GlobalValue[]): Uint8Array {
  const buf = new Uint8Array(globals.length * 9)
  const view = new DataView(buf.buffer)
  globals.forEach((g, i) => {
    buf[i * 9] = TYPE_BYTE[g.type]
    view.setBigUint64(i * 9 + 1, BigInt.asUintN(g.type === 'i32' ? 32 : 64, g.value))
  })
  return keccak(buf)
}

/** keccak256(globalsHash ‖ memoryRoot ‖ memoryPages u32). */
export function machineRoot(globals: Uint8Array, memoryRoot: Uint8Array, memoryPages: number): Hex {
  const buf = new Uint8Array(68)
  buf.set(globals, 0)
  buf.set(memoryRoot, 32)
  new DataView(buf.buffer).setUint32(64, memoryPages)
  return bytesToHex(keccak(buf))
}

/** keccak256(moduleRoot ‖ machineRoot ‖ inboxPosition u64 ‖ outboxRoot). */
export function stateRoot(p: StateRootParts): Hex {
  const buf = new Uint8Array(104)
  buf.set(hexToBytes(p.moduleRoot), 0)
  buf.set(hexToBytes(p.machineRoot), 32)
  new DataView(buf.buffer).setBigUint64(64, p.inboxPosition)
  buf.set(hexToBytes(p.outboxRoot), 72)
  return bytesToHex(keccak(buf))
}

/** What the native path needs from an engine instance to compute its state root. */
export interface MerkleizableEngine {
  readonly memory: WebAssembly.Memory
  globals(): GlobalValue[]
  outboxRoot(): Hex
  readonly moduleRoot: Hex
}

/**
 * Tracks one engine instance's state root across batches, rehashing only the memory leaves
 * that changed since the previous call.
 */
export class StateRootTracker {
  private readonly tree: MemoryMerkleTree
  constructor(private readonly engine: MerkleizableEngine) {
    this.tree = new MemoryMerkleTree(engine.memory)
  }

  /** The state parts and root now; call at a batch boundary. */
  compute(inboxPosition: bigint): StateRootParts & { stateRoot: Hex } {
    this.tree.update()
    const parts: StateRootParts = {
      moduleRoot: this.engine.moduleRoot,
      machineRoot: machineRoot(globalsHash(this.engine.globals()), this.tree.root(), this.tree.memoryPages),
      inboxPosition,
      outboxRoot: this.engine.outboxRoot(),
    }
    return { ...parts, stateRoot: stateRoot(parts) }
  }
}
