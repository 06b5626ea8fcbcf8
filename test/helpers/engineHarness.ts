/**
 * A test harness around NativeEngine for the engine v1 tests: a delayed inbox, batches built
 * through beginBatch/execItem/endBatch (recorded for replays), signed items whose nonce is read
 * from the engine when the item runs, the ledger and open-interest invariants, and replays of
 * the recorded batches on a fresh native engine and on the VM.
 *
 * Every rejected item is checked to leave the engine memory outside the scratch region as it
 * was (docs/protocol.md §8: the host cuts it from the batch, so it must have changed nothing).
 */
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { type Address, type Hex, getAddress } from 'viem'
import type { LocalAccount } from 'viem/accounts'
import { NativeEngine, engineWasmPath } from '../../executor/engine/host.js'
import type { LedgerView } from '../../executor/engine/types.js'
import { loadEngineProgram, machineFromEngine, listContext, runBatchVm } from '../../executor/vm/engine.js'
import type { Program } from '../../executor/vm/program.js'
import * as P from '../../sdk/protocol.js'
import { signItem } from '../../sdk/sign.js'

export const USDC = 1_000_000n
export const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')

/** Collateral quantums of a decimal USDC amount: usdc('1833.748') = 1_833_748_000n. */
export function usdc(v: string | number): bigint {
  const s = String(v)
  const neg = s.startsWith('-')
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.')
  if (f.length > 6) throw new Error(`usdc(${s}): more than 6 decimals`)
  const q = BigInt(i!) * USDC + BigInt((f + '000000').slice(0, 6))
  return neg ? -q : q
}

/** An item, or a function signing one when it runs (so its nonce is the engine's at that point). */
export type Item = Uint8Array | (() => Promise<Uint8Array> | Uint8Array)
export type Recover = (digest: Uint8Array, vrs: Uint8Array) => Uint8Array | undefined
type OrderFields = Omit<P.OrderMsg, 'nonce'> & { nonce?: bigint }

let program: Program | undefined
/** The VM program of the built engine.wasm (lowered once per process). */
export function vmProgram(): Program {
  program ??= loadEngineProgram(new Uint8Array(readFileSync(engineWasmPath())))
  return program
}

/** Engine memory outside the scratch region (what a rejected item must not change). */
export function stateBytes(e: NativeEngine): Uint8Array {
  const m = new Uint8Array(e.memory.buffer)
  const out = new Uint8Array(m.length - e.scratchLen)
  out.set(m.subarray(0, e.scratchPtr))
  out.set(m.subarray(e.scratchPtr + e.scratchLen), e.scratchPtr)
  return out
}

export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

export function expectSameMemory(a: Uint8Array, b: Uint8Array, what: string) {
  if (a.length !== b.length || Buffer.compare(a, b) !== 0) expect.fail(`${what}: memories differ (${a.length} vs ${b.length} bytes) first at 0x${firstDiff(a, b).toString(16)}`)
}

export class EngineHarness {
  delayed: Uint8Array[] = []
  /** Every batch message run so far (header ‖ data), inbox positions 0, 1, … */
  batches: Uint8Array[] = []
  clock = 1_000n
  engine!: NativeEngine
  /** Check that each rejected item left the state untouched (copies memory twice per rejection). */
  checkRejections = true
  rejectionsChecked = 0

  private constructor(readonly genesis: P.GenesisConfig, private readonly recover?: Recover, readonly sign: (a: LocalAccount, tx: P.TxMessage) => Promise<Uint8Array> | Uint8Array = (a, tx) => signItem(a, genesis.chainId, tx)) {}

  static async create(genesis: P.GenesisConfig, opts: { recover?: Recover; sign?: (a: LocalAccount, tx: P.TxMessage) => Promise<Uint8Array> | Uint8Array; clock?: bigint } = {}): Promise<EngineHarness> {
    const h = new EngineHarness(genesis, opts.recover, opts.sign)
    if (opts.clock !== undefined) h.clock = opts.clock
    h.engine = await h.fresh()
    return h
  }

  /** A new engine at genesis sharing this harness's delayed inbox. */
  async fresh(): Promise<NativeEngine> {
    const e = await NativeEngine.load({ delayed: (i) => this.delayedAt(i), ecrecover: this.recover })
    e.init(P.encodeGenesis(this.genesis))
    return e
  }

  delayedAt = (i: bigint): Uint8Array => {
    const m = this.delayed[Number(i)]
    if (!m) throw new Error(`no delayed message ${i}`)
    return m
  }

  deposit(to: Address, amount: bigint, asset = P.ASSET_COLLATERAL) {
    this.delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(to, asset, amount) }))
  }

  /** An L1 transaction (no signature, no nonce) through the delayed inbox. */
  l2tx(sender: Address, tx: P.TxMessage) {
    this.delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender, timestamp: 0n, payload: P.encodeUnsignedItem(tx) }))
  }

  /**
   * One batch at `at` (default: one second later) through beginBatch/execItem/endBatch, consuming
   * every queued delayed message at its end. Returns the item results.
   */
  async batch(items: Item[], at?: bigint): Promise<P.ItemResult[]> {
    this.clock = at ?? this.clock + 1n
    const header: P.BatchHeader = { afterDelayedCount: BigInt(this.delayed.length), timestamp: this.clock }
    this.engine.beginBatch(header)
    const results: P.ItemResult[] = []
    for (const it of items) {
      const bytes = typeof it === 'function' ? await it() : it
      const before = this.checkRejections ? stateBytes(this.engine) : undefined
      const r = this.engine.execItem(bytes)
      if (before && r.code !== P.ResultCode.OK) {
        expectSameMemory(stateBytes(this.engine), before, `rejected item (${P.resultCodeName(r.code)})`)
        this.rejectionsChecked++
      }
      results.push(r)
    }
    const { data } = this.engine.endBatch()
    this.batches.push(P.batchMessage(header, data))
    return results
  }

  /** One item in its own batch. */
  async one(item: Item, at?: bigint): Promise<P.ItemResult> {
    return (await this.batch([item], at))[0]!
  }

  /** One item that must be accepted. */
  async ok(item: Item, at?: bigint): Promise<P.ItemResult> {
    const r = await this.one(item, at)
    expect(P.resultCodeName(r.code)).to.equal('OK')
    return r
  }

  /** Items that must all be accepted, in one batch. */
  async okAll(items: Item[], at?: bigint): Promise<P.ItemResult[]> {
    const rs = await this.batch(items, at)
    expect(rs.map((r) => P.resultCodeName(r.code))).to.deep.equal(rs.map(() => 'OK'))
    return rs
  }

  // -------------------------------------------------------------------------------------------
  // Signed items (the nonce is the engine's when the item runs, unless given)

  private signed(a: LocalAccount, make: (nonce: bigint) => P.TxMessage, nonce?: bigint): Item {
    return () => this.sign(a, make(nonce ?? this.engine.nonce(a.address)))
  }

  order(a: LocalAccount, o: OrderFields): Item {
    return this.signed(a, (nonce) => ({ kind: 'Order', message: { ...o, nonce } }), o.nonce)
  }

  cancel(a: LocalAccount, orderId: bigint, nonce?: bigint): Item {
    return this.signed(a, (n) => ({ kind: 'Cancel', message: { orderId, nonce: n } }), nonce)
  }

  cancelAll(a: LocalAccount, market: number): Item {
    return this.signed(a, (nonce) => ({ kind: 'CancelAll', message: { market, nonce } }))
  }

  replace(a: LocalAccount, orderId: bigint, price: bigint, size: bigint): Item {
    return this.signed(a, (nonce) => ({ kind: 'Replace', message: { orderId, price, size, nonce } }))
  }

  transfer(a: LocalAccount, to: Address, amount: bigint, asset = 0): Item {
    return this.signed(a, (nonce) => ({ kind: 'Transfer', message: { to, asset, amount, nonce } }))
  }

  withdraw(a: LocalAccount, amount: bigint, asset = 0): Item {
    return this.signed(a, (nonce) => ({ kind: 'Withdraw', message: { to: a.address, asset, amount, nonce } }))
  }

  /** An oracle price stamped with the batch's time (or `timestamp`). */
  oracle(o: LocalAccount, market: number, price: bigint, timestamp?: bigint): Item {
    return () => this.sign(o, { kind: 'OraclePrice', message: { market, price, timestamp: timestamp ?? this.clock } })
  }

  admin(a: LocalAccount, action: number, config: P.MarketConfig): Item {
    return this.signed(a, (nonce) => ({ kind: 'AdminAction', message: { action, config: `0x${Buffer.from(P.encodeMarketConfig(config)).toString('hex')}` as Hex, nonce } }))
  }

  liquidate(account: Address): Item {
    return P.encodeLiquidateItem(account)
  }

  // -------------------------------------------------------------------------------------------
  // Views and invariants

  balance(a: Address): bigint {
    return this.engine.account(a).balances[0]!
  }

  position(a: Address, market: number): bigint {
    return this.engine.account(a).positions.find((p) => p.market === market)?.size ?? 0n
  }

  /**
   * Conservation (Σ balances + insurance + Σ pools = deposited − withdrawn) and, in every market,
   * long open interest = short open interest. Returns the ledger.
   */
  invariants(): LedgerView {
    const l = this.engine.ledger()
    expect(l.balances + l.insuranceFund + l.pools, 'collateral conservation').to.equal(l.deposited - l.withdrawn)
    for (const id of this.engine.marketIds()) {
      const m = this.engine.market(id)!
      expect(m.openInterest, `market ${id}: long OI = short OI`).to.equal(m.shortOpenInterest)
    }
    return l
  }

  /** Replays every recorded batch through run_batch on a fresh native engine: identical memory. */
  async replayNative(): Promise<void> {
    const e = await this.fresh()
    for (const m of this.batches) e.runBatch(m)
    expectSameMemory(new Uint8Array(e.memory.buffer), new Uint8Array(this.engine.memory.buffer), 'run_batch replay vs execItem')
    expect(e.globals()).to.deep.equal(this.engine.globals())
  }

  /** Replays every recorded batch on the VM from genesis: identical memory and globals. */
  async replayVm(): Promise<number> {
    const start = await this.fresh()
    const vm = machineFromEngine(vmProgram(), start, 0n, listContext(0n, this.batches, this.delayedAt))
    let steps = 0
    for (let b = 0; b < this.batches.length; b++) steps += runBatchVm(vm)
    expectSameMemory(vm.memory.u8, new Uint8Array(this.engine.memory.buffer), 'VM replay vs native')
    expect(vm.globalValues()).to.deep.equal(this.engine.globals())
    return steps
  }
}
