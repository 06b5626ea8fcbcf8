/**
 * The VM against the native engine: the same batches (every item kind of engine v1 with its
 * options, deposits and L2 transactions through the delayed inbox, malformed bytes) run natively
 * and through the interpreter from the same starting state must leave identical memory, globals
 * and state roots after every batch.
 */
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { type Address, type Hex, bytesToHex, getAddress } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import { listContext, loadEngineProgram, machineFromEngine, runBatchVm } from '../executor/vm/engine.js'
import { Machine, Status, type VmContext } from '../executor/vm/machine.js'
import { machineHash, quiescentStateRoot } from '../executor/vm/machineHash.js'
import type { Program } from '../executor/vm/program.js'
import { Trace } from '../executor/vm/trace.js'
import { step } from '../executor/vm/interpreter.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'
import { rng } from './helpers/rng.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const traders = [0xa11ce, 0xb0b, 0xca201, 0xda7e, 0xe7e].map(key)
/** Traders with little collateral and large orders: price moves make them liquidatable. */
const thin = [0x7111, 0x7112, 0x7113].map(key)
const everyone = [...traders, ...thin]
const oracle = key(0x0dac1e)
const oracles = [oracle, key(0x0dac2e), key(0x0dac3e)]
const admin = key(0xad111)
const feeAccount = key(0xfee)
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const START = 1_000n
const HOUR = 3_600n

const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
const ETH: P.MarketConfig = {
  id: 2, symbol: 'ETH-PERP', tickSize: 10_000n, stepSize: 1_000n, minSize: 1_000n, maxSize: 100_000_000n, maxPrice: 10_000_000_000n,
  sizeDecimals: 6, initialMarginPpm: 50_000, maintenanceMarginPpm: 30_000,
}
const GENESIS: P.GenesisConfig = { chainId: CHAIN_ID, oracle: oracle.address, markets: [BTC, ETH] }

/**
 * The v1 genesis of the random run: three oracle keys with a 15-minute staleness bound, an admin
 * and a fee account of their own; BTC with fees, margin tiers, an open-interest cap, a liquidation
 * fee and band and funding; ETH with funding only; a BTC call and an ETH put expiring during the run.
 */
const BTC_V1: P.MarketConfig = {
  ...BTC, makerFeePpm: 200, takerFeePpm: 500, tierNotional: 100_000n * USDC, tierInitialMarginPpm: 20_000, tierMaintenanceMarginPpm: 10_000,
  maxOpenInterest: 40_000n, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000, impactNotional: 5_000n * USDC, maxFundingPpbPerHour: 500_000,
}
const ETH_V1: P.MarketConfig = { ...ETH, impactNotional: 3_000n * USDC, maxFundingPpbPerHour: 1_000_000, liquidationBandPpm: 30_000 }
const optionOf = (id: number, u: P.MarketConfig, kind: number, strike: bigint, expiry: bigint): P.MarketConfig => ({
  ...u, id, symbol: `OPT-${id}`, kind, underlying: u.id, strike, expiry, maxPrice: u.maxPrice / 2n, initialMarginPpm: 150_000,
  maintenanceMarginPpm: 75_000, optionMinPpm: 100_000, tierNotional: 0n, maxOpenInterest: 0n, impactNotional: 0n, maxFundingPpbPerHour: 0,
  liquidationBandPpm: 0, takerFeePpm: 300, makerFeePpm: 0,
})
const GENESIS_V1: P.GenesisConfig = {
  chainId: CHAIN_ID, oracle: oracle.address, oracles: oracles.map((o) => o.address), admin: admin.address, feeAccount: feeAccount.address,
  maxOracleAgeSeconds: 900,
  markets: [BTC_V1, ETH_V1, optionOf(3, BTC_V1, P.MarketKind.CALL, 50_000n * USDC, START + 5n * HOUR), optionOf(4, ETH_V1, P.MarketKind.PUT, 3_000n * USDC, START + 9n * HOUR)],
}

const sign = (account: LocalAccount, tx: P.TxMessage) => signItem(account, CHAIN_ID, tx)


function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

/** Rounds `v` down to a multiple of `step` (at least one step). */
const onStep = (v: bigint, step: bigint) => (v / step > 0n ? (v / step) * step : step)

describe('vm engine', function () {
  this.timeout(300_000)
  let wasm: Uint8Array
  let program: Program

  before(async () => {
    await buildEngine()
    wasm = new Uint8Array(readFileSync(engineWasmPath()))
    program = loadEngineProgram(wasm)
  })

  it('loads engine.wasm: integer-only, host imports only, lowered with a code root', () => {
    expect(program.op.length).to.be.greaterThan(1000)
    expect(program.codeRoot()).to.have.length(32)
    expect(program.globalTypes.length).to.equal(0)
  })

  /**
   * Random batches of every item kind and option: limit/market/stop/take-profit orders with
   * GTC/IOC/FOK, post-only, reduce-only and expiries (some invalid), cancels, cancel-alls, replaces,
   * transfers, withdrawals, prices from three oracle keys (some stale, some from strangers),
   * LIQUIDATE of accounts below maintenance, ADMIN additions and updates of markets (some refused),
   * deposits and L1 transactions through the delayed inbox, junk. The clock moves by seconds to
   * minutes and now and then jumps hours (funding hours pass, oracle prices go stale, options expire).
   * Half the batches are built item by item (execItem: the host cuts rejected items, and the result
   * codes are tallied), half are raw bytes through runBatch (rejected items stay in the data).
   * After each batch: VM and native memories and globals equal, and the engine's ledger balances
   * (Σ balances + insurance + pools = deposited − withdrawn, long OI = short OI in every market).
   */
  it('runs thousands of random batches exactly like the native engine', async () => {
    const delayed: Uint8Array[] = []
    const getDelayed = (i: bigint) => {
      const m = delayed[Number(i)]
      if (!m) throw new Error(`no delayed message ${i}`)
      return m
    }
    const native = await NativeEngine.load({ delayed: getDelayed })
    native.init(P.encodeGenesis(GENESIS_V1))
    const tracker = new StateRootTracker(native)
    const messages: Uint8Array[] = []
    let position = 0n
    const ctx: VmContext = { message: (pos) => messages[Number(pos)], delayed: getDelayed }
    let vm = machineFromEngine(program, native, 0n, ctx)
    // at genesis both agree already
    expect(quiescentStateRoot(vm)).to.equal(tracker.compute(0n).stateRoot)

    const r = rng(20240601)
    let clock = START
    let totalSteps = 0
    let nativeMs = 0
    let vmMs = 0
    const BATCHES = Number(process.env.VM_ENGINE_BATCHES ?? 2000)
    const openOrders: bigint[] = []
    /** The price the oracles report around, per perpetual (a random walk with jumps). */
    const truth = new Map<number, bigint>([[1, 50_000n * USDC], [2, 3_000n * USDC]])
    const base = new Map(truth)
    /** Markets by id as the test believes them to be (refreshed after batches with ADMIN items). */
    const configs = new Map<number, P.MarketConfig>(GENESIS_V1.markets.map((m) => [m.id, m]))
    let nextMarketId = 10
    /** Nonces handed out this batch beyond the engine's, per signer. */
    const pending = new Map<Address, bigint>()
    const lastOracleTs = new Map<string, bigint>()
    let liquidatable: Address[] = []
    let liquidatableBatches = 0
    /** Result codes of execItem-built batches, by item type (and order type), for the coverage check. */
    const tally = new Map<string, number>()
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1)

    const nonceOf = (a: LocalAccount) => {
      const n = native.nonce(a.address) + (pending.get(a.address) ?? 0n)
      pending.set(a.address, (pending.get(a.address) ?? 0n) + 1n)
      return r.chance(0.95) ? n : BigInt(r.int(5))
    }
    const perps = () => [...configs.values()].filter((m) => (m.kind ?? 0) === P.MarketKind.PERPETUAL)
    const indexOfMarket = (m: P.MarketConfig) => {
      const u = m.underlying ?? m.id
      const v = configs.has(u) ? native.markPrice(u) : 0n
      return v > 0n ? v : truth.get(u) ?? 1_000n * USDC
    }
    const priceNear = (m: P.MarketConfig, ref: bigint, bps: number) => {
      const p = (ref * BigInt(10_000 + r.int(2 * bps + 1) - bps)) / 10_000n
      return onStep(p > m.maxPrice ? m.maxPrice : p, m.tickSize)
    }
    const sizeFor = (m: P.MarketConfig, big: boolean) => {
      const ref = indexOfMarket(m)
      // a notional of up to ~10k USDC (thin traders: up to ~25k, near their initial margin)
      const target = BigInt(1 + r.int(big ? 25_000 : 10_000)) * USDC
      const units = (target * 10n ** BigInt(m.sizeDecimals)) / (ref > 0n ? ref : 1n)
      return onStep(units < m.minSize ? m.minSize : units > m.maxSize ? m.maxSize : units, m.stepSize)
    }

    const orderMsg = (t: LocalAccount, nonce: bigint): P.OrderMsg => {
      const isThin = thin.some((x) => x.address === t.address)
      // thin traders stay on BTC and ETH and their options, whose prices keep fresh: an account
      // with a position in a market whose index is stale cannot be liquidated
      const all = [...configs.values()].filter((m) => !isThin || (m.underlying ?? m.id) <= 2)
      const m = r.chance(0.03) ? { ...BTC, id: 99 } : r.chance(0.7) ? r.pick(all.filter((x) => (x.kind ?? 0) === 0)) : r.pick(all)
      const perp = (m.kind ?? 0) === P.MarketKind.PERPETUAL
      const idx = indexOfMarket(m)
      const isBuy = r.chance(0.5)
      const size = sizeFor(m, isThin)
      const k = r.int(100)
      const orderType = k < 60 ? P.OrderType.LIMIT : k < 75 ? P.OrderType.MARKET : k < 88 ? P.OrderType.STOP_MARKET : P.OrderType.TAKE_PROFIT_MARKET
      let price: bigint
      if (perp) price = priceNear(m, idx, orderType === P.OrderType.LIMIT ? 80 : 300)
      else {
        const strike = m.strike ?? 0n
        const intrinsic = m.kind === P.MarketKind.CALL ? (idx > strike ? idx - strike : 0n) : strike > idx ? strike - idx : 0n
        price = onStep(intrinsic + (idx * BigInt(1 + r.int(400))) / 10_000n, m.tickSize)
      }
      const msg: P.OrderMsg = { market: m.id, isBuy, price, size, nonce, orderType }
      if (orderType === P.OrderType.LIMIT) msg.timeInForce = r.pick([0, 0, 0, 0, 1, 2])
      else if (orderType === P.OrderType.MARKET) msg.timeInForce = r.pick([1, 1, 2, 0])
      if (r.chance(orderType === P.OrderType.LIMIT ? 0.15 : 0.02)) msg.postOnly = true
      if (r.chance(0.15)) msg.reduceOnly = true
      if (r.chance(0.15)) msg.expiry = clock + BigInt(r.int(1_200)) - 150n
      if (orderType >= P.OrderType.STOP_MARKET) {
        // a buy stop waits for the index to rise to its trigger, a buy take-profit for it to fall
        const above = isBuy === (orderType === P.OrderType.STOP_MARKET)
        const bps = BigInt(5 + r.int(400))
        msg.triggerPrice = r.chance(0.9) ? onStep((idx * (above ? 10_000n + bps : 10_000n - bps)) / 10_000n, 1n) : r.chance(0.5) ? idx : 0n
      }
      return msg
    }

    const oracleItem = async (): Promise<Uint8Array> => {
      const signer = r.chance(0.92) ? r.pick(oracles) : r.pick(everyone)
      const ps = perps()
      const k0 = r.int(100)
      const m = k0 < 55 ? BTC_V1 : k0 < 85 ? ETH_V1 : k0 < 95 ? r.pick(ps) : r.pick([...configs.values(), { ...BTC, id: 77 }])
      // the truth walks: small steps, sometimes a jump of 3-12% (liquidations, stops), pulled back towards its start
      const cur = truth.get(m.id) ?? base.get(m.id) ?? 1_000n * USDC
      const b = base.get(m.id) ?? cur
      const jump = r.chance(0.12) ? 300 + r.int(900) : r.int(30)
      const down = cur > (b * 13n) / 10n ? r.chance(0.8) : cur < (b * 7n) / 10n ? r.chance(0.2) : r.chance(0.5)
      const next = (cur * BigInt(down ? 10_000 - jump : 10_000 + jump)) / 10_000n
      truth.set(m.id, next > 0n ? next : cur)
      // the oracles disagree a little: the index is their median
      const price = r.chance(0.02) ? 0n : priceNear(m, truth.get(m.id)!, 20) + BigInt(r.int(1000))
      const k = `${signer.address}:${m.id}`
      const last = lastOracleTs.get(k) ?? 0n
      let ts = clock - BigInt(r.int(60))
      if (ts <= last) ts = last + 1n
      const odd = r.int(100)
      if (odd < 3) ts = last // not newer
      else if (odd < 5) ts = clock - 1_000n // older than the 900-s bound
      else if (odd < 6) ts = clock + 1_000n // too far ahead
      else lastOracleTs.set(k, ts)
      return sign(signer, { kind: 'OraclePrice', message: { market: m.id, price, timestamp: ts } })
    }

    const adminItem = async (): Promise<Uint8Array> => {
      const signer = r.chance(0.85) ? admin : r.pick([...everyone, oracle])
      const k = r.int(100)
      let action: number = P.AdminAction.ADD_MARKET
      let config: P.MarketConfig
      if (k < 50) {
        // a new option series on a perpetual (some already expired, so refused), or a new perpetual
        const u = r.pick(perps())
        const idx = indexOfMarket(u)
        if (r.chance(0.85)) {
          const expiry = r.chance(0.9) ? clock + BigInt(300 + r.int(4 * 3600)) : clock - 10n
          config = optionOf(nextMarketId++, u, r.chance(0.5) ? P.MarketKind.CALL : P.MarketKind.PUT, onStep((idx * BigInt(90 + r.int(21))) / 100n, u.tickSize), expiry)
        } else {
          const id = nextMarketId++
          config = { ...ETH_V1, id, symbol: `PERP-${id}`, underlying: id }
          base.set(id, 100n * USDC)
          truth.set(id, 100n * USDC)
        }
        if (r.chance(0.08)) config = { ...config, id: 1 } // duplicate id
      } else {
        action = k < 95 ? P.AdminAction.UPDATE_MARKET : 3 // 3: no such action
        const cur = r.pick([...configs.values()])
        const imf = 50_000 + r.int(100_000)
        config = {
          ...cur, makerFeePpm: r.int(500), takerFeePpm: r.int(1_000), initialMarginPpm: imf, maintenanceMarginPpm: Math.floor(imf / 2),
          maxOpenInterest: r.chance(0.3) ? 0n : BigInt(1 + r.int(100)) * (cur.maxSize / 100n), liquidationFeePpm: r.int(20_000),
          maxFundingPpbPerHour: (cur.kind ?? 0) === 0 ? r.int(2_000_000) : 0,
        }
        if ((config.kind ?? 0) !== 0) config.optionMinPpm = Math.min(config.optionMinPpm ?? 100_000, imf)
        if (r.chance(0.15)) config = { ...config, tickSize: config.tickSize * 2n } // immutable: refused
      }
      return sign(signer, { kind: 'AdminAction', message: { action, config: bytesToHex(P.encodeMarketConfig(config)), nonce: nonceOf(signer) } })
    }

    const randomItem = async (): Promise<Uint8Array> => {
      const t = r.pick(everyone)
      const kind = r.int(1000)
      if (kind < 380) {
        const n = nonceOf(t)
        return sign(t, { kind: 'Order', message: orderMsg(t, n) })
      }

      if (kind < 540) {
        // mostly an open order, by its owner
        const orderId = openOrders.length && r.chance(0.8) ? r.pick(openOrders) : BigInt(r.int(50))
        const o = native.order(orderId)
        const owner = (o && r.chance(0.85) && everyone.find((a) => a.address === o.owner)) || t
        if (kind < 450) return sign(owner, { kind: 'Cancel', message: { orderId, nonce: nonceOf(owner) } })
        const m = (o && configs.get(o.market)) || BTC
        return sign(owner, { kind: 'Replace', message: { orderId, price: o ? priceNear(m, o.price, 50) : 50_000n * USDC, size: r.chance(0.95) ? sizeFor(m, false) : 0n, nonce: nonceOf(owner) } })
      }
      if (kind < 570) return sign(t, { kind: 'CancelAll', message: { market: r.pick([P.ALL_MARKETS, 1, 2, 3, 55]), nonce: nonceOf(t) } })

      if (kind < 610) return sign(t, { kind: 'Transfer', message: { to: r.pick(everyone).address, asset: r.int(3), amount: BigInt(r.int(5_000)) * USDC, nonce: nonceOf(t) } })
      if (kind < 650) return sign(t, { kind: 'Withdraw', message: { to: t.address, asset: r.int(2), amount: BigInt(1 + r.int(1000)) * USDC, nonce: nonceOf(t) } })
      if (kind < 800) return oracleItem()
      if (kind < 850) return P.encodeLiquidateItem(liquidatable.length && r.chance(0.8) ? r.pick(liquidatable) : r.pick([...everyone, feeAccount]).address)
      if (kind < 870) return adminItem()
      if (kind < 940) return P.encodeDelayedItem(r.int(3))
      // malformed: a corrupted signed item or junk
      const good = await sign(t, { kind: 'Order', message: { market: 1, isBuy: true, price: 50_000n * USDC, size: 1n, nonce: nonceOf(t) } })
      if (r.chance(0.5)) { good[5 + r.int(good.length - 5)]! ^= 1 << r.int(8); return good }
      return r.bytes(1 + r.int(40))
    }

    const delayedTx = (): P.TxMessage => {
      const k = r.int(10)
      const t = r.pick(everyone)
      if (k < 6) return { kind: 'Order', message: orderMsg(t, 0n) }
      if (k < 7) return { kind: 'Cancel', message: { orderId: openOrders.length ? r.pick(openOrders) : 1n, nonce: 0n } }
      if (k < 8) return { kind: 'CancelAll', message: { market: r.pick([P.ALL_MARKETS, 1, 2]), nonce: 0n } }
      if (k < 9) return { kind: 'Replace', message: { orderId: openOrders.length ? r.pick(openOrders) : 1n, price: priceNear(BTC, truth.get(1)!, 50), size: BigInt(1 + r.int(50)), nonce: 0n } }
      return { kind: r.chance(0.5) ? 'Transfer' : 'Withdraw', message: { to: r.pick(everyone).address, asset: r.int(2), amount: BigInt(1 + r.int(500)) * USDC, nonce: 0n } }
    }

    for (let b = 0; b < BATCHES; b++) {
      // delayed inbox: deposits (thin traders get little), L2 transactions from L1, junk
      for (let n = r.int(3); n > 0; n--) {
        const k = r.int(10)
        if (k < 5) {
          // thin traders get collateral only once they have next to none
          const poor = thin.filter((x) => native.account(x.address).equity < 300n * USDC)
          const to = poor.length && r.chance(0.5) ? r.pick(poor) : r.pick(traders)
          const amount = poor.includes(to) ? BigInt(1_000 + r.int(2_000)) * USDC : BigInt(1 + r.int(100_000)) * USDC
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(to.address, r.int(2), amount) }))
        } else if (k < 9) {
          const sender: Address = r.pick(everyone).address
          delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender, timestamp: 0n, payload: P.encodeUnsignedItem(delayedTx()) }))
        } else delayed.push(r.bytes(r.int(60)))
      }
      // seconds to minutes; now and then hours (funding hours pass, oracle prices go stale); rarely a header behind the clock
      const c = r.int(1000)
      clock += c < 880 ? BigInt(r.int(30)) : c < 990 ? BigInt(60 + r.int(300)) : BigInt(3_600 + r.int(4_000))
      const timestamp = r.chance(0.02) ? clock - 50n : clock
      const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp }
      pending.clear()
      liquidatable = native.liquidatable()
      if (liquidatable.length) liquidatableBatches++
      const items: Uint8Array[] = []
      const shape = r.int(20)
      if (shape !== 0) for (let n = 1 + r.int(6); n > 0; n--) items.push(await randomItem())
      if (shape !== 0 && liquidatable.length && r.chance(0.5)) items.splice(r.int(items.length + 1), 0, P.encodeLiquidateItem(r.pick(liquidatable)))
      const hasAdmin = items.some((i) => i[0] === P.ITEM_ADMIN)

      let t0 = performance.now()
      let msg: Uint8Array
      if (shape > 2 && b % 2 === 0) {
        // item by item, as the sequencer does: rejected items are cut from the batch data
        native.beginBatch(header)
        for (const item of items) {
          const res = native.execItem(item)
          const type = item[0] === P.ITEM_ORDER && item.length > 5 ? `order/${(item[5]! >> 1) & 3}` : `item/${item[0]}`
          count(`${type}:${P.resultCodeName(res.code)}`)
        }
        msg = P.batchMessage(header, native.endBatch().data)
      } else {
        let data = shape === 0 ? new Uint8Array(0) : Uint8Array.of(0, ...items.flatMap((i) => [...i]))
        if (shape === 1) data = Uint8Array.of(7, ...data.subarray(1)) // unknown format: no items
        if (shape === 2 && data.length > 3) data = data.subarray(0, data.length - 1 - r.int(3)) // truncated last item
        msg = P.batchMessage(header, data)
        native.runBatch(msg)
      }
      nativeMs += performance.now() - t0
      messages.push(msg)
      position += 1n
      t0 = performance.now()
      totalSteps += runBatchVm(vm)
      vmMs += performance.now() - t0

      for (let id = native.nextOrderId() - 1n; id > 0n && id > native.nextOrderId() - 8n; id--) if (native.order(id)) openOrders.push(id)
      if (openOrders.length > 400) openOrders.splice(0, 200)
      const nm = new Uint8Array(native.memory.buffer)
      const vmMem = vm.memory.u8
      if (nm.length !== vmMem.length || Buffer.compare(nm, vmMem) !== 0) {
        expect.fail(`batch ${b}: memories differ (native ${nm.length} bytes, vm ${vmMem.length}) first at 0x${firstDiff(nm, vmMem).toString(16)}`)
      }
      expect(vm.globalValues()).to.deep.equal(native.globals())
      expect(vm.inboxPosition).to.equal(position)
      expect(vm.status).to.equal(Status.Ready)
      // the engine's own books balance after every batch
      const ledger = native.ledger()
      expect(ledger.balances + ledger.insuranceFund + ledger.pools, `ledger after batch ${b}`).to.equal(ledger.deposited - ledger.withdrawn)
      if (hasAdmin || b % 16 === 0) {
        for (const id of native.marketIds()) configs.set(id, { ...native.market(id)!.config, symbol: configs.get(id)?.symbol ?? `M-${id}` })
      }
      // long OI = short OI while a market trades; an expired option series settles each account
      // lazily (at its next trade, transfer or liquidation), so there only the sums of what is left count
      const views = b % 16 === 0 ? [...everyone, admin, feeAccount].map((a) => native.account(a.address)) : undefined
      for (const id of configs.keys()) {
        const mv = native.market(id)!
        if (!mv.settled) expect(mv.openInterest, `open interest of market ${id} after batch ${b}`).to.equal(mv.shortOpenInterest)
        if (views) {
          const sizes = views.flatMap((a) => a.positions.filter((p) => p.market === id).map((p) => p.size))
          expect([mv.openInterest, mv.shortOpenInterest], `open interest of market ${id} after batch ${b}`)
            .to.deep.equal([sizes.reduce((s, v) => s + (v > 0n ? v : 0n), 0n), sizes.reduce((s, v) => s + (v < 0n ? -v : 0n), 0n)])
        }
      }
      if (b % 8 === 0 || b === BATCHES - 1) {
        const root = tracker.compute(position).stateRoot
        expect(quiescentStateRoot(vm), `state root after batch ${b}`).to.equal(root)
        expect(machineHash(vm)).to.equal(root)
      }
      // now and then restart the VM from the native state (the boundary hand-off path)
      if (b % 50 === 49) vm = machineFromEngine(program, native, position, ctx)
    }
    const stats = native.stats()
    const ledger = native.ledger()
    const markets = native.marketIds().map((id) => native.market(id)!)
    const funding = native.marketIds().flatMap((id) => (markets.find((m) => m.config.id === id)!.config.kind ? [] : native.fundingHistory(id)))
    console.log(`      ${BATCHES} batches (clock +${clock - START} s): ${totalSteps} VM steps in ${vmMs.toFixed(0)} ms (${(totalSteps / vmMs / 1000).toFixed(1)} M steps/s), native ${nativeMs.toFixed(0)} ms; ${stats.accounts} accounts, ${stats.restingOrders} resting orders, ${native.outboxCount()} withdrawals, ${markets.length} markets (${markets.filter((m) => m.settled).length} options settled), ${ledger.liquidations} liquidations (accounts liquidatable before ${liquidatableBatches} batches), ${ledger.deleverages} deleverages, fees ${ledger.fees}, insurance ${ledger.insuranceFund}, ${funding.filter((f) => f.ratePpb !== 0n).length} non-zero funding rates in the last hours`)
    console.log(`      execItem result codes: ${[...tally].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`)
    expect(native.outboxCount() > 0n).to.equal(true)
    expect(stats.restingOrders).to.be.greaterThan(0)
    if (BATCHES >= 2000) {
      // the run reached the new code: every item kind accepted, and the main refusals of each
      const must = [
        'order/0:OK', 'order/1:OK', 'order/2:OK', 'order/3:OK', 'item/2:OK', 'item/3:OK', 'item/4:OK', 'item/5:OK', 'item/6:OK', 'item/7:OK', 'item/8:OK', 'item/9:OK', 'item/10:OK',
        'order/0:POST_ONLY_WOULD_CROSS', 'order/0:FOK_NOT_FILLED', 'order/0:REDUCE_ONLY', 'order/0:EXPIRED', 'order/0:STALE_ORACLE_PRICE', 'order/0:MALFORMED',
        'order/0:INSUFFICIENT_MARGIN', 'order/0:MARKET_CLOSED', 'order/2:BAD_TRIGGER', 'item/5:STALE_ORACLE_PRICE', 'item/5:NOT_ORACLE', 'item/9:NOT_LIQUIDATABLE',
        'item/10:NOT_ADMIN', 'item/10:BAD_MARKET_CONFIG',
      ]
      expect(must.filter((k) => !tally.has(k)), 'outcomes never reached').to.deep.equal([])
      expect(ledger.liquidations > 0n && ledger.fees > 0n).to.equal(true)
      expect(markets.some((m) => m.settled), 'an option series expired and settled').to.equal(true)
      expect(markets.length).to.be.greaterThan(GENESIS_V1.markets.length)
      expect(funding.some((f) => f.ratePpb !== 0n), 'funding was paid').to.equal(true)
    }
  })

  it('a trace over two batches: hashAt pads with the final hash, matches a straight run', async () => {
    const delayed = [P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(traders[0]!.address, 0, 1000n * USDC) })]
    const native = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
    native.init(P.encodeGenesis(GENESIS))
    const o = await sign(oracle, { kind: 'OraclePrice', message: { market: 1, price: 50_000n * USDC, timestamp: 5n } })
    const msgs = [
      P.batchMessage({ afterDelayedCount: 1n, timestamp: 10n }, Uint8Array.of(0, ...o)),
      P.batchMessage({ afterDelayedCount: 1n, timestamp: 11n }, new Uint8Array(0)),
    ]
    const ctx = listContext(0n, msgs, (i) => delayed[Number(i)]!)
    const start = machineFromEngine(program, native, 0n, ctx)
    const genesisRoot = machineHash(start)
    const trace = new Trace(start, { checkpointEvery: 5000 })
    const straight = start.snapshot()
    const ks = [0, 1, 2, 3, 777, 4999, 5000, 5001, 12_345]
    const want = new Map<number, string>()
    let at = 0
    for (const k of ks) {
      while (at < k) { if (!stepOnce(straight)) break; at++ }
      want.set(k, machineHash(straight))
    }
    for (const k of [...ks].reverse()) expect(trace.hashAt(k), `hash at ${k}`).to.equal(want.get(k))
    expect(trace.hashAt(0)).to.equal(genesisRoot)
    const end = trace.length()
    expect(end).to.be.greaterThan(1000)
    const final = trace.hashAt(end)
    expect(trace.hashAt(end + 1)).to.equal(final)
    expect(trace.hashAt(end * 4)).to.equal(final)
    // the final machine is quiescent after both batches: its hash is the state root
    native.runBatch(msgs[0]!)
    native.runBatch(msgs[1]!)
    expect(final).to.equal(new StateRootTracker(native).compute(2n).stateRoot)
    // in between, hashes differ from step to step
    expect(trace.hashAt(10)).to.not.equal(trace.hashAt(11))
  })
})

function stepOnce(m: Machine): boolean {
  return step(m)
}
