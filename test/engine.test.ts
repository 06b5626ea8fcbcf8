import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { type Address, type Hex, bytesToHex, concat, getAddress, hashDomain, hashTypedData, keccak256, recoverTypedDataAddress, toHex } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { assertIntegerOnly, buildEngine, compileAssemblyScript, finalizeModule } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'
import { rng } from './helpers/rng.js'

const { ResultCode: RC } = P
const CHAIN_ID = 412346
const USDC = 1_000_000n // collateral quantums per USDC
const GWEI_PER_ETH = 1_000_000_000n

const key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const alice = key(0xa11ce)
const bob = key(0xb0b)
const carol = key(0xca201)
const dave = key(0xda7e)
const oracle = key(0x0dac1e)
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const L1_RECIPIENT = getAddress('0x1111111111111111111111111111111111111111')

/** BTC-like: price in collateral quantums per whole BTC, size in 0.001 BTC. */
const BTC: P.MarketConfig = {
  id: 1,
  symbol: 'BTC-PERP',
  tickSize: 1n * USDC,
  stepSize: 1n,
  minSize: 1n,
  maxSize: 1_000_000n,
  maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3,
  initialMarginPpm: 100_000,
  maintenanceMarginPpm: 50_000,
}
const ETH: P.MarketConfig = {
  id: 2,
  symbol: 'ETH-PERP',
  tickSize: 10_000n,
  stepSize: 1_000n,
  minSize: 1_000n,
  maxSize: 100_000_000n,
  maxPrice: 10_000_000_000n,
  sizeDecimals: 6,
  initialMarginPpm: 50_000,
  maintenanceMarginPpm: 30_000,
}
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: [BTC, ETH] }

// ---------------------------------------------------------------------------------------------
// helpers

const sign = (account: LocalAccount, tx: P.TxMessage) => signItem(account, CHAIN_ID, tx)

const order = (market: number, isBuy: boolean, price: bigint, size: bigint, nonce: bigint): P.TxMessage => ({
  kind: 'Order',
  message: { market, isBuy, price, size, nonce },
})
const cancel = (orderId: bigint, nonce: bigint): P.TxMessage => ({ kind: 'Cancel', message: { orderId, nonce } })
const transfer = (to: Address, asset: number, amount: bigint, nonce: bigint): P.TxMessage => ({
  kind: 'Transfer',
  message: { to, asset, amount, nonce },
})
const withdraw = (to: Address, asset: number, amount: bigint, nonce: bigint): P.TxMessage => ({
  kind: 'Withdraw',
  message: { to, asset, amount, nonce },
})
const oraclePrice = (market: number, price: bigint, timestamp: bigint): P.TxMessage => ({
  kind: 'OraclePrice',
  message: { market, price, timestamp },
})

/** The OrderView of a plain GTC limit order (the defaults of an OrderMsg without options). */
const limitView = (orderId: bigint, owner: Address, market: number, isBuy: boolean, price: bigint, remaining: bigint) => ({
  orderId, owner, market, isBuy, orderType: P.OrderType.LIMIT, timeInForce: P.TimeInForce.GTC, postOnly: false, reduceOnly: false,
  price, remaining, triggerPrice: 0n, expiry: 0n,
})

/** Market and signed size of each position of an account (the view also has cost basis, value, funding). */
const sizes = (a: { positions: { market: number; size: bigint }[] }) => a.positions.map((p) => ({ market: p.market, size: p.size }))

class Harness {
  delayed: Uint8Array[] = []
  /** Every batch message run so far (header ‖ data), for replays. */
  batches: Uint8Array[] = []
  clock = 1_000n
  engine!: NativeEngine

  static async create(genesis: P.GenesisConfig = GENESIS): Promise<Harness> {
    const h = new Harness()
    h.engine = await h.fresh(genesis)
    return h
  }

  async fresh(genesis: P.GenesisConfig = GENESIS): Promise<NativeEngine> {
    const engine = await NativeEngine.load({
      delayed: (i) => {
        const m = this.delayed[Number(i)]
        if (!m) throw new Error(`no delayed message ${i}`)
        return m
      },
    })
    engine.init(P.encodeGenesis(genesis))
    return engine
  }

  deposit(to: Address, asset: number, amount: bigint) {
    this.delayed.push(
      P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(to, asset, amount) }),
    )
  }

  l2tx(sender: Address, tx: P.TxMessage) {
    this.delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender, timestamp: 0n, payload: P.encodeUnsignedItem(tx) }))
  }

  header(): P.BatchHeader {
    this.clock += 1n
    return { afterDelayedCount: BigInt(this.delayed.length), timestamp: this.clock }
  }

  /** One batch through beginBatch/execItem/endBatch; returns the item results. */
  batch(items: Uint8Array[], header = this.header()) {
    this.engine.beginBatch(header)
    const results = items.map((it) => this.engine.execItem(it))
    const { data, withdrawals } = this.engine.endBatch()
    this.batches.push(P.batchMessage(header, data))
    return { results, data, withdrawals }
  }

  /** Executes one item in its own batch; returns its result. */
  one(item: Uint8Array) {
    return this.batch([item]).results[0]!
  }

  /** Replays every batch through run_batch on a fresh engine; returns it. */
  async replay(): Promise<NativeEngine> {
    const b = await this.fresh()
    for (const m of this.batches) b.runBatch(m)
    return b
  }
}

function expectSameMachine(a: NativeEngine, b: NativeEngine) {
  expect(a.memory.buffer.byteLength).to.equal(b.memory.buffer.byteLength)
  const ma = new Uint8Array(a.memory.buffer)
  const mb = new Uint8Array(b.memory.buffer)
  if (Buffer.compare(ma, mb) !== 0) {
    let i = 0
    while (ma[i] === mb[i]) i++
    expect.fail(`memories differ first at byte 0x${i.toString(16)}`)
  }
  expect(a.globals()).to.deep.equal(b.globals())
  expect(a.outboxRoot()).to.equal(b.outboxRoot())
}

/** Memory outside the scratch region. */
function stateBytes(e: NativeEngine): Uint8Array {
  const m = new Uint8Array(e.memory.buffer)
  const out = new Uint8Array(m.length - e.scratchLen)
  out.set(m.subarray(0, e.scratchPtr))
  out.set(m.subarray(e.scratchPtr + e.scratchLen), e.scratchPtr)
  return out
}

function outboxRootOf(leaves: Hex[]): Hex {
  const zero: Hex[] = [toHex(new Uint8Array(32))]
  for (let i = 0; i < 32; i++) zero.push(keccak256(concat([zero[i]!, zero[i]!])))
  let layer = leaves
  for (let d = 0; d < 32; d++) {
    const next: Hex[] = []
    for (let i = 0; i < layer.length; i += 2) next.push(keccak256(concat([layer[i]!, layer[i + 1] ?? zero[d]!])))
    layer = next
  }
  return layer[0] ?? zero[32]!
}

const leafOf = (sender: Address, to: Address, asset: number, amount: bigint) =>
  keccak256(P.outboxLeafPreimage(sender, to, asset, amount))


/** Minimal wasm reader: mutable globals and exports (to check the g$ exports independently of binaryen). */
function wasmGlobalsAndExports(bytes: Uint8Array) {
  let p = 8
  const leb = () => {
    let r = 0, s = 0, b
    do { b = bytes[p++]!; r |= (b & 0x7f) << s; s += 7 } while (b & 0x80)
    return r >>> 0
  }
  const name = () => { const n = leb(); const s = new TextDecoder().decode(bytes.subarray(p, p + n)); p += n; return s }
  let importedGlobals = 0
  const globals: { index: number; type: number; mutable: boolean }[] = []
  const exports: { name: string; kind: number; index: number }[] = []
  while (p < bytes.length) {
    const id = bytes[p++]!
    const size = leb()
    const end = p + size
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        name(); name()
        const kind = bytes[p++]!
        if (kind === 0) leb()
        else if (kind === 1) { p++; const f = leb(); leb(); if (f & 1) leb() }
        else if (kind === 2) { const f = leb(); leb(); if (f & 1) leb() }
        else if (kind === 3) { p += 2; importedGlobals++ }
      }
    } else if (id === 6) {
      for (let n = leb(), i = 0; i < n; i++) {
        const type = bytes[p++]!
        const mutable = bytes[p++] === 1
        const op = bytes[p++]!
        if (op === 0x41 || op === 0x42 || op === 0x23) while (bytes[p++]! & 0x80);
        expect(bytes[p++]).to.equal(0x0b)
        globals.push({ index: importedGlobals + i, type, mutable })
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) exports.push({ name: name(), kind: bytes[p++]!, index: leb() })
    }
    p = end
  }
  return { importedGlobals, globals, exports }
}

// ---------------------------------------------------------------------------------------------

describe('engine', () => {
  before(async function () {
    this.timeout(120_000)
    await buildEngine()
  })


  describe('engine build', () => {
    it('rejects a module with a float instruction, naming the function and the instruction', async () => {
      const wasm = await compileAssemblyScript('snippet.ts', {
        baseDir: '/virtual',
        files: { 'snippet.ts': 'export function scale(x: i64): i64 { return <i64>(<f64>x * 1.5); }' },
      })
      expect(() => assertIntegerOnly(wasm)).to.throw(/function snippet\/scale: instruction (i64\.trunc_f64_s|f64\.\w+)/)
      // and a float only in a signature is caught too
      const sigOnly = await compileAssemblyScript('snippet.ts', {
        baseDir: '/virtual',
        files: { 'snippet.ts': 'export function id(x: f32): f32 { return x; }' },
      })
      expect(() => assertIntegerOnly(sigOnly)).to.throw(/f32/)
    })

    it('exports every mutable global as g$<index>', async () => {
      const raw = await compileAssemblyScript('snippet.ts', {
        baseDir: '/virtual',
        files: { 'snippet.ts': 'let a: i32 = 7;\nlet b: i64 = 9;\nexport const K: i32 = 3;\nexport function bump(): i64 { a += 1; b += <i64>a; return b; }' },
      })
      assertIntegerOnly(raw)
      const fin = finalizeModule(raw)
      expect(fin.mutableGlobals.length).to.equal(2)
      const { instance } = await WebAssembly.instantiate(new Uint8Array(fin.wasm), { env: { abort() { throw new Error('abort') } } })
      const ex = instance.exports as Record<string, WebAssembly.Global | (() => bigint)>
      ;(ex.bump as () => bigint)()
      const values = fin.mutableGlobals.map((i) => (ex[`g$${i}`] as WebAssembly.Global).value)
      expect(values.map(String).sort()).to.deep.equal(['17', '8'])
    })

    it('engine.wasm is integer-only, imports only host functions and exports all mutable globals', async () => {
      const wasm = new Uint8Array(readFileSync(engineWasmPath()))
      assertIntegerOnly(wasm)
      const { globals, exports, importedGlobals } = wasmGlobalsAndExports(wasm)
      expect(importedGlobals).to.equal(0)
      const mutable = globals.filter((g) => g.mutable)
      for (const g of mutable) expect(exports.some((e) => e.name === `g$${g.index}` && e.kind === 3 && e.index === g.index)).to.equal(true)
      expect(exports.filter((e) => e.name.startsWith('g$')).length).to.equal(mutable.length)
      const e = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(e.globals().length).to.equal(mutable.length)
      const mod = await WebAssembly.compile(wasm)
      const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`).sort()
      expect(imports.every((i) => ['env.abort', 'veridex.delayed_read', 'veridex.ecrecover', 'veridex.inbox_read', 'veridex.keccak256'].includes(i))).to.equal(true)
      const memory = WebAssembly.Module.exports(mod).find((x) => x.name === 'memory')
      expect(memory?.kind).to.equal('memory')
    })
  })

  describe('engine EIP-712', () => {
    let h: Harness
    before(async () => {
      h = await Harness.create()
    })

    it('typehashes and domain separator match viem', () => {
      const typeString = (kind: P.TxKind) => `${kind}(${P.eip712Types[kind].map((f) => `${f.type} ${f.name}`).join(',')})`
      for (const kind of Object.keys(P.eip712Types) as P.TxKind[]) {
        expect(h.engine.typehash(P.ITEM_TYPE_OF[kind]), kind).to.equal(keccak256(toHex(typeString(kind))))
      }
      expect(h.engine.typehash(0)).to.equal(keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId)')))
      expect(h.engine.typehash(6)).to.equal(undefined)
      const viemDomain = hashDomain({
        domain: P.eip712Domain(CHAIN_ID),
        types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }] },
      })
      expect(h.engine.domainSeparator()).to.equal(viemDomain)
    })

    it('accepts a real viem signature for every kind, rejects invalid and malleable ones', async () => {
      // the digest viem signs is the one the engine recovers from: a valid oracle signature is accepted
      const message: P.OraclePriceMsg = { market: 1, price: 50_000n * USDC, timestamp: 10n }
      const item = await sign(oracle, { kind: 'OraclePrice', message })
      const digest = hashTypedData({ domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: 'OraclePrice', message })
      const decoded = P.decodeItem(item) as { signature: Hex }
      expect(await recoverTypedDataAddress({ domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: 'OraclePrice', message, signature: decoded.signature })).to.equal(oracle.address)
      // the engine's digest is exactly viem's hashTypedData: a raw signature over it is accepted
      const message2: P.OraclePriceMsg = { ...message, timestamp: 11n }
      const digest2 = hashTypedData({ domain: P.eip712Domain(CHAIN_ID), types: P.eip712Types, primaryType: 'OraclePrice', message: message2 })
      const rawItem = P.encodeItem({ kind: 'OraclePrice', message: message2 }, await oracle.sign!({ hash: digest2 }))
      expect(digest).to.not.equal(digest2)

      // v outside {27, 28}
      const badV = item.slice()
      badV[item.length - 65] = 29
      expect(h.one(badV).code).to.equal(RC.BAD_SIGNATURE)
      // r = 0
      const zeroR = item.slice()
      zeroR.fill(0, item.length - 64, item.length - 32)
      expect(h.one(zeroR).code).to.equal(RC.BAD_SIGNATURE)
      // high s (the malleable twin of a valid signature: s' = n - s, v flipped)
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
      const hi = item.slice()
      const s = BigInt(bytesToHex(hi.subarray(item.length - 32)))
      hi.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), item.length - 32)
      hi[item.length - 65] = hi[item.length - 65] === 27 ? 28 : 27
      expect(h.one(hi).code).to.equal(RC.BAD_SIGNATURE)
      // a changed field recovers some other address, which is not the oracle
      const tampered = item.slice()
      tampered[8] = tampered[8]! ^ 1
      expect(h.one(tampered).code).to.equal(RC.NOT_ORACLE)
      // the untouched item is accepted: the engine's digest is viem's
      expect(h.one(item).code).to.equal(RC.OK)
      expect(h.engine.markPrice(1)).to.equal(50_000n * USDC)
      expect(h.one(rawItem).code).to.equal(RC.OK)
      expect(h.engine.markTimestamp(1)).to.equal(11n)

      // the other four kinds: each reaches its own validation (so the signer was recovered as alice)
      h.deposit(alice.address, 0, 1_000n * USDC)
      h.batch([])
      expect((await Promise.all([
        sign(alice, order(1, true, 1n * USDC, 1n, 0n)),
        sign(alice, cancel(77n, 1n)),
        sign(alice, transfer(bob.address, 0, 0n, 1n)),
        sign(alice, withdraw(L1_RECIPIENT, 9, 1n, 1n)),
      ]).then((items) => items.map((i) => h.one(i).code)))).to.deep.equal([RC.OK, RC.UNKNOWN_ORDER, RC.BAD_AMOUNT, RC.UNKNOWN_ASSET])
      // (a wrongly recovered signer would have nonce 0 and fail the last three with BAD_NONCE)
      expect(h.engine.nonce(alice.address)).to.equal(1n)
      // the v1 kinds: CancelAll removes alice's one order (filledSize = orders cancelled), Replace
      // reaches its order lookup, AdminAction is refused from alice and accepted from the admin
      // (the genesis default: the oracle key)
      const all = h.one(await sign(alice, { kind: 'CancelAll', message: { market: P.ALL_MARKETS, nonce: 1n } }))
      expect([all.code, all.filledSize]).to.deep.equal([RC.OK, 1n])
      expect(h.one(await sign(alice, { kind: 'Replace', message: { orderId: 77n, price: USDC, size: 1n, nonce: 2n } })).code).to.equal(RC.UNKNOWN_ORDER)
      const config = bytesToHex(P.encodeMarketConfig({ ...BTC, id: 3, symbol: 'SOL-PERP' }))
      const admin = (nonce: bigint): P.TxMessage => ({ kind: 'AdminAction', message: { action: P.AdminAction.ADD_MARKET, config, nonce } })
      expect(h.one(await sign(alice, admin(2n))).code).to.equal(RC.NOT_ADMIN)
      expect(h.one(await sign(oracle, admin(0n))).code).to.equal(RC.OK)
      expect(h.engine.marketIds()).to.deep.equal([1, 2, 3])
      expect(h.engine.nonce(alice.address)).to.equal(2n)
    })
  })

  describe('engine trading (worked numbers)', () => {
    let h: Harness
    const e = () => h.engine
    const P50K = 50_000n * USDC

    before(async () => {
      h = await Harness.create()
      h.deposit(alice.address, P.ASSET_COLLATERAL, 10_000n * USDC)
      h.deposit(bob.address, P.ASSET_COLLATERAL, 20_000n * USDC)
      h.deposit(carol.address, P.ASSET_COLLATERAL, 5_000n * USDC)
      h.deposit(alice.address, P.ASSET_ETH, 1n * GWEI_PER_ETH)
      h.deposit(alice.address, 7, 1n) // unknown asset: ignored
      const d = P.encodeDelayedItem(5)
      const { results, data } = h.batch([d])
      expect(results[0]!.code).to.equal(RC.OK)
      expect(Array.from(data)).to.deep.equal([0, ...d])
    })

    it('credits deposits from the delayed inbox', () => {
      expect(e().account(alice.address).balances).to.deep.equal({ 0: 10_000n * USDC, 1: GWEI_PER_ETH })
      expect(e().account(bob.address).balances[0]).to.equal(20_000n * USDC)
      expect(e().delayedRead()).to.equal(5n)
      expect(e().account(dave.address).nonce).to.equal(0n)
      // three depositors plus the fee account, which genesis creates (by default the admin, which
      // defaults to the oracle key); the unknown-asset deposit created nothing more
      expect(e().stats().accounts).to.equal(4)
      expect(e().account(oracle.address).exists).to.equal(true)
      expect(e().account(dave.address).exists).to.equal(false)
    })

    it('needs an oracle price before orders; only the oracle key sets it, strictly newer', async () => {
      expect(h.one(await sign(bob, order(1, false, P50K, 500n, 0n))).code).to.equal(RC.NO_ORACLE_PRICE)
      expect(h.one(await sign(bob, oraclePrice(1, P50K, 100n))).code).to.equal(RC.NOT_ORACLE)
      expect(h.one(await sign(oracle, oraclePrice(9, P50K, 100n))).code).to.equal(RC.UNKNOWN_MARKET)
      expect(h.one(await sign(oracle, oraclePrice(1, 0n, 100n))).code).to.equal(RC.BAD_PRICE)
      expect(h.one(await sign(oracle, oraclePrice(1, BTC.maxPrice + 1n, 100n))).code).to.equal(RC.BAD_PRICE)
      expect(h.one(await sign(oracle, oraclePrice(1, P50K + 7n, 100n))).code).to.equal(RC.OK) // need not be on tick
      expect(h.one(await sign(oracle, oraclePrice(1, P50K, 100n))).code).to.equal(RC.STALE_ORACLE_PRICE)
      expect(h.one(await sign(oracle, oraclePrice(1, P50K, 101n))).code).to.equal(RC.OK)
      expect(e().markPrice(1)).to.equal(P50K)
      expect(e().markTimestamp(1)).to.equal(101n)
      expect(e().markPrice(2)).to.equal(0n)
    })

    it('validates market, tick, step and size', async () => {
      const bad = [
        [order(3, false, P50K, 500n, 0n), RC.UNKNOWN_MARKET],
        [order(1, false, P50K + 1n, 500n, 0n), RC.BAD_PRICE],
        [order(1, false, 0n, 500n, 0n), RC.BAD_PRICE],
        [order(1, false, BTC.maxPrice + USDC, 500n, 0n), RC.BAD_PRICE],
        [order(1, false, P50K, 0n, 0n), RC.BAD_SIZE],
        [order(1, false, P50K, BTC.maxSize + 1n, 0n), RC.BAD_SIZE],
        [order(2, false, 3_000n * USDC, 1_500n, 0n), RC.BAD_SIZE], // not a multiple of the 1000 step
        [order(2, false, 3_000n * USDC, 2_000n, 0n), RC.NO_ORACLE_PRICE],
        [order(1, false, P50K, 500n, 1n), RC.BAD_NONCE],
      ] as const
      for (const [tx, code] of bad) expect(h.one(await sign(bob, tx)).code, JSON.stringify(tx.message, (_, v) => (typeof v === 'bigint' ? `${v}` : v))).to.equal(code)
      // byte 5 is now the options byte (side, type, time in force, post-only, reduce-only, expiry):
      // time in force 3 does not exist, and post-only is only for a GTC limit order
      const it = await sign(bob, order(1, true, P50K, 500n, 0n))
      it[5] = P.OPT_BUY | (3 << 3)
      expect(h.one(it).code).to.equal(RC.MALFORMED)
      // (the sdk refuses to encode it in the first place)
      expect(() => P.encodeUnsignedItem({ kind: 'Order', message: { market: 1, isBuy: true, price: P50K, size: 500n, timeInForce: 3, nonce: 0n } })).to.throw(/timeInForce must be 0\.\.2/)
      const it2 = await sign(bob, order(1, true, P50K, 500n, 0n))
      it2[5] = P.OPT_BUY | (P.OrderType.MARKET << 1) | P.OPT_POST_ONLY
      expect(h.one(it2).code).to.equal(RC.MALFORMED)
      expect(e().nonce(bob.address)).to.equal(0n)
    })

    it('rests orders and matches with price-time priority at the maker price', async () => {
      const r1 = h.batch([
        await sign(bob, order(1, false, P50K, 500n, 0n)),
        await sign(carol, order(1, false, P50K, 500n, 0n)),
        await sign(bob, order(1, false, 50_100n * USDC, 1_000n, 1n)),
      ]).results
      expect(r1.map((r) => [r.code, r.orderId, r.filledSize, r.fills.length])).to.deep.equal([
        [RC.OK, 1n, 0n, 0],
        [RC.OK, 2n, 0n, 0],
        [RC.OK, 3n, 0n, 0],
      ])
      expect(e().book(1, 10)).to.deep.equal({
        market: 1,
        bids: [],
        asks: [
          { price: P50K, size: 1_000n, orders: 2 },
          { price: 50_100n * USDC, size: 1_000n, orders: 1 },
        ],
      })
      expect(e().order(1n)).to.deep.equal(limitView(1n, bob.address, 1, false, P50K, 500n))
      expect(e().orders(bob.address)).to.deep.equal([limitView(3n, bob.address, 1, false, 50_100n * USDC, 1_000n), limitView(1n, bob.address, 1, false, P50K, 500n)])

      // alice buys 1.2 BTC up to 50,100: 0.5 from bob @50,000, 0.5 from carol @50,000, 0.2 from bob @50,100
      const r = h.one(await sign(alice, order(1, true, 50_100n * USDC, 1_200n, 0n)))
      expect(r.code).to.equal(RC.OK)
      expect(r.orderId).to.equal(4n)
      expect(r.filledSize).to.equal(1_200n)
      expect(r.fills).to.deep.equal([
        { makerOrderId: 1n, maker: bob.address, price: P50K, size: 500n },
        { makerOrderId: 2n, maker: carol.address, price: P50K, size: 500n },
        { makerOrderId: 3n, maker: bob.address, price: 50_100n * USDC, size: 200n },
      ])
      // notionals: 25,000 + 25,000 + 10,020 = 60,020 USDC
      const a = e().account(alice.address)
      // entryNotional is the signed cost basis, value the position at the index (50,000)
      expect(a.positions).to.deep.equal([{
        market: 1, size: 1_200n, openBuys: 0n, openSells: 0n, entryNotional: 60_020n * USDC, pendingFunding: 0n,
        value: 60_000n * USDC, unrealizedPnl: -20n * USDC,
      }])
      expect(a.balances[0]).to.equal(10_000n * USDC - 60_020n * USDC)
      expect(a.equity).to.equal(9_980n * USDC) // -50,020 + 1.2 × 50,000
      expect(a.initialMarginRequired).to.equal(6_000n * USDC) // 1.2 × 50,000 × 10%
      expect(a.nonce).to.equal(1n)
      const b = e().account(bob.address)
      // sold 0.5 @ 50,000 + 0.2 @ 50,100 = 35,020 (a short's cost basis is negative); 0.8 still offered
      expect(b.positions).to.deep.equal([{
        market: 1, size: -700n, openBuys: 0n, openSells: 800n, entryNotional: -35_020n * USDC, pendingFunding: 0n,
        value: -35_000n * USDC, unrealizedPnl: 20n * USDC,
      }])
      expect(b.balances[0]).to.equal(20_000n * USDC + 35_020n * USDC)
      expect(b.equity).to.equal(55_020n * USDC - 35_000n * USDC)
      expect(b.initialMarginRequired).to.equal(7_500n * USDC) // max(|-700|, |-700-800|) = 1.5 BTC
      const c = e().account(carol.address)
      expect(c.balances[0]).to.equal(30_000n * USDC)
      expect(sizes(c)).to.deep.equal([{ market: 1, size: -500n }])
      expect(e().order(1n)).to.equal(undefined)
      expect(e().order(3n)?.remaining).to.equal(800n)
      expect(e().book(1, 10).asks).to.deep.equal([{ price: 50_100n * USDC, size: 800n, orders: 1 }])
    })

    it('rejects orders that break initial margin, accepts exactly at the limit', async () => {
      // carol: equity 30,000 - 25,000 = 5,000; a further 0.6 short needs 1.1 × 50,000 × 10% = 5,500
      expect(h.one(await sign(carol, order(1, false, 60_000n * USDC, 600n, 1n))).code).to.equal(RC.INSUFFICIENT_MARGIN)
      expect(e().nonce(carol.address)).to.equal(1n)
      const ok = h.one(await sign(carol, order(1, false, 60_000n * USDC, 500n, 1n)))
      expect(ok.code).to.equal(RC.OK)
      expect(ok.orderId).to.equal(5n)
      const c = e().account(carol.address)
      expect([c.equity, c.initialMarginRequired]).to.deep.equal([5_000n * USDC, 5_000n * USDC])
      // a new account without collateral cannot trade
      expect(h.one(await sign(dave, order(1, true, P50K, 1n, 0n))).code).to.equal(RC.INSUFFICIENT_MARGIN)
    })

    it('fills a resting bid from a later sell and skips self-trades', async () => {
      // alice bids 0.1 @ 49,000, then sells 0.3 @ 49,000: her own bid is cancelled, not filled
      const bid = h.one(await sign(alice, order(1, true, 49_000n * USDC, 100n, 1n)))
      expect(bid.code).to.equal(RC.OK)
      const bobBid = h.one(await sign(bob, order(1, true, 48_000n * USDC, 100n, 2n)))
      expect(bobBid.code).to.equal(RC.OK)
      const sell = h.one(await sign(alice, order(1, false, 48_000n * USDC, 300n, 2n)))
      expect(sell.code).to.equal(RC.OK)
      expect(sell.fills).to.deep.equal([{ makerOrderId: bobBid.orderId, maker: bob.address, price: 48_000n * USDC, size: 100n }])
      expect(e().order(bid.orderId)).to.equal(undefined) // self-trade: cancelled
      expect(e().order(sell.orderId)?.remaining).to.equal(200n) // rests as an ask at 48,000
      expect(e().book(1, 1).asks).to.deep.equal([{ price: 48_000n * USDC, size: 200n, orders: 1 }])
      expect(e().book(1, 5).bids).to.deep.equal([])
      expect(sizes(e().account(alice.address))).to.deep.equal([{ market: 1, size: 1_100n }])
      expect(sizes(e().account(bob.address))).to.deep.equal([{ market: 1, size: -600n }])
    })

    it('cancels by owner only', async () => {
      expect(h.one(await sign(carol, cancel(3n, 2n))).code).to.equal(RC.NOT_ORDER_OWNER)
      expect(h.one(await sign(bob, cancel(999n, 3n))).code).to.equal(RC.UNKNOWN_ORDER)
      expect(h.one(await sign(bob, cancel(3n, 4n))).code).to.equal(RC.BAD_NONCE)
      const r = h.one(await sign(bob, cancel(3n, 3n)))
      expect([r.code, r.orderId]).to.deep.equal([RC.OK, 3n])
      expect(e().order(3n)).to.equal(undefined)
      expect(h.one(await sign(bob, cancel(3n, 4n))).code).to.equal(RC.UNKNOWN_ORDER)
      expect(e().openInterest(bob.address)).to.deep.equal([{ market: 1, position: -600n, openBuys: 0n, openSells: 0n }])
      expect(e().book(1, 10).asks.map((l) => l.price)).to.deep.equal([48_000n * USDC, 60_000n * USDC])
    })

    it('transfers collateral and ETH between accounts', async () => {
      const before = e().account(bob.address).balances[0]!
      expect(h.one(await sign(bob, transfer(bob.address, 0, 1n, 4n))).code).to.equal(RC.BAD_AMOUNT)
      expect(h.one(await sign(bob, transfer(dave.address, 0, 0n, 4n))).code).to.equal(RC.BAD_AMOUNT)
      expect(h.one(await sign(bob, transfer(dave.address, 2, 1n, 4n))).code).to.equal(RC.UNKNOWN_ASSET)
      expect(h.one(await sign(bob, transfer(dave.address, 1, 1n, 4n))).code).to.equal(RC.INSUFFICIENT_BALANCE)
      expect(h.one(await sign(bob, transfer(dave.address, 0, before + 1n, 4n))).code).to.equal(RC.INSUFFICIENT_BALANCE)
      // carol sits exactly at her initial margin: any collateral out breaks it
      expect(h.one(await sign(carol, transfer(dave.address, 0, 1n, 2n))).code).to.equal(RC.INSUFFICIENT_MARGIN)
      const r = h.one(await sign(bob, transfer(dave.address, 0, 1_000n * USDC, 4n)))
      expect(r.code).to.equal(RC.OK)
      expect(e().account(bob.address).balances[0]).to.equal(before - 1_000n * USDC)
      expect(e().account(dave.address).balances).to.deep.equal({ 0: 1_000n * USDC, 1: 0n })
      expect(h.one(await sign(alice, transfer(dave.address, 1, GWEI_PER_ETH / 2n, 3n))).code).to.equal(RC.OK)
      expect(e().account(dave.address).balances[1]).to.equal(GWEI_PER_ETH / 2n)
      expect(e().account(alice.address).balances[1]).to.equal(GWEI_PER_ETH / 2n)
    })

    it('withdraws into the outbox tree and the withdrawal log', async () => {
      expect(e().outboxRoot()).to.equal(outboxRootOf([]))
      const { results, withdrawals } = h.batch([
        await sign(dave, withdraw(L1_RECIPIENT, 0, 400n * USDC, 0n)),
        await sign(dave, withdraw(L1_RECIPIENT, 0, 601n * USDC, 1n)), // more than left
        await sign(alice, withdraw(alice.address, 1, GWEI_PER_ETH / 10n, 4n)),
      ])
      expect(results.map((r) => [r.code, r.orderId])).to.deep.equal([
        [RC.OK, 0n],
        [RC.INSUFFICIENT_BALANCE, 0n],
        [RC.OK, 1n],
      ])
      expect(withdrawals).to.deep.equal([
        { index: 0n, l2Sender: dave.address, to: L1_RECIPIENT, asset: 0, amount: 400n * USDC },
        { index: 1n, l2Sender: alice.address, to: alice.address, asset: 1, amount: GWEI_PER_ETH / 10n },
      ])
      const leaves = [leafOf(dave.address, L1_RECIPIENT, 0, 400n * USDC), leafOf(alice.address, alice.address, 1, GWEI_PER_ETH / 10n)]
      expect(e().outboxRoot()).to.equal(outboxRootOf(leaves))
      expect(e().outboxCount()).to.equal(2n)
      expect(e().account(dave.address).balances[0]).to.equal(600n * USDC)
      // the next batch starts a fresh log but the tree keeps growing
      const next = h.batch([await sign(dave, withdraw(L1_RECIPIENT, 0, 100n * USDC, 1n))])
      expect(next.withdrawals.map((w) => w.index)).to.deep.equal([2n])
      expect(e().outboxRoot()).to.equal(outboxRootOf([...leaves, leafOf(dave.address, L1_RECIPIENT, 0, 100n * USDC)]))
    })

    it('runs L1 transactions from the delayed inbox without signature or nonce', async () => {
      h.l2tx(dave.address, transfer(alice.address, 0, 1n * USDC, 0n))
      h.l2tx(dave.address, order(1, true, 48_000n * USDC, 20n, 999n)) // fills 0.02 @ 48,000 from alice's ask
      h.l2tx(dave.address, transfer(alice.address, 0, 10_000n * USDC, 0n)) // rejected: no effect
      h.delayed.push(Uint8Array.of(2, 1, 2, 3)) // garbage
      h.delayed.push(P.encodeDelayedMessage({ kind: 9, sender: dave.address, timestamp: 0n, payload: new Uint8Array(10) }))
      h.delayed.push(P.encodeDelayedMessage({ kind: 2, sender: dave.address, timestamp: 0n, payload: new Uint8Array(300) }))
      const before = e().nonce(dave.address)
      const overflow = h.batch([P.encodeDelayedItem(7)], { afterDelayedCount: BigInt(h.delayed.length), timestamp: h.clock })
      expect(overflow.results[0]!.code).to.equal(RC.DELAYED_OVERFLOW)
      expect(overflow.data.length).to.equal(6) // kept: DELAYED items stay in the batch whatever their outcome
      expect(e().nonce(dave.address)).to.equal(before)
      expect(sizes(e().account(dave.address))).to.deep.equal([{ market: 1, size: 20n }])
      // 1,000 in - 400 - 100 withdrawn - 1 transferred - 960 paid (0.02 × 48,000)
      expect(e().account(dave.address).balances[0]).to.equal(-461n * USDC)
      expect(e().account(dave.address).equity).to.equal(-461n * USDC + 1_000n * USDC)
      expect(e().delayedRead()).to.equal(BigInt(h.delayed.length))
    })

    it('replays every batch through run_batch to the identical machine', async () => {
      const b = await h.replay()
      expectSameMachine(h.engine, b)
      expect(b.batchCount()).to.equal(BigInt(h.batches.length))
    })

    it('restore puts a fresh instance into a copied state: same machine, and the same after the next batch', async () => {
      // a state some batches back (what a verifier goes back to after an L1 reorg)
      const back = await h.fresh()
      const upTo = h.batches.length - 2
      for (const m of h.batches.slice(0, upTo)) back.runBatch(m)
      const copy = { memory: new Uint8Array(back.memory.buffer).slice(), globals: back.globals() }
      const restored = await NativeEngine.load({ delayed: (i) => h.delayed[Number(i)]! })
      restored.restore(copy)
      expectSameMachine(restored, back)
      for (const m of h.batches.slice(upTo)) {
        restored.runBatch(m)
        back.runBatch(m)
      }
      expectSameMachine(restored, h.engine)
      expect(restored.account(dave.address)).to.deep.equal(h.engine.account(dave.address))
      expect(() => restored.restore(copy)).to.throw(/fresh engine instance/)
      // a state whose memory has grown past the module's initial pages
      const grown = new Uint8Array(copy.memory.length + 2 * 65_536)
      grown.set(copy.memory)
      grown[grown.length - 1] = 7
      const big = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      big.restore({ memory: grown, globals: copy.globals })
      expect(Buffer.compare(new Uint8Array(big.memory.buffer), grown)).to.equal(0)
      const other = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => other.restore({ memory: copy.memory.subarray(0, 1000), globals: copy.globals })).to.throw(/cannot restore 1000 bytes/)
      expect(() => other.restore({ memory: copy.memory, globals: [...copy.globals, { type: 'i32', value: 0n }] })).to.throw(/a different engine module/)
    })
  })

  describe('engine isolation', () => {
    it('a rejected item changes nothing outside scratch; queries change nothing at all', async () => {
      const h = await Harness.create()
      h.deposit(alice.address, 0, 1_000n * USDC)
      h.batch([])
      h.one(await sign(oracle, oraclePrice(1, 50_000n * USDC, 1n)))
      h.engine.beginBatch(h.header())
      expect(h.engine.execItem(await sign(alice, order(1, true, 50_000n * USDC, 100n, 0n))).code).to.equal(RC.OK)
      const snapshot = stateBytes(h.engine)
      const whole = new Uint8Array(h.engine.memory.buffer).slice()
      const rejected = [
        await sign(alice, order(1, true, 50_000n * USDC, 1_000n, 1n)), // margin
        await sign(alice, order(1, true, 50_000n * USDC, 100n, 0n)), // nonce
        await sign(alice, withdraw(alice.address, 0, 2_000n * USDC, 1n)),
        await sign(alice, transfer(bob.address, 0, 999n * USDC, 1n)), // margin after transfer
        await sign(bob, cancel(1n, 0n)),
        Uint8Array.of(0x01, 1, 2, 3), // truncated
        Uint8Array.of(0x77),
        new Uint8Array(0),
        new Uint8Array(95).fill(1),
      ]
      for (const item of rejected) {
        const r = h.engine.execItem(item)
        expect(r.code).to.not.equal(RC.OK)
        expect(Buffer.compare(stateBytes(h.engine), snapshot)).to.equal(0)
      }
      expect(h.engine.nonce(alice.address)).to.equal(1n)
      // queries between items leave even the scratch region as it was zeroed
      const m = new Uint8Array(h.engine.memory.buffer)
      m.fill(0, h.engine.scratchPtr, h.engine.scratchPtr + h.engine.scratchLen)
      const q = m.slice()
      h.engine.account(alice.address)
      h.engine.book(1, 100)
      h.engine.order(1n)
      h.engine.nonce(bob.address)
      h.engine.domainSeparator()
      expect(Buffer.compare(new Uint8Array(h.engine.memory.buffer), q)).to.equal(0)
      expect(whole.length).to.equal(q.length)
      h.engine.endBatch()
    })
  })

  describe('engine limits', () => {
    it('rejects a WITHDRAW past 1024 in one batch with CAPACITY, and the next batch has room again', async () => {
      const h = await Harness.create()
      h.deposit(dave.address, 0, 10_000n * USDC)
      h.batch([])
      for (let i = 0; i < P.MAX_WITHDRAWALS_PER_BATCH; i++) h.l2tx(dave.address, withdraw(L1_RECIPIENT, 0, 1n, 0n))
      const full = h.batch([P.encodeDelayedItem(P.MAX_WITHDRAWALS_PER_BATCH), await sign(dave, withdraw(L1_RECIPIENT, 0, 1n, 0n))])
      expect(full.results.map((r) => r.code)).to.deep.equal([RC.OK, RC.CAPACITY])
      expect(full.withdrawals.length).to.equal(P.MAX_WITHDRAWALS_PER_BATCH)
      expect(full.withdrawals[1023]!.index).to.equal(1023n)
      const next = h.batch([await sign(dave, withdraw(L1_RECIPIENT, 0, 1n, 0n))])
      expect(next.results[0]!.code).to.equal(RC.OK)
      expect(next.withdrawals).to.deep.equal([{ index: 1024n, l2Sender: dave.address, to: L1_RECIPIENT, asset: 0, amount: 1n }])
      expect(h.engine.account(dave.address).balances[0]).to.equal(10_000n * USDC - 1025n)
    })

    it('cancels a remainder that still crosses after 64 fills, so the book never crosses', async function () {
      this.timeout(30_000)
      const h = await Harness.create()
      h.deposit(alice.address, P.ASSET_COLLATERAL, 1_000_000n * USDC)
      h.deposit(bob.address, P.ASSET_COLLATERAL, 1_000_000n * USDC)
      h.batch([P.encodeDelayedItem(2)])
      h.one(await sign(oracle, oraclePrice(1, 50_000n * USDC, 1n)))
      for (let i = 0; i < 70; i++) expect(h.one(await sign(bob, order(1, false, 50_000n * USDC, 1n, BigInt(i)))).code).to.equal(RC.OK)
      const taker = h.one(await sign(alice, order(1, true, 50_000n * USDC, 100n, 0n)))
      expect(taker.code).to.equal(RC.OK)
      expect(taker.fills).to.have.length(64)
      expect(taker.filledSize).to.equal(64n)
      expect(h.engine.order(taker.orderId), 'the crossing remainder does not rest').to.equal(undefined)
      expect(h.engine.book(1, 5).bids).to.deep.equal([])
      expect(h.engine.book(1, 5).asks).to.deep.equal([{ price: 50_000n * USDC, size: 6n, orders: 6 }])
      // A remainder that no longer crosses still rests.
      const second = h.one(await sign(alice, order(1, true, 50_000n * USDC, 10n, 1n)))
      expect(second.filledSize).to.equal(6n)
      expect(h.engine.order(second.orderId)?.remaining).to.equal(4n)
    })

    it('aborts init on an invalid genesis with the reason', async () => {
      const e = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => e.init(P.encodeGenesis({ ...GENESIS, markets: [{ ...BTC, tickSize: 1n, stepSize: 1n }] }))).to.throw(/tickSize\*stepSize must be a multiple/)
      const e2 = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => e2.init(P.encodeGenesis({ ...GENESIS, markets: [BTC, BTC] }))).to.throw(/duplicate market id/)
      // genesis v1: chainId u64 ‖ admin ‖ feeAccount ‖ maxOracleAge u32 ‖ oracleCount u8 (53 bytes)
      // ‖ oracles ‖ marketCount u8 ‖ configs: 60 bytes now ends inside the oracle keys
      const e3 = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => e3.init(P.encodeGenesis(GENESIS).subarray(0, 60))).to.throw(/genesis: truncated/)
      const e4 = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => e4.init(new Uint8Array([...P.encodeGenesis(GENESIS), 0]))).to.throw(/genesis: bad length/)
      const e5 = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      const noOracle = P.encodeGenesis(GENESIS)
      noOracle[52] = 0
      expect(() => e5.init(noOracle)).to.throw(/genesis: need 1 to 8 oracle keys/)
      const e6 = await NativeEngine.load({ delayed: () => new Uint8Array(0) })
      expect(() => e6.init(P.encodeGenesis({ ...GENESIS, maxOracleAgeSeconds: 0 }))).to.throw(/maxOracleAge must be positive/)
    })
  })

  describe('engine equivalence and robustness', () => {
    it('~200 random items via execItem equal run_batch of the resulting batch data', async function () {
      this.timeout(60_000)
      const r = rng(12345)
      const h = await Harness.create()
      const traders = [alice, bob, carol, dave]
      for (const t of traders) {
        h.deposit(t.address, 0, 1_000_000n * USDC)
        h.deposit(t.address, 1, 10n * GWEI_PER_ETH)
      }
      h.batch([])
      h.batch([await sign(oracle, oraclePrice(1, 50_000n * USDC, 1n)), await sign(oracle, oraclePrice(2, 3_000n * USDC, 1n))])
      let oracleTs = 2n
      const codes = new Map<number, number>()
      for (let b = 0; b < 3; b++) {
        // delayed traffic for this batch: deposits, L1 transactions and garbage
        for (let i = 0; i < 8; i++) {
          const t = r.pick(traders)
          const k = r.int(4)
          if (k === 0) h.deposit(t.address, r.int(3), r.big(1000n) * USDC)
          else if (k === 1) h.l2tx(t.address, order(r.pick([1, 2]), r.next() < 0.5, BigInt(49_000 + r.int(2000)) * USDC, BigInt(1 + r.int(50)) * 1000n, 0n))
          else if (k === 2) h.l2tx(t.address, cancel(BigInt(1 + r.int(40)), 0n))
          else h.delayed.push(r.bytes(r.int(320)))
        }
        const header = { afterDelayedCount: BigInt(h.delayed.length), timestamp: BigInt(2000 + b) }
        h.engine.beginBatch(header)
        const delayedRead = () => h.engine.delayedRead()
        for (let i = 0; i < 70; i++) {
          const t = r.pick(traders)
          const nonce = h.engine.nonce(t.address) + (r.next() < 0.1 ? 1n : 0n)
          const k = r.int(10)
          let item: Uint8Array
          if (k <= 3) {
            const market = r.pick([1, 2, 3])
            const isBuy = r.next() < 0.5
            const price = market === 2 ? BigInt(2_950 + r.int(100)) * USDC + (r.next() < 0.05 ? 1n : 0n) : BigInt(49_800 + r.int(400)) * USDC
            const size = market === 2 ? BigInt(1 + r.int(30)) * 100_000n : BigInt(1 + r.int(400))
            item = await sign(t, order(market, isBuy, price, size, nonce))
          } else if (k === 4) item = await sign(t, cancel(BigInt(1 + r.int(Number(h.engine.nextOrderId()) + 2)), nonce))
          else if (k === 5) item = await sign(t, transfer(r.pick(traders).address, r.int(3), r.big(5_000n) * USDC, nonce))
          else if (k === 6) item = await sign(t, withdraw(t.address, r.int(2), r.big(1_000n) * USDC, nonce))
          else if (k === 7) {
            oracleTs += BigInt(r.int(3))
            const market = r.pick([1, 2])
            const price = market === 1 ? BigInt(49_900 + r.int(200)) * USDC : BigInt(3_000 + r.int(50)) * USDC
            item = await sign(r.next() < 0.8 ? oracle : t, oraclePrice(market, price, oracleTs))
          } else if (k === 8) {
            const pending = Number(header.afterDelayedCount - delayedRead())
            item = P.encodeDelayedItem(r.next() < 0.8 ? r.int(Math.max(1, pending + 1)) : pending + 1 + r.int(3))
          } else {
            // garbage: random bytes, sometimes with a valid type byte and length
            const type = r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff])
            const len = r.next() < 0.5 ? (P.ITEM_LENGTH[type] ?? 1 + r.int(120)) : 1 + r.int(120)
            item = r.bytes(len)
            item[0] = type
          }
          const res = h.engine.execItem(item)
          codes.set(res.code, (codes.get(res.code) ?? 0) + 1)
        }
        const { data } = h.engine.endBatch()
        h.batches.push(P.batchMessage(header, data))
      }
      // the mix exercised acceptance and many kinds of rejection
      expect(codes.get(RC.OK)).to.be.greaterThan(40)
      expect(codes.size).to.be.greaterThan(8)
      const b = await h.replay()
      expectSameMachine(h.engine, b)
      for (const t of traders) expect(b.account(t.address)).to.deep.equal(h.engine.account(t.address))
    })

    it('never traps on garbage batch data, garbage headers or garbage delayed messages', async () => {
      const r = rng(99)
      const h = await Harness.create()
      for (let i = 0; i < 50; i++) h.delayed.push(r.bytes(r.int(400)))
      for (let i = 0; i < 30; i++) {
        const data = r.bytes(r.int(600))
        if (r.next() < 0.7) data[0] = 0
        // DELAYED items that point into the garbage delayed messages
        if (data.length > 6 && r.next() < 0.5) data.set(P.encodeDelayedItem(r.int(4)), 1)
        const header = { afterDelayedCount: BigInt(Math.min(50, i * 2)), timestamp: BigInt(i) }
        h.engine.runBatch(P.batchMessage(header, data))
      }
      h.engine.runBatch(new Uint8Array(5)) // truncated header
      h.engine.runBatch(P.batchMessage({ afterDelayedCount: 0n, timestamp: 0n }, new Uint8Array(0))) // forceInclusion-style
      expect(h.engine.batchCount()).to.equal(32n)
      expect(h.engine.delayedRead()).to.equal(50n)
    })
  })

  describe('engine book at scale (L1 transactions, table growth)', () => {
    it('matches like a reference model through pool, level, index and account growth', async function () {
      this.timeout(60_000)
      const r = rng(7)
      const h = await Harness.create()
      const traders = Array.from({ length: 40 }, (_, i) => key(0x1000 + i).address)
      for (const t of traders) h.deposit(t, 0, 1_000_000_000n * USDC)
      // many one-off depositors: the account table and array grow
      for (let i = 0; i < 1500; i++) h.deposit(getAddress(toHex(BigInt(0xabc000 + i), { size: 20 })), 0, 1n)
      h.batch([])
      h.one(await sign(oracle, oraclePrice(1, 50_000n * USDC, 1n)))
      expect(h.engine.stats().accounts).to.equal(1541) // 40 + 1,500 depositors + the fee account

      // reference model
      type Ord = { id: bigint; owner: Address; isBuy: boolean; price: bigint; rem: bigint; seq: number }
      let book: Ord[] = []
      let nextId = h.engine.nextOrderId()
      let seq = 0
      const pos = new Map<Address, bigint>()
      const fillsExpected: { maker: bigint; price: bigint; size: bigint }[] = []
      const modelOrder = (owner: Address, isBuy: boolean, price: bigint, size: bigint) => {
        const id = nextId++
        let rem = size
        let fills = 0
        while (rem > 0n && fills < 64) {
          const opp = book.filter((o) => o.isBuy !== isBuy).sort((a, b) => (isBuy ? Number(a.price - b.price) : Number(b.price - a.price)) || a.seq - b.seq)
          const best = opp[0]
          if (!best || (isBuy ? best.price > price : best.price < price)) break
          if (best.owner === owner) {
            book = book.filter((o) => o !== best)
            continue
          }
          const f = rem < best.rem ? rem : best.rem
          best.rem -= f
          rem -= f
          fills++
          fillsExpected.push({ maker: best.id, price: best.price, size: f })
          pos.set(owner, (pos.get(owner) ?? 0n) + (isBuy ? f : -f))
          pos.set(best.owner, (pos.get(best.owner) ?? 0n) + (isBuy ? -f : f))
          if (best.rem === 0n) book = book.filter((o) => o !== best)
        }
        const still = book.filter((o) => o.isBuy !== isBuy).some((o) => (isBuy ? o.price <= price : o.price >= price))
        if (rem > 0n && !still) book.push({ id, owner, isBuy, price, rem, seq: seq++ })
      }
      const modelCancel = (owner: Address, id: bigint) => {
        const o = book.find((x) => x.id === id)
        if (o && o.owner === owner) book = book.filter((x) => x !== o)
      }

      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 900; i++) {
          const owner = r.pick(traders)
          if (r.next() < 0.2 && nextId > 1n) {
            const id = BigInt(1 + r.int(Number(nextId)))
            h.l2tx(owner, cancel(id, 0n))
            modelCancel(owner, id)
          } else {
            const isBuy = r.next() < 0.5
            // mostly non-crossing (deep book, many levels), sometimes aggressive
            const aggressive = r.next() < 0.08
            const ticks = aggressive ? (isBuy ? 50_000 + r.int(700) : 49_300 + r.int(700)) : isBuy ? 49_300 + r.int(700) : 50_001 + r.int(700)
            const size = BigInt(1 + r.int(200))
            h.l2tx(owner, order(1, isBuy, BigInt(ticks) * USDC, size, 0n))
            modelOrder(owner, isBuy, BigInt(ticks) * USDC, size)
          }
        }
        h.batch([])
      }
      expect(h.engine.nextOrderId()).to.equal(nextId)
      const stats = h.engine.stats()
      expect(stats.restingOrders).to.equal(book.length)
      expect(book.length).to.be.greaterThan(1024) // the order pool and index grew
      expect(stats.levelsHighWater).to.be.greaterThan(256) // the level pool grew
      // the book, level by level
      const levels = (isBuy: boolean) => {
        const m = new Map<bigint, { price: bigint; size: bigint; orders: number }>()
        for (const o of book.filter((x) => x.isBuy === isBuy)) {
          const l = m.get(o.price) ?? { price: o.price, size: 0n, orders: 0 }
          l.size += o.rem
          l.orders++
          m.set(o.price, l)
        }
        return [...m.values()].sort((a, b) => (isBuy ? Number(b.price - a.price) : Number(a.price - b.price)))
      }
      const view = h.engine.book(1, 100_000)
      expect(view.bids).to.deep.equal(levels(true).slice(0, 512))
      expect(view.asks).to.deep.equal(levels(false).slice(0, 512))
      // every resting order, and the open sizes per owner
      for (const o of book) expect(h.engine.order(o.id)).to.deep.equal(limitView(o.id, o.owner, 1, o.isBuy, o.price, o.rem))
      for (const t of traders) {
        const oi = h.engine.openInterest(t)[0] ?? { position: 0n, openBuys: 0n, openSells: 0n }
        expect(oi.position, t).to.equal(pos.get(t) ?? 0n)
        expect(oi.openBuys).to.equal(book.filter((o) => o.owner === t && o.isBuy).reduce((s, o) => s + o.rem, 0n))
        expect(oi.openSells).to.equal(book.filter((o) => o.owner === t && !o.isBuy).reduce((s, o) => s + o.rem, 0n))
      }
      // zero-sum positions and collateral: Σ position = 0, Σ collateral = deposits
      const accounts = traders.map((t) => h.engine.account(t))
      expect(accounts.reduce((s, a) => s + (a.positions[0]?.size ?? 0n), 0n)).to.equal(0n)
      expect(accounts.reduce((s, a) => s + a.balances[0]!, 0n)).to.equal(40n * 1_000_000_000n * USDC)
      expect(fillsExpected.length).to.be.greaterThan(100)
      expectSameMachine(h.engine, await h.replay())
    })
  })
})
