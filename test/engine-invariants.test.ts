/**
 * Engine v1 invariants over long seeded random runs, and fuzzing.
 *
 * The run: thousands of accounts trading three perpetuals and option series the admin lists as
 * the clock goes (limit GTC/GTT, IOC, FOK, market, post-only, reduce-only, stops and
 * take-profits, cancels, cancel-all, replaces, transfers, withdrawals, deposits and L1
 * transactions through the delayed inbox), three oracle keys random-walking the indices with
 * crashes and spikes, a keeper liquidating every account `liquidatable()` names, funding hours
 * and option expiries passing. After every batch:
 *   - collateral is conserved: Σ balances + insurance fund + Σ market pools = deposited − withdrawn;
 *   - long open interest = short open interest in every market;
 *   - nothing trapped (any throw fails the test).
 * After every liquidation, an account left flat with a negative balance is only allowed once the
 * insurance fund is exhausted (what deleveraging then could not cover); periodically no flat
 * account is below zero otherwise. A sample of rejected items is checked to leave memory outside
 * scratch unchanged, and a second engine replays every posted batch through run_batch to the
 * identical memory.
 *
 * Size: ENGINE_INVARIANT_ITEMS (default 300,000 items: ~40 s on a quiet 2-vCPU machine, ~2–3 min when it is loaded; 5,000,000 took 25 min),
 * ENGINE_INVARIANT_ACCOUNTS (default 2,000), ENGINE_INVARIANT_SEED.
 *
 * Signatures are real (libsecp256k1 via bench/signer.ts, byte-identical to viem's and checked
 * against it); the engine's ecrecover host call answers signatures this test made from the table
 * it recorded while signing (the bench's replayed-recovery trick) and recovers anything else (the
 * fuzzed items) with libsecp256k1.
 */
import { expect } from 'chai'
import { type Address, type Hex, bytesToHex, getAddress, hexToBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine } from '../executor/engine/host.js'
import { ecrecoverUncached } from '../executor/vm/ecrecover.js'
import * as P from '../sdk/protocol.js'
import { FastSigner } from '../bench/signer.js'
import { BRIDGE, USDC, expectSameMemory, stateBytes, usdc } from './helpers/engineHarness.js'
import { rng } from './helpers/rng.js'

const { ResultCode: RC } = P
const CHAIN_ID = 412346
const ITEMS = Number(process.env.ENGINE_INVARIANT_ITEMS ?? 300_000)
const ACCOUNTS = Number(process.env.ENGINE_INVARIANT_ACCOUNTS ?? 2_000)
const SEED = Number(process.env.ENGINE_INVARIANT_SEED ?? 0x5eed)

const keyOf = (n: number) => `0x${(0x10000 + n).toString(16).padStart(64, '0')}` as Hex

const PERPS: P.MarketConfig[] = [
  {
    id: 1, symbol: 'BTC-PERP', tickSize: usdc(1), stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: usdc(1_000_000), sizeDecimals: 3,
    initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, tierNotional: usdc(200_000), tierInitialMarginPpm: 20_000, tierMaintenanceMarginPpm: 10_000,
    makerFeePpm: 200, takerFeePpm: 500, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000, impactNotional: usdc(10_000), maxFundingPpbPerHour: 1_000_000,
  },
  {
    id: 2, symbol: 'ETH-PERP', tickSize: usdc('0.01'), stepSize: 1n, minSize: 1n, maxSize: 10_000_000n, maxPrice: usdc(100_000), sizeDecimals: 3,
    initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, tierNotional: usdc(100_000), tierInitialMarginPpm: 25_000, tierMaintenanceMarginPpm: 12_500,
    maxOpenInterest: 3_000_000n, makerFeePpm: 0, takerFeePpm: 300, liquidationFeePpm: 5_000, liquidationBandPpm: 20_000, impactNotional: usdc(5_000), maxFundingPpbPerHour: 500_000,
  },
  {
    id: 3, symbol: 'SOL-PERP', tickSize: 1_000n, stepSize: 1n, minSize: 1n, maxSize: 100_000_000n, maxPrice: usdc(10_000), sizeDecimals: 1,
    initialMarginPpm: 200_000, maintenanceMarginPpm: 100_000, makerFeePpm: 100, takerFeePpm: 700, liquidationFeePpm: 20_000, liquidationBandPpm: 100_000,
    impactNotional: usdc(1_000), maxFundingPpbPerHour: 2_000_000,
  },
]
const START_PRICE = [usdc(50_000), usdc(2_000), usdc(100)]

/** Signs with libsecp256k1 and records each signature's answer for the engine's ecrecover. */
class Signing {
  readonly signer = new FastSigner(CHAIN_ID)
  private readonly table = new Map<string, Uint8Array>()
  hits = 0
  misses = 0
  sign(key: Uint8Array, address: Uint8Array, tx: P.TxMessage): Uint8Array {
    const digest = this.signer.digest(tx)
    const sig = this.signer.sign(key, tx)
    const item = P.encodeItem(tx, sig)
    this.table.set(Buffer.from(digest).toString('latin1') + Buffer.from(item.subarray(item.length - 65)).toString('latin1'), address)
    return item
  }
  recover = (digest: Uint8Array, vrs: Uint8Array): Uint8Array | undefined => {
    const a = this.table.get(Buffer.from(digest).toString('latin1') + Buffer.from(vrs).toString('latin1'))
    if (a) {
      this.hits++
      return a.slice()
    }
    this.misses++
    return ecrecoverUncached(digest, vrs)
  }
  /** Forgets the signatures of batches both engines have run. */
  clear() { this.table.clear() }
}

interface Trader { key: Uint8Array; address: Address; raw: Uint8Array; nonce: bigint; orders: bigint[] }

describe('engine v1 invariants (long random run) and fuzzing', function () {
  this.timeout(ITEMS > 1_000_000 ? 0 : 1_800_000)
  before(async () => {
    await buildEngine()
  })

  it(`keeps conservation, OI balance and solvency over ${ITEMS.toLocaleString('en')} items, ${ACCOUNTS.toLocaleString('en')} accounts`, async () => {
    const r = rng(SEED)
    const signing = new Signing()
    await signing.signer.crossCheckWithViem([{ key: keyOf(1), tx: { kind: 'Order', message: { market: 2, isBuy: true, price: usdc(2_000), size: 5n, orderType: 0, timeInForce: 1, reduceOnly: true, expiry: 99n, nonce: 3n } } }])
    const oracleKeys = [0xa1, 0xa2, 0xa3].map((n) => keyOf(0xf000 + n))
    const adminKey = keyOf(0xfadd)
    const oracles = oracleKeys.map((k) => ({ key: hexToBytes(k), raw: hexToBytes(privateKeyToAccount(k).address), address: privateKeyToAccount(k).address }))
    const admin = { key: hexToBytes(adminKey), raw: hexToBytes(privateKeyToAccount(adminKey).address), address: privateKeyToAccount(adminKey).address, nonce: 0n }
    const genesis: P.GenesisConfig = {
      chainId: CHAIN_ID, oracle: oracles[0]!.address, oracles: oracles.map((o) => o.address), admin: admin.address,
      feeAccount: getAddress('0x000000000000000000000000000000000000fee5'), maxOracleAgeSeconds: 300, markets: PERPS,
    }
    const traders: Trader[] = Array.from({ length: ACCOUNTS }, (_, i) => {
      // derived addresses without EC multiplications per account would not sign: use real keys
      const k = keyOf(i)
      const address = privateKeyToAccount(k).address
      return { key: hexToBytes(k), address, raw: hexToBytes(address), nonce: 0n, orders: [] }
    })
    const delayed: Uint8Array[] = []
    const getDelayed = (i: bigint) => delayed[Number(i)]!
    const engine = await NativeEngine.load({ delayed: getDelayed, ecrecover: signing.recover })
    const replay = await NativeEngine.load({ delayed: getDelayed, ecrecover: signing.recover })
    engine.init(P.encodeGenesis(genesis))
    replay.init(P.encodeGenesis(genesis))

    const deposit = (t: Trader, amount: bigint) =>
      delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(t.address, 0, amount) }))
    for (const t of traders) deposit(t, usdc(1_000 + r.int(50_000)))

    // market state the generator keeps: the index of each perpetual and the live option series
    const price = [...START_PRICE]
    const oracleTs = [0n, 0n, 0n]
    interface Series { id: number; kind: number; strike: bigint; expiry: bigint }
    let series: Series[] = []
    let nextSeriesId = 100
    let nextListing = 0n
    let clock = 1_000n
    const stats: Record<string, number> = {}
    const count = (k: string, n = 1) => { stats[k] = (stats[k] ?? 0) + n }
    let items = 0
    let batches = 0
    let rejectedChecked = 0
    const badDebt = new Set<Address>()

    const tick = (m: number) => PERPS[m - 1]!.tickSize
    const roundTick = (p: bigint, t: bigint) => (p / t < 1n ? t : (p / t) * t)
    const sign = (t: { key: Uint8Array; raw: Uint8Array }, tx: P.TxMessage) => signing.sign(t.key, t.raw, tx)

    const exec = (bytes: Uint8Array, kind: string, who?: Trader): P.ItemResult => {
      const check = items % 7 === 0
      const before = check ? stateBytes(engine) : undefined
      const res = engine.execItem(bytes)
      items++
      count(`${kind}:${res.code === RC.OK ? 'ok' : P.resultCodeName(res.code)}`)
      if (res.code !== RC.OK && before) {
        expectSameMemory(stateBytes(engine), before, `rejected ${kind} (${P.resultCodeName(res.code)})`)
        rejectedChecked++
      }
      if (res.code === RC.OK && who) who.nonce++
      return res
    }

    const randomOrder = (t: Trader): { tx: P.TxMessage; kind: string } => {
      const useOption = series.length > 0 && r.chance(0.12)
      let market: number
      let mid: bigint
      let tk: bigint
      if (useOption) {
        const s = r.pick(series)
        market = s.id
        const idx = price[1]!
        const iv = s.kind === P.MarketKind.CALL ? (idx > s.strike ? idx - s.strike : 0n) : (s.strike > idx ? s.strike - idx : 0n)
        mid = iv + idx / 50n // intrinsic + 2% time value
        tk = usdc('0.01')
      } else {
        market = 1 + r.int(3)
        mid = price[market - 1]!
        tk = tick(market)
      }
      const isBuy = r.chance(0.5)
      const k = r.int(100)
      const spread = BigInt(r.int(300)) // basis points from mid
      const away = (mid * spread) / 10_000n
      // about 8x leverage on the account's deposit scale, smaller for options
      const notional = usdc(200 + r.int(useOption ? 2_000 : 60_000))
      const scale = market === 3 ? 10n : 1000n
      let size = (notional * scale) / (mid > 0n ? mid : 1n)
      if (size < 1n) size = 1n
      const msg: P.OrderMsg = { market, isBuy, price: 0n, size, nonce: t.nonce }
      let kind: string
      if (k < 45) { // resting limit (GTC, some GTT)
        msg.price = roundTick(isBuy ? mid - away : mid + away, tk)
        if (r.chance(0.15)) msg.expiry = clock + BigInt(30 + r.int(600))
        if (r.chance(0.1)) msg.postOnly = true
        kind = 'limit'
      } else if (k < 70) { // crossing: IOC or GTC through the spread
        msg.price = roundTick(isBuy ? mid + away + tk : mid - away > tk ? mid - away : tk, tk)
        if (r.chance(0.6)) msg.timeInForce = P.TimeInForce.IOC
        kind = 'cross'
      } else if (k < 76) {
        msg.price = roundTick(isBuy ? mid + away : mid - away > tk ? mid - away : tk, tk)
        msg.timeInForce = P.TimeInForce.FOK
        kind = 'fok'
      } else if (k < 82) {
        msg.price = roundTick(isBuy ? (mid * 11n) / 10n : (mid * 9n) / 10n, tk)
        msg.orderType = P.OrderType.MARKET
        msg.timeInForce = P.TimeInForce.IOC
        kind = 'market'
      } else if (k < 92) {
        msg.price = roundTick(isBuy ? mid + away : mid - away > tk ? mid - away : tk, tk)
        msg.reduceOnly = true
        msg.size = size * 3n
        kind = 'reduce'
      } else {
        // stop / take-profit on a perpetual
        if (useOption) { market = 1 + r.int(3); msg.market = market; mid = price[market - 1]!; tk = tick(market); msg.size = market === 3 ? 10n + BigInt(r.int(500)) : 1n + BigInt(r.int(300)) }
        const stop = r.chance(0.5)
        msg.orderType = stop ? P.OrderType.STOP_MARKET : P.OrderType.TAKE_PROFIT_MARKET
        const dist = (mid * BigInt(50 + r.int(800))) / 10_000n
        // buy stop above, buy take-profit below; sell stop below, sell take-profit above
        const above = isBuy === stop
        msg.triggerPrice = roundTick(above ? mid + dist : mid - dist, tk)
        msg.price = roundTick(isBuy ? (mid * 12n) / 10n : (mid * 8n) / 10n, tk)
        msg.reduceOnly = r.chance(0.5)
        kind = 'trigger'
      }
      if (msg.size > 100_000_000n) msg.size = 100_000_000n
      return { tx: { kind: 'Order', message: msg }, kind }
    }

    const oracleMoves = () => {
      for (let m = 0; m < 3; m++) {
        if (!r.chance(0.6)) continue
        const shock = r.int(1000)
        let bp = BigInt(r.int(101) - 50) // ±0.5%
        if (shock < 4) bp = -BigInt(1_000 + r.int(2_000)) // crash 10–30%
        else if (shock < 7) bp = BigInt(1_000 + r.int(1_500)) // spike
        let p = price[m]! + (price[m]! * bp) / 10_000n
        const floor = START_PRICE[m]! / 10n
        if (p < floor) p = floor
        if (p > START_PRICE[m]! * 10n) p = START_PRICE[m]! * 10n
        price[m] = roundTick(p, PERPS[m]!.tickSize)
        if (shock < 7) count('oracle:shock')
        // usually all three keys, sometimes one lags (the median still holds)
        for (const o of oracles) {
          if (r.chance(0.15)) continue
          const noise = (price[m]! * BigInt(r.int(21) - 10)) / 100_000n
          const ts = clock > oracleTs[m]! ? clock : oracleTs[m]! + 1n
          exec(sign(o, { kind: 'OraclePrice', message: { market: m + 1, price: roundTick(price[m]! + noise, PERPS[m]!.tickSize), timestamp: ts } }), 'oracle')
        }
        oracleTs[m] = clock > oracleTs[m]! ? clock : oracleTs[m]! + 1n
      }
    }

    const liquidateAll = () => {
      const ledger0 = engine.ledger()
      for (const a of engine.liquidatable()) {
        const res = exec(P.encodeLiquidateItem(a), 'liquidate')
        if (res.code !== RC.OK) continue
        const acct = engine.account(a)
        if (acct.positions.every((p) => p.size === 0n) && acct.balances[0]! < 0n) {
          // a loss left uncovered: only once the fund is empty and deleveraging could not take it
          expect(engine.ledger().insuranceFund, `liquidated ${a} left at ${acct.balances[0]} with a fund`).to.equal(0n)
          badDebt.add(a)
          count('liquidate:uncovered')
        }
      }
      void ledger0
    }

    const checkInvariants = (full: boolean) => {
      const l = engine.ledger()
      if (l.balances + l.insuranceFund + l.pools !== l.deposited - l.withdrawn)
        expect.fail(`batch ${batches}: Σ balances ${l.balances} + insurance ${l.insuranceFund} + pools ${l.pools} != deposited ${l.deposited} - withdrawn ${l.withdrawn}`)
      for (const id of engine.marketIds()) {
        const m = engine.market(id)!
        if (m.openInterest !== m.shortOpenInterest) expect.fail(`batch ${batches}: market ${id} long OI ${m.openInterest} != short OI ${m.shortOpenInterest}`)
      }
      if (full) {
        for (const t of traders) {
          const a = engine.account(t.address)
          if (a.balances[0]! < 0n && a.positions.every((p) => p.size === 0n) && !badDebt.has(t.address))
            expect.fail(`batch ${batches}: ${t.address} is flat at ${a.balances[0]} without a liquidation that exhausted the fund`)
        }
      }
    }

    const t0 = performance.now()
    while (items < ITEMS) {
      clock += BigInt(5 + r.int(90))
      // the admin lists a call and a put on ETH every ~2 hours, expiring 1–3 hours later
      const listing = clock >= nextListing && engine.marketIds().length < 62
      // the delayed inbox: top-ups, L1 orders, junk
      for (let n = r.int(4); n > 0; n--) {
        const k = r.int(10)
        const t = r.pick(traders)
        if (k < 5) deposit(t, usdc(100 + r.int(20_000)))
        else if (k < 9) {
          const m = 1 + r.int(3)
          const mid = price[m - 1]!
          const isBuy = r.chance(0.5)
          const p = roundTick(isBuy ? mid + mid / 200n : mid - mid / 200n, tick(m))
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender: t.address, timestamp: 0n, payload: P.encodeUnsignedItem({ kind: 'Order', message: { market: m, isBuy, price: p, size: m === 3 ? 50n : 20n, timeInForce: P.TimeInForce.IOC, nonce: 0n } }) }))
          count('delayed:l2tx')
        } else delayed.push(r.bytes(r.int(80)))
      }
      const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: clock }
      engine.beginBatch(header)
      if (listing) {
        const s = price[1]!
        for (const kind of [P.MarketKind.CALL, P.MarketKind.PUT]) {
          const strike = roundTick(kind === P.MarketKind.CALL ? s + s / 20n : s - s / 20n, usdc(1))
          const cfg: P.MarketConfig = {
            id: nextSeriesId, symbol: `ETH-${nextSeriesId}`, kind, underlying: 2, strike, expiry: clock + 3_600n + BigInt(r.int(7_200)),
            tickSize: usdc('0.01'), stepSize: 1n, minSize: 1n, maxSize: 10_000_000n, maxPrice: usdc(100_000), sizeDecimals: 3,
            initialMarginPpm: 150_000, maintenanceMarginPpm: 75_000, optionMinPpm: 100_000, takerFeePpm: 300, liquidationFeePpm: 5_000,
          }
          const res = exec(sign(admin, { kind: 'AdminAction', message: { action: P.AdminAction.ADD_MARKET, config: bytesToHex(P.encodeMarketConfig(cfg)), nonce: admin.nonce } }), 'admin')
          if (res.code === RC.OK) {
            admin.nonce++
            series.push({ id: nextSeriesId, kind, strike, expiry: cfg.expiry! })
          }
          nextSeriesId++
        }
        nextListing = clock + 7_200n
      }
      oracleMoves()
      series = series.filter((s) => s.expiry > clock)
      liquidateAll()
      const n = 20 + r.int(180)
      for (let i = 0; i < n; i++) {
        const t = r.pick(traders)
        const k = r.int(100)
        const wrongNonce = r.chance(0.01)
        const nonce = wrongNonce ? t.nonce + 1n + BigInt(r.int(3)) : t.nonce
        if (k < 60) {
          const { tx, kind } = randomOrder(t)
          ;(tx.message as P.OrderMsg).nonce = nonce
          const res = exec(sign(t, tx), kind, t)
          if (res.code === RC.OK && res.orderId !== 0n) {
            t.orders.push(res.orderId)
            if (t.orders.length > 40) t.orders.shift()
          }
        } else if (k < 82) {
          const id = t.orders.length > 0 && r.chance(0.9) ? t.orders.splice(r.int(t.orders.length), 1)[0]! : BigInt(1 + r.int(1000))
          exec(sign(t, { kind: 'Cancel', message: { orderId: id, nonce } }), 'cancel', t)
        } else if (k < 85) {
          exec(sign(t, { kind: 'CancelAll', message: { market: r.chance(0.5) ? P.ALL_MARKETS : 1 + r.int(3), nonce } }), 'cancelAll', t)
          t.orders = []
        } else if (k < 92) {
          if (t.orders.length === 0) continue
          const id = r.pick(t.orders)
          const o = engine.order(id)
          expect(engine.orderRemaining(id)).to.equal(o?.remaining ?? 0n)
          if (!o) continue
          const p = o.market <= 3 ? roundTick(o.price + (o.isBuy ? -1n : 1n) * BigInt(r.int(5)) * tick(o.market), tick(o.market)) : o.price
          const res = exec(sign(t, { kind: 'Replace', message: { orderId: id, price: p, size: o.remaining + BigInt(r.int(3)), nonce } }), 'replace', t)
          if (res.code === RC.OK) t.orders[t.orders.indexOf(id)] = res.orderId
        } else if (k < 95) {
          exec(sign(t, { kind: 'Transfer', message: { to: r.pick(traders).address, asset: 0, amount: usdc(1 + r.int(2_000)), nonce } }), 'transfer', t)
        } else if (k < 97) {
          exec(sign(t, { kind: 'Withdraw', message: { to: t.address, asset: 0, amount: usdc(1 + r.int(5_000)), nonce } }), 'withdraw', t)
        } else {
          exec(P.encodeDelayedItem(r.int(3)), 'delayed')
        }
      }
      const { data } = engine.endBatch()
      batches++
      replay.runBatch(P.batchMessage(header, data))
      signing.clear()
      checkInvariants(batches % 50 === 0)
      if (batches % 25 === 0) expectSameMemory(new Uint8Array(replay.memory.buffer), new Uint8Array(engine.memory.buffer), `batch ${batches}: run_batch replay`)
    }
    checkInvariants(true)
    expectSameMemory(new Uint8Array(replay.memory.buffer), new Uint8Array(engine.memory.buffer), 'final run_batch replay')
    expect(replay.globals()).to.deep.equal(engine.globals())
    const l = engine.ledger()
    const s = engine.stats()
    const secs = (performance.now() - t0) / 1000
    const ok = (p: string) => Object.entries(stats).filter(([k]) => k.startsWith(p) && k.endsWith(':ok')).reduce((a, [, v]) => a + v, 0)
    console.log(`      ${items.toLocaleString('en')} items in ${batches} batches (${secs.toFixed(0)} s, clock ${(Number(clock - 1_000n) / 3600).toFixed(1)} h): ${ok('')} accepted; ` +
      `${l.liquidations} liquidations, ${l.deleverages} deleverages, insurance ${l.insuranceFund} (paid ${l.insurancePaid}), fees ${l.fees}; ` +
      `${engine.marketIds().length - 3} option series listed; ${s.accounts} accounts, ${s.restingOrders} open orders, ${s.memoryPages} pages; ` +
      `${rejectedChecked} rejected items checked unchanged; uncovered losses: ${badDebt.size}; recovery table ${signing.hits} hits, ${signing.misses} misses`)
    console.log(`      outcomes: ${JSON.stringify(Object.fromEntries(Object.entries(stats).sort(([a], [b]) => a.localeCompare(b))))}`)
    // the run exercised what it is meant to
    expect(Number(l.liquidations)).to.be.greaterThan(0)
    expect(stats['oracle:shock'] ?? 0).to.be.greaterThan(0)
    expect(ok('cross') + ok('market') + ok('fok')).to.be.greaterThan(1000)
    for (const k of ['limit', 'cancel', 'cancelAll', 'replace', 'trigger', 'reduce', 'transfer', 'withdraw', 'admin']) expect(stats[`${k}:ok`] ?? 0, k).to.be.greaterThan(0)
    expect(rejectedChecked).to.be.greaterThan(100)
    for (const id of [1, 2, 3]) expect(engine.fundingHistory(id).length).to.be.greaterThan(0)
    expect(engine.marketIds().slice(3).some((id) => engine.market(id)!.settled)).to.equal(true)
  })

  it('fuzz: random bytes and mutated items as batch items, batch data and delayed messages never trap; rejected items change nothing', async () => {
    const r = rng(SEED + 1)
    const signing = new Signing()
    const keys = Array.from({ length: 8 }, (_, i) => keyOf(0x500 + i))
    const ts = keys.map((k) => ({ key: hexToBytes(k), raw: hexToBytes(privateKeyToAccount(k).address), address: privateKeyToAccount(k).address }))
    const oracleKey = keyOf(0x0dac1e)
    const oracle = { key: hexToBytes(oracleKey), raw: hexToBytes(privateKeyToAccount(oracleKey).address), address: privateKeyToAccount(oracleKey).address }
    const genesis: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: PERPS }
    const delayed: Uint8Array[] = []
    const engine = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]!, ecrecover: signing.recover })
    engine.init(P.encodeGenesis(genesis))
    for (const t of ts) delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(t.address, 0, 1_000_000n * USDC) }))
    const messages: Uint8Array[] = []
    let clock = 1_000n
    const runMessage = (m: Uint8Array) => { messages.push(m); engine.runBatch(m) }
    runMessage(P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: clock }, Uint8Array.of(0, ...signing.sign(oracle.key, oracle.raw, { kind: 'OraclePrice', message: { market: 1, price: usdc(50_000), timestamp: clock } }), ...signing.sign(oracle.key, oracle.raw, { kind: 'OraclePrice', message: { market: 2, price: usdc(2_000), timestamp: clock } }))))

    const valid = (): Uint8Array => {
      const t = r.pick(ts)
      const nonce = engine.nonce(t.address)
      const k = r.int(9)
      const m = 1 + r.int(2)
      const px = m === 1 ? usdc(50_000) : usdc(2_000)
      switch (k) {
        case 0: return signing.sign(t.key, t.raw, { kind: 'Order', message: { market: m, isBuy: r.chance(0.5), price: px + BigInt(r.int(21) - 10) * PERPS[m - 1]!.tickSize * 10n, size: BigInt(1 + r.int(500)), timeInForce: r.int(3), postOnly: r.chance(0.1), reduceOnly: r.chance(0.1), expiry: r.chance(0.2) ? clock + BigInt(r.int(100)) : 0n, nonce } })
        case 1: return signing.sign(t.key, t.raw, { kind: 'Order', message: { market: m, isBuy: r.chance(0.5), price: px, size: BigInt(1 + r.int(50)), orderType: 2 + r.int(2), triggerPrice: px + BigInt(r.int(2001) - 1000) * PERPS[m - 1]!.tickSize, nonce } })
        case 2: return signing.sign(t.key, t.raw, { kind: 'Cancel', message: { orderId: BigInt(r.int(Number(engine.nextOrderId()) + 1)), nonce } })
        case 3: return signing.sign(t.key, t.raw, { kind: 'CancelAll', message: { market: r.chance(0.5) ? P.ALL_MARKETS : m, nonce } })
        case 4: return signing.sign(t.key, t.raw, { kind: 'Replace', message: { orderId: BigInt(r.int(Number(engine.nextOrderId()) + 1)), price: px, size: BigInt(1 + r.int(100)), nonce } })
        case 5: return signing.sign(t.key, t.raw, { kind: 'Transfer', message: { to: r.pick(ts).address, asset: r.int(2), amount: BigInt(1 + r.int(1_000_000)), nonce } })
        case 6: return signing.sign(t.key, t.raw, { kind: 'Withdraw', message: { to: t.address, asset: 0, amount: BigInt(1 + r.int(1_000_000)), nonce } })
        case 7: return signing.sign(oracle.key, oracle.raw, { kind: 'OraclePrice', message: { market: m, price: (px * BigInt(90 + r.int(21))) / 100n, timestamp: clock } })
        default: return P.encodeLiquidateItem(r.pick(ts).address)
      }
    }
    const mutate = (b: Uint8Array): Uint8Array => {
      const x = b.slice()
      const k = r.int(6)
      if (k === 0) { const i = r.int(x.length); x[i] = x[i]! ^ (1 << r.int(8)) } // a bit
      else if (k === 1) for (let i = r.int(8); i >= 0; i--) x[r.int(x.length)] = r.int(256) // bytes
      else if (k === 2) x[0] = r.int(12) // the type
      else if (k === 3 && x.length > 5) x[5] = r.int(256) // an ORDER's options byte (its length follows)
      else if (k === 4) return x.subarray(0, r.int(x.length)) // truncated
      else return Uint8Array.of(...x, ...r.bytes(1 + r.int(10))) // extended
      return x
    }

    let checked = 0
    let accepted = 0
    const FUZZ_BATCHES = 300
    for (let b = 0; b < FUZZ_BATCHES; b++) {
      clock += BigInt(r.int(120))
      // delayed messages: random bytes, mutated L2 transactions, deposits with odd fields
      for (let n = r.int(4); n > 0; n--) {
        const k = r.int(4)
        if (k === 0) delayed.push(r.bytes(r.int(300)))
        else if (k === 1) {
          const item = valid()
          const body = item[0] === P.ITEM_LIQUIDATE ? item : item.subarray(0, item.length - 65)
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender: r.pick(ts).address, timestamp: 0n, payload: r.chance(0.5) ? mutate(body) : body }))
        } else if (k === 2) delayed.push(mutate(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(r.pick(ts).address, r.int(3), r.big(1n << 64n)) })))
        else delayed.push(P.encodeDelayedMessage({ kind: r.int(4), sender: BRIDGE, timestamp: r.big(1n << 64n), payload: r.bytes(r.int(260)) }))
      }
      const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: clock }
      if (b % 3 === 0) {
        // whole batch data: random bytes, or valid items with garbage, run through run_batch
        const parts: number[] = [r.chance(0.8) ? 0 : r.int(256)]
        for (let n = r.int(8); n > 0; n--) parts.push(...(r.chance(0.5) ? mutate(valid()) : r.chance(0.5) ? valid() : r.bytes(r.int(120))))
        runMessage(P.batchMessage(header, Uint8Array.from(parts)))
        if (r.chance(0.1)) runMessage(P.batchMessage(header, r.bytes(r.int(40)))) // any format byte, or no data at all
      } else {
        engine.beginBatch(header)
        for (let n = 1 + r.int(30); n > 0; n--) {
          const item = r.chance(0.7) ? mutate(valid()) : r.chance(0.5) ? valid() : r.bytes(1 + r.int(200))
          const before = stateBytes(engine)
          const res = engine.execItem(item)
          if (res.code !== RC.OK) {
            expectSameMemory(stateBytes(engine), before, `rejected fuzz item (${P.resultCodeName(res.code)})`)
            checked++
          } else accepted++
        }
        const { data } = engine.endBatch()
        messages.push(P.batchMessage(header, data))
      }
      const l = engine.ledger()
      expect(l.balances + l.insuranceFund + l.pools, `batch ${b}: conservation`).to.equal(l.deposited - l.withdrawn)
      for (const id of engine.marketIds()) {
        const m = engine.market(id)!
        expect(m.openInterest, `batch ${b}: market ${id} OI`).to.equal(m.shortOpenInterest)
      }
    }
    // every message, the posted batch data of execItem batches included, replays to the same memory
    const again = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]!, ecrecover: (d, v) => ecrecoverUncached(d, v) })
    again.init(P.encodeGenesis(genesis))
    for (const m of messages) again.runBatch(m)
    expectSameMemory(new Uint8Array(again.memory.buffer), new Uint8Array(engine.memory.buffer), 'fuzz replay')
    console.log(`      ${FUZZ_BATCHES} fuzz batches, ${delayed.length} delayed messages: ${checked} rejected items checked unchanged, ${accepted} accepted`)
    expect(checked).to.be.greaterThan(1000)
    expect(accepted).to.be.greaterThan(10)
  })
})
