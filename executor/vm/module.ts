/**
 * The module commitment (docs/vm.md "Module root"), mirrored by contracts/src/osp/state/Module.sol.
 *
 * Everything a one-step proof needs about the program besides the machine itself: the code root,
 * the function table (call_indirect), the entry function, the outbox root's address and the memory
 * limit. `moduleRoot` hashes them all; it is the moduleRoot of the L2 state root (docs/protocol.md
 * §9), so the Rollup's one immutable moduleRoot binds every constant the prover is given, and
 * OneStepProofEntry refuses an ExecutionContext that does not hash to the machine's moduleRoot.
 */
import { bytesToHex, type Hex } from 'viem'
import { keccak } from './keccak.js'
import { merkleProof, merkleRoot } from './merkleProof.js'
import type { Program } from './program.js'

/** The module constants of an ExecutionContext (IOneStepProver.sol), as viem passes them. */
export interface ModuleConstants {
  codeRoot: Hex
  tableRoot: Hex
  tableSize: number
  /** run_batch's function index; 0xffffffff for a module without one (spec modules). */
  entryFunction: number
  /** OUTBOX_ROOT_PTR; 0 for a module without one. */
  outboxRootPtr: number
  /** memory.grow's limit: min(the module's max, 4096); 0 without memory. */
  maxMemoryPages: number
}

/** A table entry's kind (the first byte of its leaf). */
export const TableEntry = { Uninitialized: 0, Function: 1, Host: 2 } as const

const NONE = 0xffffffff

/** Value of an exported immutable i32 global (e.g. OUTBOX_ROOT_PTR). */
export function exportedConst(p: Program, name: string): number {
  const e = p.exports.get(name)
  const g = e?.kind === 'global' ? p.module.globals[e.index] : undefined
  if (!g || g.mutable || g.init?.kind !== 'i32') throw new Error(`the module exports no immutable i32 global ${name}`)
  return g.init.value >>> 0
}

/**
 * Leaf of table entry i: `kind u8 ‖ func u32 ‖ sig u32`, zero-padded to 32 bytes (raw, like code
 * leaves). The signature id is the one CALL_INDIRECT carries, so the prover compares two integers;
 * kind says whether the entry is empty, a module function, or an imported host function.
 */
export function tableLeaf(p: Program, i: number): Uint8Array {
  const leaf = new Uint8Array(32)
  const f = p.table[i]!
  if (f < 0) return leaf
  const dv = new DataView(leaf.buffer)
  leaf[0] = p.funcHost[f]! >= 0 ? TableEntry.Host : TableEntry.Function
  dv.setUint32(1, f)
  dv.setUint32(5, p.funcSig[f]!)
  return leaf
}

const tableLeaves = (p: Program) => Array.from({ length: p.table.length }, (_, i) => tableLeaf(p, i))

/** merkleRoot of the table leaves (zero for no table). */
export function tableRoot(p: Program): Uint8Array {
  return merkleRoot(tableLeaves(p))
}

/** Entry i's sibling path in the table tree, bottom first. */
export function tableProof(p: Program, i: number): Uint8Array[] {
  return merkleProof(tableLeaves(p), i)
}

function exportedFunc(p: Program, name: string): number {
  const e = p.exports.get(name)
  return e?.kind === 'func' ? e.index : NONE
}

/** The module constants of a loaded program. */
export function moduleConstants(p: Program): ModuleConstants {
  const entryFunction = exportedFunc(p, 'run_batch')
  const ptr = p.exports.get('OUTBOX_ROOT_PTR')
  return {
    codeRoot: bytesToHex(p.codeRoot()),
    tableRoot: bytesToHex(tableRoot(p)),
    tableSize: p.table.length,
    entryFunction,
    outboxRootPtr: ptr ? exportedConst(p, 'OUTBOX_ROOT_PTR') : 0,
    maxMemoryPages: p.memory?.max ?? 0,
  }
}

/** keccak256(codeRoot ‖ tableRoot ‖ tableSize u32 ‖ entryFunction u32 ‖ outboxRootPtr u32 ‖ maxMemoryPages u32), big-endian. */
export function moduleRoot(c: ModuleConstants): Uint8Array {
  const buf = new Uint8Array(32 + 32 + 16)
  const dv = new DataView(buf.buffer)
  buf.set(hexBytes(c.codeRoot), 0)
  buf.set(hexBytes(c.tableRoot), 32)
  dv.setUint32(64, c.tableSize)
  dv.setUint32(68, c.entryFunction >>> 0)
  dv.setUint32(72, c.outboxRootPtr >>> 0)
  dv.setUint32(76, c.maxMemoryPages)
  return keccak(buf)
}

function hexBytes(h: Hex): Uint8Array {
  if (h.length !== 66) throw new Error(`expected 32 bytes of hex, got ${h}`)
  return Uint8Array.from(Buffer.from(h.slice(2), 'hex'))
}

/** IOneStepProver.sol's ExecutionContext: the module constants plus the assertion's batch limit and inbox. */
export interface ExecutionContext extends ModuleConstants {
  /** Inbox positions below this have a batch; a Ready machine at batchLimit steps to itself. */
  batchLimit: bigint
  /** The SequencerInbox host reads are checked against. */
  sequencerInbox: Hex
}

/** The ExecutionContext of `p` for a dispute over batches below `batchLimit`. */
export function executionContext(p: Program, batchLimit: bigint, sequencerInbox: Hex = ZERO_ADDRESS): ExecutionContext {
  return { ...moduleConstants(p), batchLimit, sequencerInbox }
}

const ZERO_ADDRESS: Hex = '0x0000000000000000000000000000000000000000'
