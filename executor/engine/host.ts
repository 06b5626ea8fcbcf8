/**
 * The native host: runs engine.wasm on Node's WebAssembly engine (the fast path of DESIGN.md)
 * and implements the host functions of docs/protocol.md §8.
 *
 * The host keeps the current batch message. `beginBatch` starts it as `header ‖ 0x00`, each
 * `execItem` appends one item and runs `exec_item` on it, and an item the engine rejects is cut
 * off again, so at `endBatch` the message holds exactly the batch data to post; `runBatch` on
 * that data reproduces the same memory bit for bit (test/engine.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Address, type Hex, bytesToHex, getAddress } from 'viem'
import {
  BATCH_FORMAT_RAW,
  BATCH_HEADER_LEN,
  type BatchHeader,
  ITEM_DELAYED,
  ITEM_LIQUIDATE,
  type ItemResult,
  KECCAK_MAX_LEN,
  RESULT_MAX_LEN,
  ResultCode,
  WITHDRAWAL_LOG_ENTRY_LEN,
  decodeMarketConfig,
  decodeResult,
  encodeBatchHeader,
  itemLength,
} from '../../sdk/protocol.js'
import { ecrecover } from '../vm/ecrecover.js'
import { keccak } from '../vm/keccak.js'
import { loadEngineProgram } from '../vm/engine.js'
import type {
  AccountView, BookLevel, BookView, DelayedSource, Engine, FundingEvent, LedgerView, MarketView, OrderView, PositionView, WithdrawalRecord,
} from './types.js'

/** Path of the built module (executor/engine/build/engine.wasm). */
export function engineWasmPath(): string {
  return fileURLToPath(new URL('./build/engine.wasm', import.meta.url))
}

interface EngineExports {
  memory: WebAssembly.Memory
  init(): void
  begin_batch(): void
  exec_item(offset: number): number
  end_batch(): void
  run_batch(): void
  RESULT_PTR: WebAssembly.Global
  OUTBOX_ROOT_PTR: WebAssembly.Global
  WITHDRAWAL_LOG_PTR: WebAssembly.Global
  SCRATCH_PTR: WebAssembly.Global
  SCRATCH_LEN: WebAssembly.Global
  QUERY_PTR: WebAssembly.Global
  q_nonce(hi: bigint, mid: bigint, lo: number): bigint
  q_account(hi: bigint, mid: bigint, lo: number): number
  q_orders(hi: bigint, mid: bigint, lo: number): number
  q_order(orderId: bigint): number
  q_market(market: number): number
  q_market_id(index: number): bigint
  q_funding(market: number): number
  q_ledger(): number
  q_liquidatable(start: number, scan: number): number
  q_book(market: number, depth: number): number
  q_mark(market: number): bigint
  q_mark_timestamp(market: number): bigint
  q_outbox_count(): bigint
  q_batch_count(): bigint
  q_delayed_read(): bigint
  q_next_order_id(): bigint
  q_clock(): bigint
  q_domain_separator(): number
  q_typehash(t: number): number
  q_stats(): number
}

export interface EngineStats {
  accounts: number
  restingOrders: number
  levelsHighWater: number
  heapTop: number
  memoryPages: number
  markets: number
}

/** A 20-byte address as 0x-hex, either case. */
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/
/** q_order's record (docs/protocol.md §10): the owner's 20 bytes, then the order fields, whose open size is at this offset. */
const ORDER_OWNER_BYTES = 20
const ORDER_REMAINING = 21
const u64 = (v: bigint) => BigInt.asUintN(64, v)

/** Module roots by keccak256 of the wasm bytes: lowering the module once per process is enough. */
const moduleRoots = new Map<Hex, Hex>()

/**
 * The moduleRoot of docs/protocol.md §9: the VM's commitment to the lowered module
 * (executor/vm/module.ts), so the state roots of the fast path are the ones the one-step prover
 * can check. Computing it also proves the module loads on the VM (floats etc. are refused here).
 */
export function moduleRootOf(wasm: Uint8Array): Hex {
  const id = bytesToHex(keccak(wasm))
  let root = moduleRoots.get(id)
  if (!root) {
    root = bytesToHex(loadEngineProgram(wasm).moduleRoot)
    moduleRoots.set(id, root)
  }
  return root
}

export class NativeEngine implements Engine {
  readonly memory: WebAssembly.Memory
  readonly moduleRoot: Hex
  readonly resultPtr: number
  readonly outboxRootPtr: number
  readonly withdrawalLogPtr: number
  readonly scratchPtr: number
  readonly scratchLen: number

  private x!: EngineExports
  private view = new Uint8Array(0)
  private dv = new DataView(new ArrayBuffer(0))
  /** The current inbox message: genesis, or the batch being built or replayed. */
  private msg: Uint8Array = new Uint8Array(0)
  private msgLen = 0
  private open = false
  private initialized = false
  private globalNames: { name: string; index: number }[] = []

  private constructor(
    private readonly delayed: DelayedSource,
    wasm: Uint8Array,
    instance: WebAssembly.Instance,
    private readonly recover: (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined,
  ) {
    this.x = instance.exports as unknown as EngineExports
    this.memory = this.x.memory
    this.moduleRoot = moduleRootOf(wasm)
    this.resultPtr = this.x.RESULT_PTR.value as number
    this.outboxRootPtr = this.x.OUTBOX_ROOT_PTR.value as number
    this.withdrawalLogPtr = this.x.WITHDRAWAL_LOG_PTR.value as number
    this.scratchPtr = this.x.SCRATCH_PTR.value as number
    this.scratchLen = this.x.SCRATCH_LEN.value as number
    this.globalNames = Object.keys(instance.exports)
      .map((name) => ({ name, m: /^g\$(\d+)$/.exec(name) }))
      .filter((e) => e.m)
      .map((e) => ({ name: e.name, index: Number(e.m![1]) }))
      .sort((a, b) => a.index - b.index)
  }

  /** Instantiates engine.wasm (by default the built one next to this file). */
  static async load(opts: {
    delayed: DelayedSource
    wasm?: Uint8Array
    /** Signer recovery behind the ecrecover host call (default: the memoised libsecp256k1 one). */
    ecrecover?: (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined
  }): Promise<NativeEngine> {
    let wasm = opts.wasm
    if (!wasm) {
      const path = engineWasmPath()
      if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` (or \`npm run build:engine\`) first`)
      wasm = new Uint8Array(readFileSync(path))
    }
    const module = await WebAssembly.compile(new Uint8Array(wasm))
    // The imports close over `self`, which exists before the instance does.
    let self: NativeEngine | undefined
    const host = () => self!
    const imports = {
      veridex: {
        inbox_read: (offset: number, dest: number, len: number) => host().inboxRead(offset >>> 0, dest >>> 0, len >>> 0),
        delayed_read: (index: bigint, offset: number, dest: number, len: number) =>
          host().delayedRead_(u64(index), offset >>> 0, dest >>> 0, len >>> 0),
        keccak256: (ptr: number, len: number, out: number) => host().keccakHost(ptr >>> 0, len >>> 0, out >>> 0),
        ecrecover: (hash: number, sig: number, out: number) => host().ecrecoverHost(hash >>> 0, sig >>> 0, out >>> 0),
      },
      env: {
        abort: (msg: number, file: number, line: number, col: number) => host().abortHost(msg >>> 0, file >>> 0, line, col),
      },
    }
    const instance = await WebAssembly.instantiate(module, imports)
    self = new NativeEngine(opts.delayed, wasm, instance, opts.ecrecover ?? ecrecover)
    return self
  }

  // -------------------------------------------------------------------------------------------
  // Host functions

  private mem(): Uint8Array {
    if (this.view.buffer !== this.memory.buffer) {
      this.view = new Uint8Array(this.memory.buffer)
      this.dv = new DataView(this.memory.buffer)
    }
    return this.view
  }

  private copyOut(src: Uint8Array, offset: number, dest: number, len: number): number {
    const n = Math.max(0, Math.min(len, src.length - offset))
    if (n === 0) return 0
    const mem = this.mem()
    if (dest + n > mem.length) throw new Error(`engine asked to write ${n} bytes at ${dest}, past the end of memory`)
    mem.set(src.subarray(offset, offset + n), dest)
    return n
  }

  private inboxRead(offset: number, dest: number, len: number): number {
    return this.copyOut(this.msg.subarray(0, this.msgLen), offset, dest, len)
  }

  private delayedRead_(index: bigint, offset: number, dest: number, len: number): number {
    return this.copyOut(this.delayed(index), offset, dest, len)
  }

  private keccakHost(ptr: number, len: number, out: number): void {
    if (len > KECCAK_MAX_LEN) throw new Error(`keccak256 over ${len} bytes: the host call is limited to ${KECCAK_MAX_LEN}`)
    const mem = this.mem()
    if (ptr + len > mem.length || out + 32 > mem.length) throw new Error('keccak256 out of bounds')
    mem.set(keccak(mem.subarray(ptr, ptr + len)), out)
  }

  /** v ∈ {27, 28}, low s only (EIP-2), libsecp256k1 (executor/vm/ecrecover.ts); 0 on any failure. */
  private ecrecoverHost(hash: number, sig: number, out: number): number {
    const mem = this.mem()
    if (hash + 32 > mem.length || sig + 65 > mem.length || out + 20 > mem.length) throw new Error('ecrecover out of bounds')
    const signer = this.recover(mem.subarray(hash, hash + 32), mem.subarray(sig, sig + 65))
    if (!signer) return 0
    mem.set(signer, out)
    return 1
  }

  private abortHost(msg: number, file: number, line: number, col: number): never {
    const text = this.readAsString(msg) ?? 'abort'
    const where = this.readAsString(file)
    throw new Error(`engine aborted: ${text}${where ? ` (${where}:${line}:${col})` : ''}`)
  }

  /** Decodes an AssemblyScript string (UTF-16LE, byte length at ptr - 4). */
  private readAsString(ptr: number): string | undefined {
    if (ptr < 4) return undefined
    const mem = this.mem()
    if (ptr > mem.length) return undefined
    const len = this.dv.getUint32(ptr - 4, true)
    if (len > 4096 || ptr + len > mem.length) return undefined
    return new TextDecoder('utf-16le').decode(mem.subarray(ptr, ptr + len))
  }

  // -------------------------------------------------------------------------------------------
  // Message buffer

  private setMessage(bytes: Uint8Array) {
    this.msg = bytes
    this.msgLen = bytes.length
  }

  private append(bytes: Uint8Array) {
    if (this.msgLen + bytes.length > this.msg.length) {
      const next = new Uint8Array(Math.max(this.msg.length * 2, this.msgLen + bytes.length, 4096))
      next.set(this.msg.subarray(0, this.msgLen))
      this.msg = next
    }
    this.msg.set(bytes, this.msgLen)
    this.msgLen += bytes.length
  }

  // -------------------------------------------------------------------------------------------
  // Engine

  init(genesis: Uint8Array): void {
    if (this.initialized) throw new Error('engine already initialized')
    this.setMessage(genesis)
    this.x.init()
    this.initialized = true
    this.setMessage(new Uint8Array(0))
  }

  /**
   * Puts a fresh instance (never initialized) into a state copied at a batch boundary: its memory
   * bytes and mutable globals, in globals() order. Between batches the engine holds nothing else,
   * which is why the state root and the VM's machine are built from exactly these two.
   */
  restore(state: { memory: Uint8Array; globals: readonly { type: 'i32' | 'i64'; value: bigint }[] }): void {
    if (this.initialized) throw new Error('restore needs a fresh engine instance: this one is already initialized')
    const pages = state.memory.length / 65_536
    const have = this.memory.buffer.byteLength / 65_536
    if (!Number.isInteger(pages) || pages < have) throw new Error(`cannot restore ${state.memory.length} bytes of memory into an engine that starts with ${have} pages`)
    if (state.globals.length !== this.globalNames.length) throw new Error(`the state has ${state.globals.length} globals, this engine ${this.globalNames.length}: a different engine module`)
    if (pages > have) this.memory.grow(pages - have)
    this.mem().set(state.memory)
    const ex = this.x as unknown as Record<string, WebAssembly.Global>
    this.globalNames.forEach(({ name }, i) => {
      const g = state.globals[i]!
      ex[name]!.value = g.type === 'i64' ? BigInt.asIntN(64, g.value) : Number(BigInt.asIntN(32, g.value))
    })
    this.initialized = true
  }

  beginBatch(header: BatchHeader): void {
    // Re-heading an open batch that holds no item is allowed (the sequencer refreshes the time of
    // a batch nothing was accepted into): begin_batch overwrites the header, and the clock only
    // moves forward, so the state equals one begin_batch with the last header.
    if (this.open && this.msgLen > BATCH_HEADER_LEN + 1) throw new Error('a batch holding items is already open')
    if (this.open && header.timestamp < new DataView(this.msg.buffer, this.msg.byteOffset).getBigUint64(8))
      throw new Error('re-heading a batch cannot move its timestamp back')
    this.msg = new Uint8Array(4096)
    this.msgLen = 0
    this.append(encodeBatchHeader(header))
    this.append(Uint8Array.of(BATCH_FORMAT_RAW))
    this.x.begin_batch()
    this.open = true
  }

  execItem(item: Uint8Array): ItemResult {
    if (!this.open) throw new Error('execItem outside a batch: call beginBatch first')
    const expected = itemLength(item)
    // An item must be exactly one well-formed encoding: trailing bytes would become the next
    // item when the batch is replayed.
    if (expected === undefined || item.length !== expected) return malformed()
    const offset = this.msgLen
    this.append(item)
    const next = this.x.exec_item(offset) >>> 0
    const result = next === 0 ? malformed() : this.readResult()
    // DELAYED items stay whatever their outcome (they never change state on failure); a
    // LIQUIDATE the engine refuses is dropped like any rejected transaction.
    if (next === 0 || (result.code !== ResultCode.OK && item[0] !== ITEM_DELAYED)) this.msgLen = offset
    return result
  }

  endBatch(): { data: Uint8Array; withdrawals: WithdrawalRecord[] } {
    if (!this.open) throw new Error('endBatch without beginBatch')
    this.x.end_batch()
    this.open = false
    const data = this.msg.slice(BATCH_HEADER_LEN, this.msgLen)
    this.setMessage(new Uint8Array(0))
    return { data, withdrawals: this.withdrawals() }
  }

  runBatch(message: Uint8Array): { withdrawals: WithdrawalRecord[] } {
    if (this.open) throw new Error('runBatch while a batch is open')
    this.setMessage(message)
    try {
      this.x.run_batch()
    } finally {
      this.setMessage(new Uint8Array(0))
    }
    return { withdrawals: this.withdrawals() }
  }

  private readResult(): ItemResult {
    const mem = this.mem()
    return decodeResult(mem.subarray(this.resultPtr, this.resultPtr + RESULT_MAX_LEN))
  }

  /** The withdrawal log of the last batch (docs/protocol.md §8). */
  withdrawals(): WithdrawalRecord[] {
    const mem = this.mem()
    const dv = this.dv
    const base = this.withdrawalLogPtr
    const n = dv.getUint32(base)
    const out: WithdrawalRecord[] = []
    for (let i = 0; i < n; i++) {
      const e = base + 4 + i * WITHDRAWAL_LOG_ENTRY_LEN
      out.push({
        index: dv.getBigUint64(e),
        l2Sender: getAddress(bytesToHex(mem.subarray(e + 8, e + 28))),
        to: getAddress(bytesToHex(mem.subarray(e + 28, e + 48))),
        asset: dv.getUint32(e + 48),
        amount: dv.getBigUint64(e + 52),
      })
    }
    return out
  }

  globals(): { type: 'i32' | 'i64'; value: bigint }[] {
    const ex = this.x as unknown as Record<string, WebAssembly.Global>
    return this.globalNames.map(({ name }) => {
      const v = ex[name]!.value as number | bigint
      return typeof v === 'bigint' ? { type: 'i64' as const, value: u64(v) } : { type: 'i32' as const, value: BigInt(v >>> 0) }
    })
  }

  /** Indices of the mutable globals (the `g$<index>` exports), in order. */
  globalIndices(): number[] {
    return this.globalNames.map((g) => g.index)
  }

  outboxRoot(): Hex {
    return bytesToHex(this.mem().slice(this.outboxRootPtr, this.outboxRootPtr + 32))
  }

  // -------------------------------------------------------------------------------------------
  // Queries: they write only into the scratch region, which the host zeroes again afterwards so
  // that a query never shows in a state root, whenever it runs.

  private query<T>(run: () => T): T {
    try {
      return run()
    } finally {
      this.mem().fill(0, this.scratchPtr, this.scratchPtr + this.scratchLen)
    }
  }

  /** The engine's (hi u64, mid u64, lo u32) words of an address; parsed from the hex (every order's nonce check calls it). */
  private static splitAddress(account: Address): [bigint, bigint, number] {
    if (!ADDRESS_HEX.test(account)) throw new Error(`not an address: ${account}`)
    return [BigInt(`0x${account.slice(2, 18)}`), BigInt(`0x${account.slice(18, 34)}`), parseInt(account.slice(34, 42), 16)]
  }

  nonce(account: Address): bigint {
    const [hi, mid, lo] = NativeEngine.splitAddress(account)
    return this.query(() => u64(this.x.q_nonce(hi, mid, lo)))
  }

  /** Whether the engine holds an account for this address (it deposited or was paid collateral). */
  hasAccount(account: Address): boolean {
    const [hi, mid, lo] = NativeEngine.splitAddress(account)
    return this.query(() => {
      const p = this.x.q_account(hi, mid, lo) >>> 0
      this.mem()
      return this.dv.getUint32(p) === 1
    })
  }

  /** Decodes the q_account record (docs/protocol.md §10) for one account. */
  account(account: Address): AccountView {
    const [hi, mid, lo] = NativeEngine.splitAddress(account)
    return this.query(() => {
      const p = this.x.q_account(hi, mid, lo) >>> 0
      this.mem()
      const dv = this.dv
      const positions: PositionView[] = []
      for (let i = 0, n = dv.getUint32(p + 52); i < n; i++) {
        const r = p + 56 + i * 60
        positions.push({
          market: dv.getUint32(r),
          size: dv.getBigInt64(r + 4),
          openBuys: dv.getBigInt64(r + 12),
          openSells: dv.getBigInt64(r + 20),
          entryNotional: dv.getBigInt64(r + 28),
          pendingFunding: dv.getBigInt64(r + 36),
          value: dv.getBigInt64(r + 44),
          unrealizedPnl: dv.getBigInt64(r + 52),
        })
      }
      return {
        address: getAddress(account),
        exists: dv.getUint32(p) === 1,
        nonce: dv.getBigUint64(p + 4),
        balances: { 0: dv.getBigInt64(p + 12), 1: dv.getBigInt64(p + 20) },
        equity: dv.getBigInt64(p + 28),
        initialMarginRequired: dv.getBigInt64(p + 36),
        maintenanceMarginRequired: dv.getBigInt64(p + 44),
        positions,
      }
    })
  }

  /** Per-market detail of an account: position and open order sizes. */
  openInterest(account: Address): { market: number; position: bigint; openBuys: bigint; openSells: bigint }[] {
    return this.account(account).positions.map((p) => ({ market: p.market, position: p.size, openBuys: p.openBuys, openSells: p.openSells }))
  }

  private decodeOrder(p: number): Omit<OrderView, 'owner'> {
    const mem = this.mem()
    const dv = this.dv
    const opts = mem[p + 12]!
    return {
      orderId: dv.getBigUint64(p),
      market: dv.getUint32(p + 8),
      isBuy: (opts & 1) === 1,
      orderType: (opts >> 1) & 3,
      timeInForce: (opts >> 3) & 3,
      postOnly: (opts & 0x20) !== 0,
      reduceOnly: (opts & 0x40) !== 0,
      price: dv.getBigUint64(p + 13),
      remaining: dv.getBigUint64(p + ORDER_REMAINING),
      triggerPrice: dv.getBigUint64(p + 29),
      expiry: dv.getBigUint64(p + 37),
    }
  }

  order(orderId: bigint): OrderView | undefined {
    if (orderId <= 0n || orderId >= 1n << 64n) return undefined
    return this.query(() => {
      const p = this.x.q_order(orderId) >>> 0
      if (p === 0) return undefined
      return { owner: getAddress(bytesToHex(this.mem().subarray(p, p + ORDER_OWNER_BYTES))), ...this.decodeOrder(p + ORDER_OWNER_BYTES) }
    })
  }

  /**
   * The open size of an order (0n once it is filled, cancelled or unknown): what order() reads,
   * without checksumming its owner's address, a keccak the sequencer would pay on every order.
   */
  orderRemaining(orderId: bigint): bigint {
    if (orderId <= 0n || orderId >= 1n << 64n) return 0n
    return this.query(() => {
      const p = this.x.q_order(orderId) >>> 0
      if (p === 0) return 0n
      this.mem()
      return this.dv.getBigUint64(p + ORDER_OWNER_BYTES + ORDER_REMAINING)
    })
  }

  /** The account's open orders (resting and untriggered stops), newest first. */
  orders(account: Address): OrderView[] {
    const [hi, mid, lo] = NativeEngine.splitAddress(account)
    const owner = getAddress(account)
    return this.query(() => {
      const p = this.x.q_orders(hi, mid, lo) >>> 0
      this.mem()
      const n = this.dv.getUint32(p)
      const out: OrderView[] = []
      for (let i = 0; i < n; i++) out.push({ owner, ...this.decodeOrder(p + 4 + i * 45) })
      return out
    })
  }

  /** Ids of every market, in table order (genesis, then ADMIN additions). */
  marketIds(): number[] {
    const ids: number[] = []
    for (let i = 0; ; i++) {
      const id = this.x.q_market_id(i)
      if (id < 0n) return ids
      ids.push(Number(id))
    }
  }

  /** A market's configuration and live state, or undefined for an unknown market. */
  market(market: number): MarketView | undefined {
    return this.query(() => {
      const p = this.x.q_market(market) >>> 0
      if (p === 0) return undefined
      const mem = this.mem()
      const dv = this.dv
      const s = p + 130
      return {
        config: decodeMarketConfig(mem.subarray(p, p + 130)),
        index: dv.getBigUint64(s),
        indexTimestamp: dv.getBigUint64(s + 8),
        openInterest: dv.getBigUint64(s + 16),
        shortOpenInterest: dv.getBigUint64(s + 24),
        fundingIndex: dv.getBigInt64(s + 32),
        lastFundingRatePpb: dv.getBigInt64(s + 40),
        nextFundingTime: dv.getBigUint64(s + 48),
        premiumSamples: dv.getUint32(s + 56),
        premiumSumPpb: dv.getBigInt64(s + 60),
        settled: dv.getUint32(s + 68) !== 0,
        settlementPrice: dv.getBigUint64(s + 72),
        pool: dv.getBigInt64(s + 80),
        holders: dv.getUint32(s + 88),
        triggerOrders: dv.getUint32(s + 92),
      }
    })
  }

  /** The last hourly funding events of a perpetual (at most 7), newest first. */
  fundingHistory(market: number): FundingEvent[] {
    return this.query(() => {
      const p = this.x.q_funding(market) >>> 0
      if (p === 0) throw new Error(`unknown market ${market}`)
      this.mem()
      const dv = this.dv
      const out: FundingEvent[] = []
      for (let i = 0, n = dv.getUint32(p); i < n; i++) out.push({ time: dv.getBigUint64(p + 4 + i * 16), ratePpb: dv.getBigInt64(p + 12 + i * 16) })
      return out
    })
  }

  /** Exchange-wide totals: insurance fund, deposits, withdrawals, fees, pools, balances. */
  ledger(): LedgerView {
    return this.query(() => {
      const p = this.x.q_ledger() >>> 0
      this.mem()
      const dv = this.dv
      return {
        insuranceFund: dv.getBigInt64(p),
        deposited: dv.getBigInt64(p + 8),
        withdrawn: dv.getBigInt64(p + 16),
        fees: dv.getBigInt64(p + 24),
        insurancePaid: dv.getBigInt64(p + 32),
        liquidations: dv.getBigUint64(p + 40),
        deleverages: dv.getBigUint64(p + 48),
        pools: dv.getBigInt64(p + 56),
        balances: dv.getBigInt64(p + 64),
        accounts: dv.getUint32(p + 72),
      }
    })
  }

  /** Every account below maintenance margin (the ones LIQUIDATE accepts while the index is fresh). */
  liquidatable(): Address[] {
    const out: Address[] = []
    let start = 1
    for (;;) {
      const next = this.query(() => {
        const p = this.x.q_liquidatable(start, 4096) >>> 0
        const mem = this.mem()
        const dv = this.dv
        for (let i = 0, n = dv.getUint32(p + 4); i < n; i++) out.push(getAddress(bytesToHex(mem.subarray(p + 8 + i * 20, p + 28 + i * 20))))
        return dv.getUint32(p)
      })
      if (next === 0) return out
      start = next
    }
  }

  book(market: number, depth: number): BookView {
    return this.query(() => {
      const p = this.x.q_book(market, Math.max(0, Math.min(depth, 0xffffffff))) >>> 0
      if (p === 0) throw new Error(`unknown market ${market}`)
      this.mem()
      const dv = this.dv
      const side = (at: number): [BookLevel[], number] => {
        const n = dv.getUint32(at)
        const levels: BookLevel[] = []
        for (let i = 0; i < n; i++) {
          const r = at + 4 + i * 20
          levels.push({ price: dv.getBigUint64(r), size: dv.getBigUint64(r + 8), orders: dv.getUint32(r + 16) })
        }
        return [levels, at + 4 + n * 20]
      }
      const [bids, next] = side(p)
      const [asks] = side(next)
      return { market, bids, asks }
    })
  }

  markPrice(market: number): bigint {
    const v = this.query(() => this.x.q_mark(market))
    if (v < 0n) throw new Error(`unknown market ${market}`)
    return v
  }

  markTimestamp(market: number): bigint {
    const v = this.query(() => this.x.q_mark_timestamp(market))
    if (v < 0n) throw new Error(`unknown market ${market}`)
    return v
  }

  outboxCount(): bigint {
    return u64(this.x.q_outbox_count())
  }

  batchCount(): bigint {
    return u64(this.x.q_batch_count())
  }

  delayedRead(): bigint {
    return u64(this.x.q_delayed_read())
  }

  nextOrderId(): bigint {
    return u64(this.x.q_next_order_id())
  }

  /** The engine clock: the largest batch timestamp seen. */
  clock(): bigint {
    return u64(this.x.q_clock())
  }

  /** The EIP-712 domain separator the engine computed at init. */
  domainSeparator(): Hex {
    return this.query(() => {
      const p = this.x.q_domain_separator() >>> 0
      return bytesToHex(this.mem().slice(p, p + 32))
    })
  }

  /** The engine's EIP-712 typehash for a signed item type, or of the domain (0). */
  typehash(itemType: number): Hex | undefined {
    return this.query(() => {
      const p = this.x.q_typehash(itemType) >>> 0
      return p === 0 ? undefined : bytesToHex(this.mem().slice(p, p + 32))
    })
  }

  stats(): EngineStats {
    return this.query(() => {
      const p = this.x.q_stats() >>> 0
      this.mem()
      const dv = this.dv
      return {
        accounts: dv.getUint32(p),
        restingOrders: dv.getUint32(p + 4),
        levelsHighWater: dv.getUint32(p + 8),
        heapTop: dv.getUint32(p + 12),
        memoryPages: dv.getUint32(p + 16),
        markets: dv.getUint32(p + 20),
      }
    })
  }
}

function malformed(): ItemResult {
  return { code: ResultCode.MALFORMED, orderId: 0n, filledSize: 0n, fills: [] }
}
