/**
 * The lowered instruction set (docs/vm.md). Integer instructions keep their WebAssembly opcode;
 * structured control flow is replaced by the internal opcodes 0xe0.. with absolute targets.
 * Every opcode is below 0x100 so the interpreter's switch compiles to a jump table.
 *
 * Encoding of one instruction (10 bytes, big-endian): op u16 ‖ a u32 ‖ b u32.
 */
export const Op = {
  UNREACHABLE: 0x00,
  /** a = target offset, b = keep << 16 | drop: keep the top `keep` values, drop `drop` below them, jump. */
  BR: 0x0c,
  /** pops an i32; if non-zero, as BR. */
  BR_IF: 0x0d,
  /** a = n; pops an i32 index i and jumps to pc + 1 + min(i, n) (n + 1 branch instructions follow). */
  BR_TABLE: 0x0e,
  /** a = result count: moves the top `a` values to the frame base and pops the frame. */
  RETURN: 0x0f,
  /** a = function index (a defined function). */
  CALL: 0x10,
  /** a = canonical signature id expected, b = table index (0). */
  CALL_INDIRECT: 0x11,
  DROP: 0x1a,
  SELECT: 0x1b,
  /** a = local index */
  LOCAL_GET: 0x20,
  LOCAL_SET: 0x21,
  LOCAL_TEE: 0x22,
  /** a = mutable-global slot (immutable globals are lowered to constants) */
  GLOBAL_GET: 0x23,
  GLOBAL_SET: 0x24,
  // loads 0x28.. and stores 0x36..0x3e: a = static offset
  MEMORY_SIZE: 0x3f,
  MEMORY_GROW: 0x40,
  /** a = value */
  I32_CONST: 0x41,
  /** a = low 32 bits, b = high 32 bits */
  I64_CONST: 0x42,
  // 0x45..0x8a integer numeric, 0xa7 wrap, 0xac/0xad extend, 0xc0..0xc4 sign extension
  /** a = target offset; pops an i32 and jumps if it is zero (lowered `if`). */
  JUMP_IF_ZERO: 0xe0,
  /** a = target offset (a branch with nothing to drop, or the end of a then-branch). */
  JUMP: 0xe1,
  /** a = function index of the import, b = host function id. */
  CALL_HOST: 0xe2,
  /** First instruction of every function. a = non-parameter locals to zero, b = stack slots the frame may use (locals + max operand height). */
  ENTER: 0xe3,
  /** a = target offset; pops an i32 and jumps if it is non-zero (a br_if with nothing to drop). */
  JUMP_IF: 0xe4,
} as const

export const INSTRUCTION_BYTES = 10

/** The fixed 10-byte encoding of one lowered instruction: op u16 ‖ a u32 ‖ b u32 (big-endian). */
export function encodeInstruction(op: number, a: number, b: number, out = new Uint8Array(INSTRUCTION_BYTES), at = 0): Uint8Array {
  out[at] = op >>> 8
  out[at + 1] = op & 0xff
  out[at + 2] = a >>> 24
  out[at + 3] = (a >>> 16) & 0xff
  out[at + 4] = (a >>> 8) & 0xff
  out[at + 5] = a & 0xff
  out[at + 6] = b >>> 24
  out[at + 7] = (b >>> 16) & 0xff
  out[at + 8] = (b >>> 8) & 0xff
  out[at + 9] = b & 0xff
  return out
}

const NAMES: Record<number, string> = {
  0x00: 'unreachable', 0x0c: 'br', 0x0d: 'br_if', 0x0e: 'br_table', 0x0f: 'return', 0x10: 'call', 0x11: 'call_indirect',
  0x1a: 'drop', 0x1b: 'select', 0x20: 'local.get', 0x21: 'local.set', 0x22: 'local.tee', 0x23: 'global.get', 0x24: 'global.set',
  0x28: 'i32.load', 0x29: 'i64.load', 0x2c: 'i32.load8_s', 0x2d: 'i32.load8_u', 0x2e: 'i32.load16_s', 0x2f: 'i32.load16_u',
  0x30: 'i64.load8_s', 0x31: 'i64.load8_u', 0x32: 'i64.load16_s', 0x33: 'i64.load16_u', 0x34: 'i64.load32_s', 0x35: 'i64.load32_u',
  0x36: 'i32.store', 0x37: 'i64.store', 0x3a: 'i32.store8', 0x3b: 'i32.store16', 0x3c: 'i64.store8', 0x3d: 'i64.store16', 0x3e: 'i64.store32',
  0x3f: 'memory.size', 0x40: 'memory.grow', 0x41: 'i32.const', 0x42: 'i64.const',
  0xa7: 'i32.wrap_i64', 0xac: 'i64.extend_i32_s', 0xad: 'i64.extend_i32_u',
  0xc0: 'i32.extend8_s', 0xc1: 'i32.extend16_s', 0xc2: 'i64.extend8_s', 0xc3: 'i64.extend16_s', 0xc4: 'i64.extend32_s',
  0xe0: 'jump_if_zero', 0xe1: 'jump', 0xe2: 'call_host', 0xe3: 'enter', 0xe4: 'jump_if',
}
;(() => {
  const cmp = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u']
  NAMES[0x45] = 'i32.eqz'
  cmp.forEach((n, i) => { NAMES[0x46 + i] = `i32.${n}` })
  NAMES[0x50] = 'i64.eqz'
  cmp.forEach((n, i) => { NAMES[0x51 + i] = `i64.${n}` })
  const un = ['clz', 'ctz', 'popcnt']
  const bin = ['add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr']
  un.forEach((n, i) => { NAMES[0x67 + i] = `i32.${n}`; NAMES[0x79 + i] = `i64.${n}` })
  bin.forEach((n, i) => { NAMES[0x6a + i] = `i32.${n}`; NAMES[0x7c + i] = `i64.${n}` })
})()

/** Every opcode the lowering can emit. */
export function allOpcodes(): number[] {
  return Object.keys(NAMES).map(Number).sort((x, y) => x - y)
}

export function opName(op: number): string {
  return NAMES[op] ?? `op 0x${op.toString(16)}`
}
