/**
 * VM unit tests: exact i64 arithmetic (against BigInt and Node's own WebAssembly), traps,
 * deterministic limits, load-time rejections, and machine-hash basics.
 */
import { expect } from 'chai'
import { ENGINE_HOSTS, ENGINE_IMPORTS } from '../executor/vm/host.js'
import { i64ops, run, step } from '../executor/vm/interpreter.js'
import { Machine, Status } from '../executor/vm/machine.js'
import { machineHash } from '../executor/vm/machineHash.js'
import { LIMITS, loadProgram } from '../executor/vm/program.js'
import { SPECTEST_IMPORTS } from '../executor/vm/spec.js'
import { T, buildModule, sleb } from '../executor/vm/wasm/builder.js'
import { VmLoadError } from '../executor/vm/wasm/decoder.js'

const EDGE: bigint[] = (() => {
  const v = [0n, 1n, 2n, 3n, 7n, 63n, 64n, 65n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x100000001n,
    0x7fffffffffffffffn, 0x8000000000000000n, 0x8000000000000001n, 0xffffffffffffffffn, 0xfffffffffffffffen,
    0x123456789abcdef0n, 0xfedcba9876543210n, 0x00000000deadbeefn, 0xdeadbeef00000000n, 10n ** 18n, 3n ** 40n]
  let s = 0x9e3779b97f4a7c15n
  for (let i = 0; i < 16; i++) {
    s = BigInt.asUintN(64, s * 6364136223846793005n + 1442695040888963407n)
    v.push(s, s >> BigInt(i * 4))
  }
  return v.map((x) => BigInt.asUintN(64, x))
})()

const split = (x: bigint) => ({ lo: Number(x & 0xffffffffn) | 0, hi: Number(x >> 32n) | 0 })
const join = (s: { lo: number; hi: number }) => (BigInt(s.hi >>> 0) << 32n) | BigInt(s.lo >>> 0)

// i64 binary ops 0x7c..0x8a and comparisons 0x51..0x5a, one exported function each
const BIN_OPS = Array.from({ length: 15 }, (_, i) => 0x7c + i)
const CMP_OPS = Array.from({ length: 10 }, (_, i) => 0x51 + i)
const UN_OPS = [0x79, 0x7a, 0x7b, 0x50, 0xc2, 0xc3, 0xc4, 0xa7]

function arithModule() {
  const funcs = [
    ...BIN_OPS.map((op) => ({ type: 0, body: [0x20, 0, 0x20, 1, op] })),
    ...CMP_OPS.map((op) => ({ type: 1, body: [0x20, 0, 0x20, 1, op, 0xad] })), // i32 result extended back to i64
    ...UN_OPS.map((op) => ({ type: 2, body: [0x20, 0, op, ...(op === 0x50 || op === 0xa7 ? [0xad] : [])] })),
  ]
  return buildModule({
    types: [{ params: [T.i64, T.i64], results: [T.i64] }, { params: [T.i64, T.i64], results: [T.i64] }, { params: [T.i64], results: [T.i64] }],
    funcs,
    exports: funcs.map((_, i) => ({ name: `f${i}`, kind: 'func' as const, index: i })),
  })
}

function vmCall(m: Machine, name: string, args: bigint[]): { value?: bigint; trap?: string } {
  m.invoke(m.exportedFunction(name), args.map(split))
  run(m, 1e7)
  if (m.status === Status.Errored) return { trap: m.trapReason }
  return { value: m.results().length ? join(m.results()[0]!) : undefined }
}

describe('vm unit', () => {
  describe('i64 arithmetic on 32-bit halves', () => {
    it('mul/div/rem helpers match BigInt on edge values', () => {
      const S = (x: bigint) => BigInt.asIntN(64, x)
      for (const a of EDGE) for (const b of EDGE) {
        const A = split(a), B = split(b)
        expect(join(toSlot(i64ops.mul(A.lo, A.hi, B.lo, B.hi))), `${a} * ${b}`).to.equal(BigInt.asUintN(64, a * b))
        for (const op of [0x7f, 0x80, 0x81, 0x82]) {
          const r = i64ops.divRem(op, A.lo, A.hi, B.lo, B.hi)
          let want: bigint | string
          if (b === 0n) want = 'integer divide by zero'
          else if (op === 0x7f) want = S(a) === -(2n ** 63n) && S(b) === -1n ? 'integer overflow' : BigInt.asUintN(64, S(a) / S(b))
          else if (op === 0x80) want = a / b
          else if (op === 0x81) want = BigInt.asUintN(64, S(a) % S(b))
          else want = a % b
          expect(typeof r === 'string' ? r : join(toSlot(r)), `op 0x${op.toString(16)} ${a} ${b}`).to.equal(want)
        }
      }
    })

    it('every i64 instruction matches Node\'s WebAssembly on edge values', () => {
      const wasm = arithModule()
      const m = new Machine(loadProgram(wasm, SPECTEST_IMPORTS), { hosts: [] })
      const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(wasm)))
      const ex = instance.exports as Record<string, (...a: bigint[]) => bigint>
      let checked = 0
      const nBinary = BIN_OPS.length + CMP_OPS.length
      for (let f = 0; f < nBinary + UN_OPS.length; f++) {
        const name = `f${f}`
        const pairs: bigint[][] = f < nBinary ? EDGE.flatMap((a) => EDGE.map((b) => [a, b])) : EDGE.map((a) => [a])
        for (const args of pairs) {
          let want: { value?: bigint; trap?: string }
          try {
            want = { value: BigInt.asUintN(64, ex[name]!(...args.map((x) => BigInt.asIntN(64, x)))) }
          } catch (e) {
            want = { trap: (e as Error).message.replace(/^.*: /, '') }
          }
          const got = vmCall(m, name, args)
          if (want.trap) expect(got.trap, `${name}(${args})`).to.be.a('string')
          else expect(got.value, `${name}(${args})`).to.equal(want.value)
          checked++
        }
      }
      expect(checked).to.be.greaterThan(40_000)
    })
  })

  describe('traps and limits', () => {
    const mod = buildModule({
      types: [{ params: [T.i32], results: [T.i32] }, { params: [], results: [] }, { params: [T.i32], results: [] }],
      funcs: [
        // 0: div_s(x, 0)
        { type: 0, body: [0x20, 0, 0x41, 0, 0x6d] },
        // 1: infinite recursion
        { type: 1, body: [0x10, 1] },
        // 2: memory.grow(x)
        { type: 0, body: [0x20, 0, 0x40, 0] },
        // 3: recursion with 2000 locals per frame: the value stack runs out before the call depth
        { type: 1, locals: Array(2000).fill(T.i64), body: [0x10, 3] },
        // 4: load at x
        { type: 0, body: [0x20, 0, 0x28, 2, 0] },
        // 5: call_indirect type mismatch (table slot 0 holds function 0: i32→i32, called as []→[])
        { type: 2, body: [0x20, 0, 0x11, 1, 0] },
      ],
      memory: { min: 1 },
      table: { min: 2, elems: [0] },
      exports: ['div', 'runaway', 'grow', 'fat', 'load', 'indirect'].map((name, index) => ({ name, kind: 'func' as const, index })),
    })
    const machine = () => new Machine(loadProgram(mod, SPECTEST_IMPORTS), { hosts: [] })

    it('division by zero, out-of-bounds loads and bad indirect calls trap per spec', () => {
      const m = machine()
      expect(vmCall(m, 'div', [5n]).trap).to.equal('integer divide by zero')
      expect(vmCall(m, 'load', [65532n]).value).to.equal(0n)
      expect(vmCall(m, 'load', [65533n]).trap).to.equal('out of bounds memory access')
      expect(vmCall(m, 'indirect', [0n]).trap).to.equal('indirect call type mismatch')
      expect(vmCall(m, 'indirect', [1n]).trap).to.equal('uninitialized element')
      expect(vmCall(m, 'indirect', [2n]).trap).to.equal('undefined element')
    })

    it(`call depth is limited to ${LIMITS.callDepth} frames and value-stack slots to ${LIMITS.stackSlots}: deterministic traps`, () => {
      const m = machine()
      expect(vmCall(m, 'runaway', []).trap).to.equal('call stack exhausted')
      expect(m.frames).to.equal(LIMITS.callDepth)
      const r = vmCall(m, 'fat', [])
      expect(r.trap).to.match(/value stack limit/)
      expect(m.frames).to.be.lessThan(LIMITS.callDepth)
      // the frame that trapped is the first whose 2000 locals would not fit
      expect(m.fp + 2000).to.be.greaterThan(LIMITS.stackSlots)
      expect(m.fp).to.be.lessThanOrEqual(LIMITS.stackSlots)
    })

    it(`memory.grow returns -1 past ${LIMITS.memoryPages} pages and the module maximum`, () => {
      const m = machine()
      expect(vmCall(m, 'grow', [BigInt(LIMITS.memoryPages)]).value).to.equal(0xffffffffn)
      expect(vmCall(m, 'grow', [3n]).value).to.equal(1n)
      expect(m.memory.pages).to.equal(4)
      expect(vmCall(m, 'grow', [0xffffffffn]).value).to.equal(0xffffffffn)
      const capped = buildModule({ types: [{ params: [T.i32], results: [T.i32] }], funcs: [{ type: 0, body: [0x20, 0, 0x40, 0] }], memory: { min: 1, max: 2 }, exports: [{ name: 'grow', kind: 'func', index: 0 }] })
      const c = new Machine(loadProgram(capped, SPECTEST_IMPORTS), { hosts: [] })
      expect(vmCall(c, 'grow', [2n]).value).to.equal(0xffffffffn)
      expect(vmCall(c, 'grow', [1n]).value).to.equal(1n)
    })

    it('a trap is terminal: stepping an errored machine changes nothing, its hash is stable', () => {
      const m = machine()
      vmCall(m, 'div', [1n])
      expect(m.status).to.equal(Status.Errored)
      const h = machineHash(m)
      const steps = m.steps
      expect(step(m)).to.equal(false)
      expect(m.steps).to.equal(steps)
      expect(machineHash(m)).to.equal(h)
    })
  })

  describe('load-time rejections', () => {
    it('rejects float instructions naming the function and instruction', () => {
      const f = buildModule({ types: [{ params: [T.i32], results: [T.i32] }], funcs: [{ type: 0, body: [0x20, 0, 0xb7, 0xaa] }] })
      // f64.convert_i32_s then i32.trunc_f64_s: the type section is integer-only, the body is not
      expect(() => loadProgram(f, ENGINE_IMPORTS)).to.throw(VmLoadError, /function 0: instruction f64\.convert_i32_s \(0xb7\) uses floats/)
      try { loadProgram(f, ENGINE_IMPORTS) } catch (e) { expect((e as VmLoadError).kind).to.equal('float') }
      const sig = buildModule({ types: [{ params: [T.f32], results: [] }], funcs: [{ type: 0, body: [] }] })
      expect(() => loadProgram(sig, ENGINE_IMPORTS)).to.throw(VmLoadError, /type 0: type f32/)
      const simd = buildModule({ types: [{ params: [], results: [] }], funcs: [{ type: 0, body: [0xfd, 0x0c, ...Array(16).fill(0), 0x1a] }] })
      expect(() => loadProgram(simd, ENGINE_IMPORTS)).to.throw(VmLoadError, /SIMD/)
      const bulk = buildModule({ types: [{ params: [], results: [] }], funcs: [{ type: 0, body: [0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x0b, 0] }], memory: { min: 1 } })
      expect(() => loadProgram(bulk, ENGINE_IMPORTS)).to.throw(VmLoadError, /bulk memory/)
      const atomic = buildModule({ types: [{ params: [], results: [] }], funcs: [{ type: 0, body: [0xfe, 0x03, 0] }] })
      expect(() => loadProgram(atomic, ENGINE_IMPORTS)).to.throw(VmLoadError, /atomic/)
    })

    it('reads memarg offsets as u64 (memory64 binary format): ≥ 2^32 is invalid "offset out of range", > 10 bytes malformed', () => {
      // i32.load offset=OFF (i32.const 0), dropped; OFF as raw LEB bytes
      const load = (off: number[]) => buildModule({ types: [{ params: [], results: [] }], funcs: [{ type: 0, body: [0x41, 0, 0x28, 2, ...off, 0x1a] }], memory: { min: 1 } })
      const kind = (bytes: Uint8Array) => { try { loadProgram(bytes, ENGINE_IMPORTS); return 'ok' } catch (e) { return `${(e as VmLoadError).kind}: ${(e as Error).message}` } }
      expect(kind(load([0xff, 0xff, 0xff, 0xff, 0x0f]))).to.equal('ok') // 2^32 - 1
      expect(kind(load([0xff, 0xff, 0xff, 0xff, 0x8f, 0x80, 0x80, 0x80, 0x80, 0x00]))).to.equal('ok') // same, padded to 10 bytes
      expect(kind(load([0x80, 0x80, 0x80, 0x80, 0x10]))).to.match(/^invalid: .*offset out of range/) // 2^32
      expect(kind(load([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).to.match(/^invalid: .*offset out of range/) // 2^64 - 1
      expect(kind(load([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]))).to.match(/^malformed: integer too large/)
      expect(kind(load([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))).to.match(/^malformed: integer representation too long/)
    })

    it('rejects imports not on the host list, naming them, and host imports with the wrong signature', () => {
      const unknown = buildModule({ types: [{ params: [T.i32], results: [T.i32] }], imports: [{ module: 'veridex', name: 'sha256', type: 0 }] })
      expect(() => loadProgram(unknown, ENGINE_IMPORTS)).to.throw(VmLoadError, /import veridex\.sha256: not a host function/)
      const spectest = buildModule({ types: [{ params: [T.i32], results: [] }], imports: [{ module: 'spectest', name: 'print_i32', type: 0 }] })
      expect(() => loadProgram(spectest, ENGINE_IMPORTS)).to.throw(VmLoadError, /spectest\.print_i32/)
      const badSig = buildModule({ types: [{ params: [T.i32, T.i32], results: [T.i32] }], imports: [{ module: 'veridex', name: 'inbox_read', type: 0 }] })
      expect(() => loadProgram(badSig, ENGINE_IMPORTS)).to.throw(VmLoadError, /inbox_read: signature \(i32,i32\)->\(i32\) does not match the host's \(i32,i32,i32\)->\(i32\)/)
    })
  })

  describe('machine', () => {
    it('a quiescent machine with no next batch steps to itself', () => {
      const mod = buildModule({
        types: [{ params: [], results: [] }],
        funcs: [{ type: 0, body: [0x41, ...sleb(65536), 0x41, 7, 0x36, 2, 0] }],
        memory: { min: 2 },
        globals: [{ type: T.i32, mutable: false, init: [0x41, ...sleb(65536)] }],
        exports: [{ name: 'run_batch', kind: 'func', index: 0 }, { name: 'OUTBOX_ROOT_PTR', kind: 'global', index: 0 }],
      })
      const p = loadProgram(mod, ENGINE_IMPORTS)
      const msgs = [new Uint8Array(16)]
      const m = new Machine(p, { hosts: ENGINE_HOSTS, entry: 0, context: { message: (i) => msgs[Number(i)], delayed: () => new Uint8Array(0) } })
      const h0 = machineHash(m)
      expect(run(m, 100)).to.equal(6) // enter, ENTER, const, const, store, return
      expect(m.status).to.equal(Status.Ready)
      expect(m.inboxPosition).to.equal(1n)
      const h1 = machineHash(m)
      expect(h1).to.not.equal(h0)
      expect(run(m, 100)).to.equal(0)
      expect(machineHash(m)).to.equal(h1)
    })
  })
})

function toSlot([lo, hi]: [number, number]) {
  return { lo, hi }
}
