/**
 * A trace task: everything needed to re-execute one assertion's batches on the VM, with no access
 * to L1 or to the node that made it. The engine state at the parent assertion (memory, mutable
 * globals, inbox position), the batch messages up to the assertion's batch limit and the delayed
 * messages they may read. A task is content-addressed (its key is the keccak of its encoding), so
 * a worker anywhere that runs the same engine module computes the same hashes for it.
 *
 * Encoding (zlib-deflated): u32 header length ‖ JSON header ‖ memory ‖ messages ‖ delayed bytes.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { type Hex, bytesToHex } from 'viem'
import { keccak } from '../../executor/vm/keccak.js'
import type { GlobalValue } from '../../executor/vm/stateRoot.js'

export interface TraceTask {
  /** The module root (docs/protocol.md §9) of the engine that must run the task. */
  moduleRoot: Hex
  /** Where the trace starts: the parent assertion's inbox position (a Ready machine). */
  inboxPosition: bigint
  /** Batches below this position are served; the machine is padded from there (it steps to itself). */
  batchLimit: bigint
  memory: Uint8Array
  globals: GlobalValue[]
  /** Batch messages (header ‖ data) for positions inboxPosition .. batchLimit − 1. */
  messages: Uint8Array[]
  /** Delayed messages the batches may read, by index. */
  delayed: { index: bigint; bytes: Uint8Array }[]
}

interface Header {
  moduleRoot: Hex
  inboxPosition: string
  batchLimit: string
  memoryLength: number
  globals: { type: 'i32' | 'i64'; value: string }[]
  messages: number[]
  delayed: { index: string; length: number }[]
}

/** The task's wire form and its key. */
export function encodeTraceTask(t: TraceTask): { key: Hex; bytes: Uint8Array } {
  if (BigInt(t.messages.length) !== t.batchLimit - t.inboxPosition)
    throw new Error(`a trace task from position ${t.inboxPosition} to ${t.batchLimit} needs ${t.batchLimit - t.inboxPosition} batch messages, got ${t.messages.length}`)
  const header: Header = {
    moduleRoot: t.moduleRoot,
    inboxPosition: t.inboxPosition.toString(),
    batchLimit: t.batchLimit.toString(),
    memoryLength: t.memory.length,
    globals: t.globals.map((g) => ({ type: g.type, value: g.value.toString() })),
    messages: t.messages.map((m) => m.length),
    delayed: t.delayed.map((d) => ({ index: d.index.toString(), length: d.bytes.length })),
  }
  const h = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(h.length)
  const raw = Buffer.concat([len, h, t.memory, ...t.messages, ...t.delayed.map((d) => d.bytes)])
  const bytes = new Uint8Array(deflateRawSync(raw, { level: 1 }))
  return { key: bytesToHex(keccak(bytes)), bytes }
}

export function decodeTraceTask(bytes: Uint8Array): TraceTask {
  const raw = inflateRawSync(bytes)
  const hl = raw.readUInt32BE(0)
  const h = JSON.parse(raw.subarray(4, 4 + hl).toString()) as Header
  let o = 4 + hl
  const take = (n: number) => {
    if (o + n > raw.length) throw new Error('trace task truncated')
    const out = new Uint8Array(raw.subarray(o, o + n))
    o += n
    return out
  }
  const memory = take(h.memoryLength)
  const messages = h.messages.map(take)
  const delayed = h.delayed.map((d) => ({ index: BigInt(d.index), bytes: take(d.length) }))
  return {
    moduleRoot: h.moduleRoot,
    inboxPosition: BigInt(h.inboxPosition),
    batchLimit: BigInt(h.batchLimit),
    memory,
    globals: h.globals.map((g) => ({ type: g.type, value: BigInt(g.value) })),
    messages,
    delayed,
  }
}
