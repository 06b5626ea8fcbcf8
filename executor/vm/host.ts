/**
 * The VM's host functions (docs/protocol.md §8). Each is one step of the machine, with the same
 * semantics as the native host in executor/engine/host.ts: a write or read outside memory, or a
 * keccak256 over more than KECCAK_MAX_LEN bytes, traps instead of throwing.
 */
import { KECCAK_MAX_LEN } from '../../sdk/protocol.js'
import { ecrecover } from './ecrecover.js'
import { keccak } from './keccak.js'
import type { HostFn, Machine } from './machine.js'
import type { HostFunctionSpec, ImportSpec } from './program.js'
import { I32, I64 } from './wasm/decoder.js'

export const HostId = { INBOX_READ: 0, DELAYED_READ: 1, KECCAK256: 2, ECRECOVER: 3, ABORT: 4 } as const

/** The engine's import list: the only imports a module run by the engine path may have. */
export const ENGINE_HOST_FUNCTIONS: HostFunctionSpec[] = [
  { module: 'veridex', name: 'inbox_read', type: { params: [I32, I32, I32], results: [I32] }, id: HostId.INBOX_READ },
  { module: 'veridex', name: 'delayed_read', type: { params: [I64, I32, I32, I32], results: [I32] }, id: HostId.DELAYED_READ },
  { module: 'veridex', name: 'keccak256', type: { params: [I32, I32, I32], results: [] }, id: HostId.KECCAK256 },
  { module: 'veridex', name: 'ecrecover', type: { params: [I32, I32, I32], results: [I32] }, id: HostId.ECRECOVER },
  { module: 'env', name: 'abort', type: { params: [I32, I32, I32, I32], results: [] }, id: HostId.ABORT },
]

export const ENGINE_IMPORTS: ImportSpec = { functions: ENGINE_HOST_FUNCTIONS }

const OOB = 'out of bounds memory access'

/** Copies up to `len` bytes of `src` from `offset` to memory at `dest`; the count, or -1 when the write would leave memory. */
function copyOut(m: Machine, src: Uint8Array, offset: number, dest: number, len: number): number {
  const n = Math.max(0, Math.min(len, src.length - offset))
  if (n === 0) return 0
  if (dest + n > m.memory.u8.length) return -1
  m.memory.u8.set(src.subarray(offset, offset + n), dest)
  return n
}

/** Pops a host call's arguments (from slot `s` up) and pushes its i32 result. */
function returnI32(m: Machine, s: number, v: number): undefined {
  m.lo[s] = v
  m.hi[s] = 0
  m.sp = s + 1
  return undefined
}

const inboxRead: HostFn = (m) => {
  const s = m.sp - 3
  const offset = m.lo[s]! >>> 0, dest = m.lo[s + 1]! >>> 0, len = m.lo[s + 2]! >>> 0
  const msg = m.context.message(m.inboxPosition) ?? new Uint8Array(0)
  const n = copyOut(m, msg, offset, dest, len)
  return n < 0 ? OOB : returnI32(m, s, n)
}

const delayedRead: HostFn = (m) => {
  const s = m.sp - 4
  const index = (BigInt(m.hi[s]! >>> 0) << 32n) | BigInt(m.lo[s]! >>> 0)
  const offset = m.lo[s + 1]! >>> 0, dest = m.lo[s + 2]! >>> 0, len = m.lo[s + 3]! >>> 0
  const n = copyOut(m, m.context.delayed(index), offset, dest, len)
  return n < 0 ? OOB : returnI32(m, s, n)
}

const keccakHost: HostFn = (m) => {
  const s = m.sp - 3
  const ptr = m.lo[s]! >>> 0, len = m.lo[s + 1]! >>> 0, out = m.lo[s + 2]! >>> 0
  if (len > KECCAK_MAX_LEN) return `keccak256 over ${len} bytes (the limit is ${KECCAK_MAX_LEN})`
  const mem = m.memory.u8
  if (ptr + len > mem.length || out + 32 > mem.length) return OOB
  mem.set(keccak(mem.subarray(ptr, ptr + len)), out)
  m.sp = s
  return undefined
}

/** The ecrecover host call over a given recovery function (benchmarks pass an uncached one). */
export const ecrecoverHostWith = (recover: (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined): HostFn => (m) => {
  const s = m.sp - 3
  const hash = m.lo[s]! >>> 0, sig = m.lo[s + 1]! >>> 0, out = m.lo[s + 2]! >>> 0
  const mem = m.memory.u8
  if (hash + 32 > mem.length || sig + 65 > mem.length || out + 20 > mem.length) return OOB
  const signer = recover(mem.subarray(hash, hash + 32), mem.subarray(sig, sig + 65))
  if (signer) mem.set(signer, out)
  return returnI32(m, s, signer ? 1 : 0)
}

const abortHost: HostFn = () => 'abort'

/** Host functions by id, for Machine options. */
export const ENGINE_HOSTS: HostFn[] = [inboxRead, delayedRead, keccakHost, ecrecoverHostWith(ecrecover), abortHost]
