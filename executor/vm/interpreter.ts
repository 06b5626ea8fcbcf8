/**
 * The interpreter loop: executes lowered instructions one step at a time.
 *
 * Speed matters (the dispute path re-executes whole batches): registers live in locals, the
 * switch is over small integer opcodes read from typed arrays, nothing is allocated per step,
 * and i64 values are two int32 halves (no BigInt). Rare 64-bit operations (mul, div, rem) are
 * helpers outside the loop to keep the loop function small enough for V8 to optimize.
 *
 * Arithmetic is integer-only. JS numbers hold 32-bit integers (`|0`, `>>>0`); the only division
 * on numbers is the 32-bit one, where IEEE division of two integers below 2^32 followed by
 * truncation is exact (the quotient is never within 2^-32 of the next integer).
 */
import { LIMITS } from './program.js'
import { Machine, Status } from './machine.js'

// 64-bit helpers write their result into (R_LO, R_HI).
let R_LO = 0
let R_HI = 0

function mul64(al: number, ah: number, bl: number, bh: number): void {
  const a48 = ah >>> 16, a32 = ah & 0xffff, a16 = al >>> 16, a00 = al & 0xffff
  const b48 = bh >>> 16, b32 = bh & 0xffff, b16 = bl >>> 16, b00 = bl & 0xffff
  let c00 = a00 * b00
  let c16 = c00 >>> 16
  c00 &= 0xffff
  c16 += a16 * b00
  let c32 = c16 >>> 16
  c16 &= 0xffff
  c16 += a00 * b16
  c32 += c16 >>> 16
  c16 &= 0xffff
  c32 += a32 * b00
  let c48 = c32 >>> 16
  c32 &= 0xffff
  c32 += a16 * b16
  c48 += c32 >>> 16
  c32 &= 0xffff
  c32 += a00 * b32
  c48 += c32 >>> 16
  c32 &= 0xffff
  c48 += Math.imul(a48, b00) + Math.imul(a32, b16) + Math.imul(a16, b32) + Math.imul(a00, b48)
  c48 &= 0xffff
  R_LO = (c16 << 16) | c00
  R_HI = (c48 << 16) | c32
}

let Q_LO = 0, Q_HI = 0
/** Unsigned 64-bit divmod: quotient in (Q_LO, Q_HI), remainder in (R_LO, R_HI). d ≠ 0. */
function divmodU64(nl: number, nh: number, dl: number, dh: number): void {
  if (nh === 0 && dh === 0) {
    const n = nl >>> 0, d = dl >>> 0
    Q_LO = (n / d) >>> 0 // exact: see the file comment
    Q_HI = 0
    R_LO = (n % d) | 0
    R_HI = 0
    return
  }
  // shift-subtract long division over the significant bits of n
  let ql = 0, qh = 0, rl = 0, rh = 0
  const top = nh !== 0 ? 63 - Math.clz32(nh) : 31 - Math.clz32(nl)
  const dhu = dh >>> 0, dlu = dl >>> 0
  for (let i = top; i >= 0; i--) {
    // r = r << 1 | bit i of n
    rh = (rh << 1) | (rl >>> 31)
    const bit = i >= 32 ? (nh >>> (i - 32)) & 1 : (nl >>> i) & 1
    rl = (rl << 1) | bit
    // r >= d ?
    const rhu = rh >>> 0, rlu = rl >>> 0
    if (rhu > dhu || (rhu === dhu && rlu >= dlu)) {
      const lo = rlu - dlu
      rh = (rhu - dhu - (lo < 0 ? 1 : 0)) | 0
      rl = lo | 0
      if (i >= 32) qh |= 1 << (i - 32)
      else ql |= 1 << i
    }
  }
  Q_LO = ql | 0
  Q_HI = qh | 0
  R_LO = rl
  R_HI = rh
}

/** Signed/unsigned 64-bit div/rem of op (0x7f div_s, 0x80 div_u, 0x81 rem_s, 0x82 rem_u): result in (R_LO, R_HI), or a trap reason. */
function divRem64(op: number, al: number, ah: number, bl: number, bh: number): string | undefined {
  if (bl === 0 && bh === 0) return 'integer divide by zero'
  if (op === 0x80 || op === 0x82) {
    divmodU64(al, ah, bl, bh)
    if (op === 0x80) { R_LO = Q_LO; R_HI = Q_HI }
    return undefined
  }
  if (op === 0x7f && ah === -0x80000000 && al === 0 && bl === -1 && bh === -1) return 'integer overflow'
  const an = ah < 0, bn = bh < 0
  let nl = al, nh = ah, dl = bl, dh = bh
  if (an) { nl = -al | 0; nh = (~ah + (al === 0 ? 1 : 0)) | 0 }
  if (bn) { dl = -bl | 0; dh = (~bh + (bl === 0 ? 1 : 0)) | 0 }
  divmodU64(nl, nh, dl, dh)
  if (op === 0x7f) {
    R_LO = Q_LO; R_HI = Q_HI
    if (an !== bn) { const l = R_LO; R_LO = -l | 0; R_HI = (~R_HI + (l === 0 ? 1 : 0)) | 0 }
  } else if (an) {
    const l = R_LO
    R_LO = -l | 0
    R_HI = (~R_HI + (l === 0 ? 1 : 0)) | 0
  }
  return undefined
}

function popcnt32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  x = (x + (x >>> 4)) & 0x0f0f0f0f
  return Math.imul(x, 0x01010101) >>> 24
}
const ctz32 = (x: number) => (x === 0 ? 32 : 31 - Math.clz32(x & -x))

/** Exposed for tests: exact 64-bit operations on int32 halves. */
export const i64ops = {
  mul(al: number, ah: number, bl: number, bh: number): [number, number] { mul64(al, ah, bl, bh); return [R_LO, R_HI] },
  divRem(op: number, al: number, ah: number, bl: number, bh: number): [number, number] | string {
    const t = divRem64(op, al, ah, bl, bh)
    return t ?? [R_LO, R_HI]
  },
}

/**
 * Runs up to `maxSteps` steps; returns how many were taken. Stops early when the machine
 * finishes, traps, or becomes Ready with no further batch in its context.
 */
export function run(m: Machine, maxSteps: number, stopAtBoundary = false): number {
  let done = 0
  while (done < maxSteps) {
    if (m.status === Status.Ready) {
      if (stopAtBoundary && done > 0) break
      if (!enterBatch(m)) break
      done++
      m.steps++
      continue
    }
    if (m.status !== Status.Running) break
    const n = runRunning(m, maxSteps - done)
    done += n
    m.steps += n
  }
  return done
}

/** The step out of Ready: call the entry function if the inbox has the next batch. */
function enterBatch(m: Machine): boolean {
  if (m.context.message(m.inboxPosition) === undefined) return false
  m.sp = 0
  m.frames = 1
  m.frRet[0] = -1
  m.frFp[0] = 0
  m.frFunc[0] = -1
  m.fp = 0
  m.func = m.entry
  m.pc = m.program.funcStart[m.entry]!
  m.status = Status.Running
  return true
}

/** Runs a Running machine for at most `max` steps. */
function runRunning(m: Machine, max: number): number {
  const p = m.program
  const OP = p.op, A = p.a, B = p.b
  const L = m.lo, H = m.hi, G = m.globals
  const frRet = m.frRet, frFp = m.frFp, frFunc = m.frFunc
  const funcStart = p.funcStart
  const STACK = LIMITS.stackSlots
  const DEPTH = LIMITS.callDepth
  let pc = m.pc, sp = m.sp, fp = m.fp, func = m.func, frames = m.frames
  let base = funcStart[func]!
  let mem = m.memory.u8, dv = m.memory.dv, memLen = mem.length
  let trap: string | undefined
  let steps = 0
  let ea = 0, x = 0, y = 0, k = 0
  loop: while (steps < max) {
    steps++
    switch (OP[pc]) {
      case 0x00: trap = 'unreachable'; break loop
      case 0x0c: { // BR
        const keep = B[pc]! >>> 16, drop = B[pc]! & 0xffff
        for (let i = sp - keep; i < sp; i++) { L[i - drop] = L[i]!; H[i - drop] = H[i]! }
        sp -= drop
        pc = base + A[pc]!
        break
      }
      case 0x0d: { // BR_IF
        if (L[--sp] === 0) { pc++; break }
        const keep = B[pc]! >>> 16, drop = B[pc]! & 0xffff
        for (let i = sp - keep; i < sp; i++) { L[i - drop] = L[i]!; H[i - drop] = H[i]! }
        sp -= drop
        pc = base + A[pc]!
        break
      }
      case 0x0e: // BR_TABLE
        x = L[--sp]! >>> 0
        k = A[pc]!
        pc += 1 + (x < k ? x : k)
        break
      case 0x0f: { // RETURN
        const n = A[pc]!
        for (let i = 0; i < n; i++) { L[fp + i] = L[sp - n + i]!; H[fp + i] = H[sp - n + i]! }
        sp = fp + n
        frames--
        if (frames === 0) {
          m.frames = 0
          m.sp = sp
          m.fp = 0
          m.pc = 0
          m.func = -1
          if (m.entry >= 0 && func === m.entry) {
            m.status = Status.Ready
            m.inboxPosition += 1n
          } else m.status = Status.Finished
          return steps
        }
        pc = frRet[frames]!
        fp = frFp[frames]!
        func = frFunc[frames]!
        base = funcStart[func]!
        break
      }
      case 0x10: // CALL
        k = A[pc]!
        if (frames >= DEPTH) { trap = 'call stack exhausted'; break loop }
        frRet[frames] = pc + 1
        frFp[frames] = fp
        frFunc[frames] = func
        frames++
        fp = sp - p.funcParams[k]!
        func = k
        pc = base = funcStart[k]!
        break
      case 0x11: { // CALL_INDIRECT
        x = L[--sp]! >>> 0
        if (x >= p.table.length) { trap = 'undefined element'; break loop }
        k = p.table[x]!
        if (k < 0) { trap = 'uninitialized element'; break loop }
        if (p.funcSig[k] !== A[pc]) { trap = 'indirect call type mismatch'; break loop }
        const h = p.funcHost[k]!
        if (h >= 0) {
          m.sp = sp
          trap = m.hosts[h]!(m)
          if (trap) break loop
          sp = m.sp
          mem = m.memory.u8; dv = m.memory.dv; memLen = mem.length
          pc++
          break
        }
        if (frames >= DEPTH) { trap = 'call stack exhausted'; break loop }
        frRet[frames] = pc + 1
        frFp[frames] = fp
        frFunc[frames] = func
        frames++
        fp = sp - p.funcParams[k]!
        func = k
        pc = base = funcStart[k]!
        break
      }
      case 0x1a: sp--; pc++; break // DROP
      case 0x1b: // SELECT
        sp -= 2
        if (L[sp + 1] === 0) { L[sp - 1] = L[sp]!; H[sp - 1] = H[sp]! }
        pc++
        break
      case 0x20: k = fp + A[pc]!; L[sp] = L[k]!; H[sp] = H[k]!; sp++; pc++; break
      case 0x21: k = fp + A[pc]!; sp--; L[k] = L[sp]!; H[k] = H[sp]!; pc++; break
      case 0x22: k = fp + A[pc]!; L[k] = L[sp - 1]!; H[k] = H[sp - 1]!; pc++; break
      case 0x23: k = A[pc]! << 1; L[sp] = G[k]!; H[sp] = G[k + 1]!; sp++; pc++; break
      case 0x24: k = A[pc]! << 1; sp--; G[k] = L[sp]!; G[k + 1] = H[sp]!; pc++; break
      // loads: the address slot is an i32 (hi = 0); i32 results keep hi = 0
      case 0x28: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 4 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getInt32(ea, true); pc++; break
      case 0x29: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 8 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getInt32(ea, true); H[sp - 1] = dv.getInt32(ea + 4, true); pc++; break
      case 0x2c: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 1 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = (mem[ea]! << 24) >> 24; pc++; break
      case 0x2d: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 1 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = mem[ea]!; pc++; break
      case 0x2e: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 2 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getInt16(ea, true); pc++; break
      case 0x2f: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 2 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getUint16(ea, true); pc++; break
      case 0x30: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 1 > memLen) { trap = 'out of bounds memory access'; break loop } x = (mem[ea]! << 24) >> 24; L[sp - 1] = x; H[sp - 1] = x >> 31; pc++; break
      case 0x31: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 1 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = mem[ea]!; H[sp - 1] = 0; pc++; break
      case 0x32: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 2 > memLen) { trap = 'out of bounds memory access'; break loop } x = dv.getInt16(ea, true); L[sp - 1] = x; H[sp - 1] = x >> 31; pc++; break
      case 0x33: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 2 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getUint16(ea, true); H[sp - 1] = 0; pc++; break
      case 0x34: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 4 > memLen) { trap = 'out of bounds memory access'; break loop } x = dv.getInt32(ea, true); L[sp - 1] = x; H[sp - 1] = x >> 31; pc++; break
      case 0x35: ea = (L[sp - 1]! >>> 0) + (A[pc]! >>> 0); if (ea + 4 > memLen) { trap = 'out of bounds memory access'; break loop } L[sp - 1] = dv.getInt32(ea, true); H[sp - 1] = 0; pc++; break
      // stores: value at sp-1, address at sp-2
      case 0x36: ea = (L[sp - 2]! >>> 0) + (A[pc]! >>> 0); if (ea + 4 > memLen) { trap = 'out of bounds memory access'; break loop } dv.setInt32(ea, L[sp - 1]!, true); sp -= 2; pc++; break
      case 0x37: ea = (L[sp - 2]! >>> 0) + (A[pc]! >>> 0); if (ea + 8 > memLen) { trap = 'out of bounds memory access'; break loop } dv.setInt32(ea, L[sp - 1]!, true); dv.setInt32(ea + 4, H[sp - 1]!, true); sp -= 2; pc++; break
      case 0x3a: case 0x3c: ea = (L[sp - 2]! >>> 0) + (A[pc]! >>> 0); if (ea + 1 > memLen) { trap = 'out of bounds memory access'; break loop } mem[ea] = L[sp - 1]!; sp -= 2; pc++; break
      case 0x3b: case 0x3d: ea = (L[sp - 2]! >>> 0) + (A[pc]! >>> 0); if (ea + 2 > memLen) { trap = 'out of bounds memory access'; break loop } dv.setInt16(ea, L[sp - 1]!, true); sp -= 2; pc++; break
      case 0x3e: ea = (L[sp - 2]! >>> 0) + (A[pc]! >>> 0); if (ea + 4 > memLen) { trap = 'out of bounds memory access'; break loop } dv.setInt32(ea, L[sp - 1]!, true); sp -= 2; pc++; break
      case 0x3f: L[sp] = memLen >>> 16; H[sp] = 0; sp++; pc++; break
      case 0x40:
        L[sp - 1] = m.memory.grow(L[sp - 1]! >>> 0)
        mem = m.memory.u8; dv = m.memory.dv; memLen = mem.length
        pc++
        break
      case 0x41: L[sp] = A[pc]!; H[sp] = 0; sp++; pc++; break
      case 0x42: L[sp] = A[pc]!; H[sp] = B[pc]!; sp++; pc++; break
      // i32 tests and comparisons (operands are i32: hi already 0)
      case 0x45: L[sp - 1] = L[sp - 1] === 0 ? 1 : 0; pc++; break
      case 0x46: sp--; L[sp - 1] = L[sp - 1] === L[sp] ? 1 : 0; pc++; break
      case 0x47: sp--; L[sp - 1] = L[sp - 1] !== L[sp] ? 1 : 0; pc++; break
      case 0x48: sp--; L[sp - 1] = L[sp - 1]! < L[sp]! ? 1 : 0; pc++; break
      case 0x49: sp--; L[sp - 1] = L[sp - 1]! >>> 0 < L[sp]! >>> 0 ? 1 : 0; pc++; break
      case 0x4a: sp--; L[sp - 1] = L[sp - 1]! > L[sp]! ? 1 : 0; pc++; break
      case 0x4b: sp--; L[sp - 1] = L[sp - 1]! >>> 0 > L[sp]! >>> 0 ? 1 : 0; pc++; break
      case 0x4c: sp--; L[sp - 1] = L[sp - 1]! <= L[sp]! ? 1 : 0; pc++; break
      case 0x4d: sp--; L[sp - 1] = L[sp - 1]! >>> 0 <= L[sp]! >>> 0 ? 1 : 0; pc++; break
      case 0x4e: sp--; L[sp - 1] = L[sp - 1]! >= L[sp]! ? 1 : 0; pc++; break
      case 0x4f: sp--; L[sp - 1] = L[sp - 1]! >>> 0 >= L[sp]! >>> 0 ? 1 : 0; pc++; break
      // i64 tests and comparisons (result is i32: hi = 0)
      case 0x50: L[sp - 1] = (L[sp - 1]! | H[sp - 1]!) === 0 ? 1 : 0; H[sp - 1] = 0; pc++; break
      case 0x51: sp--; L[sp - 1] = L[sp - 1] === L[sp] && H[sp - 1] === H[sp] ? 1 : 0; H[sp - 1] = 0; pc++; break
      case 0x52: sp--; L[sp - 1] = L[sp - 1] !== L[sp] || H[sp - 1] !== H[sp] ? 1 : 0; H[sp - 1] = 0; pc++; break
      case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: case 0x58: case 0x59: case 0x5a: {
        sp--
        const ah = H[sp - 1]!, bh = H[sp]!, al = L[sp - 1]! >>> 0, bl = L[sp]! >>> 0
        const op = OP[pc]!
        // c = sign of (a - b): -1, 0, 1 under the signed or unsigned order
        let c: number
        if (ah !== bh) c = (op & 1 ? ah < bh : ah >>> 0 < bh >>> 0) ? -1 : 1
        else c = al < bl ? -1 : al > bl ? 1 : 0
        // 0x53 lt_s 0x54 lt_u 0x55 gt_s 0x56 gt_u 0x57 le_s 0x58 le_u 0x59 ge_s 0x5a ge_u
        const r = op <= 0x54 ? c < 0 : op <= 0x56 ? c > 0 : op <= 0x58 ? c <= 0 : c >= 0
        L[sp - 1] = r ? 1 : 0
        H[sp - 1] = 0
        pc++
        break
      }
      // i32 arithmetic
      case 0x67: L[sp - 1] = Math.clz32(L[sp - 1]!); pc++; break
      case 0x68: L[sp - 1] = ctz32(L[sp - 1]!); pc++; break
      case 0x69: L[sp - 1] = popcnt32(L[sp - 1]!); pc++; break
      case 0x6a: sp--; L[sp - 1] = (L[sp - 1]! + L[sp]!) | 0; pc++; break
      case 0x6b: sp--; L[sp - 1] = (L[sp - 1]! - L[sp]!) | 0; pc++; break
      case 0x6c: sp--; L[sp - 1] = Math.imul(L[sp - 1]!, L[sp]!); pc++; break
      case 0x6d: // div_s
        sp--; x = L[sp - 1]!; y = L[sp]!
        if (y === 0) { trap = 'integer divide by zero'; break loop }
        if (x === -0x80000000 && y === -1) { trap = 'integer overflow'; break loop }
        L[sp - 1] = (x / y) | 0; pc++; break
      case 0x6e: // div_u
        sp--; x = L[sp - 1]! >>> 0; y = L[sp]! >>> 0
        if (y === 0) { trap = 'integer divide by zero'; break loop }
        L[sp - 1] = (x / y) >>> 0; pc++; break
      case 0x6f: // rem_s (INT_MIN % -1 = 0)
        sp--; x = L[sp - 1]!; y = L[sp]!
        if (y === 0) { trap = 'integer divide by zero'; break loop }
        L[sp - 1] = (x % y) | 0; pc++; break
      case 0x70: // rem_u
        sp--; x = L[sp - 1]! >>> 0; y = L[sp]! >>> 0
        if (y === 0) { trap = 'integer divide by zero'; break loop }
        L[sp - 1] = (x % y) | 0; pc++; break
      case 0x71: sp--; L[sp - 1] = L[sp - 1]! & L[sp]!; pc++; break
      case 0x72: sp--; L[sp - 1] = L[sp - 1]! | L[sp]!; pc++; break
      case 0x73: sp--; L[sp - 1] = L[sp - 1]! ^ L[sp]!; pc++; break
      case 0x74: sp--; L[sp - 1] = L[sp - 1]! << L[sp]!; pc++; break
      case 0x75: sp--; L[sp - 1] = L[sp - 1]! >> L[sp]!; pc++; break
      case 0x76: sp--; L[sp - 1] = (L[sp - 1]! >>> L[sp]!) | 0; pc++; break
      case 0x77: sp--; x = L[sp - 1]!; k = L[sp]! & 31; L[sp - 1] = (x << k) | (x >>> (32 - k)); pc++; break
      case 0x78: sp--; x = L[sp - 1]!; k = L[sp]! & 31; L[sp - 1] = (x >>> k) | (x << (32 - k)); pc++; break
      // i64 arithmetic
      case 0x79: x = H[sp - 1]!; L[sp - 1] = x !== 0 ? Math.clz32(x) : 32 + Math.clz32(L[sp - 1]!); H[sp - 1] = 0; pc++; break
      case 0x7a: x = L[sp - 1]!; L[sp - 1] = x !== 0 ? ctz32(x) : 32 + ctz32(H[sp - 1]!); H[sp - 1] = 0; pc++; break
      case 0x7b: L[sp - 1] = popcnt32(L[sp - 1]!) + popcnt32(H[sp - 1]!); H[sp - 1] = 0; pc++; break
      case 0x7c: { // add
        sp--
        const lo = (L[sp - 1]! >>> 0) + (L[sp]! >>> 0)
        H[sp - 1] = (H[sp - 1]! + H[sp]! + (lo > 0xffffffff ? 1 : 0)) | 0
        L[sp - 1] = lo | 0
        pc++
        break
      }
      case 0x7d: { // sub
        sp--
        const lo = (L[sp - 1]! >>> 0) - (L[sp]! >>> 0)
        H[sp - 1] = (H[sp - 1]! - H[sp]! - (lo < 0 ? 1 : 0)) | 0
        L[sp - 1] = lo | 0
        pc++
        break
      }
      case 0x7e: sp--; mul64(L[sp - 1]!, H[sp - 1]!, L[sp]!, H[sp]!); L[sp - 1] = R_LO; H[sp - 1] = R_HI; pc++; break
      case 0x7f: case 0x80: case 0x81: case 0x82:
        sp--
        trap = divRem64(OP[pc]!, L[sp - 1]!, H[sp - 1]!, L[sp]!, H[sp]!)
        if (trap) break loop
        L[sp - 1] = R_LO; H[sp - 1] = R_HI; pc++
        break
      case 0x83: sp--; L[sp - 1] = L[sp - 1]! & L[sp]!; H[sp - 1] = H[sp - 1]! & H[sp]!; pc++; break
      case 0x84: sp--; L[sp - 1] = L[sp - 1]! | L[sp]!; H[sp - 1] = H[sp - 1]! | H[sp]!; pc++; break
      case 0x85: sp--; L[sp - 1] = L[sp - 1]! ^ L[sp]!; H[sp - 1] = H[sp - 1]! ^ H[sp]!; pc++; break
      case 0x86: // shl
        sp--; k = L[sp]! & 63; x = L[sp - 1]!; y = H[sp - 1]!
        if (k >= 32) { H[sp - 1] = x << (k - 32); L[sp - 1] = 0 } else if (k !== 0) { H[sp - 1] = (y << k) | (x >>> (32 - k)); L[sp - 1] = x << k }
        pc++; break
      case 0x87: // shr_s
        sp--; k = L[sp]! & 63; x = L[sp - 1]!; y = H[sp - 1]!
        if (k >= 32) { L[sp - 1] = y >> (k - 32); H[sp - 1] = y >> 31 } else if (k !== 0) { L[sp - 1] = (x >>> k) | (y << (32 - k)); H[sp - 1] = y >> k }
        pc++; break
      case 0x88: // shr_u
        sp--; k = L[sp]! & 63; x = L[sp - 1]!; y = H[sp - 1]!
        if (k >= 32) { L[sp - 1] = y >>> (k - 32); H[sp - 1] = 0 } else if (k !== 0) { L[sp - 1] = (x >>> k) | (y << (32 - k)); H[sp - 1] = y >>> k }
        pc++; break
      case 0x89: case 0x8a: // rotl, rotr (rotr k = rotl 64-k)
        sp--; k = L[sp]! & 63; if (OP[pc] === 0x8a) k = (64 - k) & 63
        x = L[sp - 1]!; y = H[sp - 1]!
        if (k >= 32) { const t = x; x = y; y = t; k -= 32 }
        if (k !== 0) { L[sp - 1] = (x << k) | (y >>> (32 - k)); H[sp - 1] = (y << k) | (x >>> (32 - k)) } else { L[sp - 1] = x; H[sp - 1] = y }
        pc++; break
      case 0xa7: H[sp - 1] = 0; pc++; break // i32.wrap_i64
      case 0xac: H[sp - 1] = L[sp - 1]! >> 31; pc++; break // i64.extend_i32_s
      case 0xad: H[sp - 1] = 0; pc++; break // i64.extend_i32_u
      case 0xc0: L[sp - 1] = (L[sp - 1]! << 24) >> 24; pc++; break
      case 0xc1: L[sp - 1] = (L[sp - 1]! << 16) >> 16; pc++; break
      case 0xc2: x = (L[sp - 1]! << 24) >> 24; L[sp - 1] = x; H[sp - 1] = x >> 31; pc++; break
      case 0xc3: x = (L[sp - 1]! << 16) >> 16; L[sp - 1] = x; H[sp - 1] = x >> 31; pc++; break
      case 0xc4: H[sp - 1] = L[sp - 1]! >> 31; pc++; break
      // internal control flow
      case 0xe0: pc = L[--sp] === 0 ? base + A[pc]! : pc + 1; break // JUMP_IF_ZERO
      case 0xe1: pc = base + A[pc]!; break // JUMP
      case 0xe4: pc = L[--sp] !== 0 ? base + A[pc]! : pc + 1; break // JUMP_IF
      case 0xe2: // CALL_HOST
        m.sp = sp
        trap = m.hosts[B[pc]!]!(m)
        if (trap) break loop
        sp = m.sp
        mem = m.memory.u8; dv = m.memory.dv; memLen = mem.length
        pc++
        break
      case 0xe3: // ENTER: check the frame fits, then zero the declared locals
        if (fp + B[pc]! > STACK) { trap = 'call stack exhausted (value stack limit)'; break loop }
        for (k = A[pc]!; k > 0; k--) { L[sp] = 0; H[sp] = 0; sp++ }
        pc++
        break
      default:
        throw new Error(`internal: unknown lowered opcode 0x${OP[pc]!.toString(16)} at pc ${pc}`)
    }
  }
  m.pc = pc
  m.sp = sp
  m.fp = fp
  m.func = func
  m.frames = frames
  if (trap !== undefined) {
    m.status = Status.Errored
    m.trapReason = trap
  }
  return steps
}

/** One step (the unit the dispute game bisects). */
export function step(m: Machine): boolean {
  return run(m, 1) === 1
}
