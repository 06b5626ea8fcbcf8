/**
 * Engine v1, feature by feature, with worked numbers. Every expected figure is computed by hand
 * in the comments from the rules in executor/engine/assembly (margin.ts, trade.ts, orders.ts,
 * oracle.ts, liquidation.ts), in USDC (1 USDC = 10^6 collateral quantums; sizes in 0.001 of a
 * unit, sizeDecimals 3). Each scenario also checks conservation and OI balance, and a sample of
 * them replays its batches through run_batch and on the VM to the identical memory.
 */
import { expect } from 'chai'
import type { Hex } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { buildEngine } from '../executor/engine/build.js'
import * as P from '../sdk/protocol.js'
import { EngineHarness, usdc } from './helpers/engineHarness.js'

const { ResultCode: RC, OrderType: OT, TimeInForce: TIF } = P
const CHAIN_ID = 412346
const key = (n: number) => privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as Hex)
const [alice, bob, carol, dave, erin] = [0xa11ce, 0xb0b, 0xca201, 0xda7e, 0xe714].map(key) as [LocalAccount, LocalAccount, LocalAccount, LocalAccount, LocalAccount]
const [o1, o2, o3] = [0x0dac1e, 0x0dac2e, 0x0dac3e].map(key) as [LocalAccount, LocalAccount, LocalAccount]
const admin = key(0xad317)
const FEE = key(0xfee).address

/** BTC: fees 200/500 ppm, tiers every 100,000 USDC (+5% IMF, +2.5% MMF), liquidation fee 1%, band 5%. */
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: usdc(1), stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: usdc(1_000_000), sizeDecimals: 3,
  initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, tierNotional: usdc(100_000), tierInitialMarginPpm: 50_000, tierMaintenanceMarginPpm: 25_000,
  makerFeePpm: 200, takerFeePpm: 500, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000,
}
/** ETH: no fees, OI cap 20 ETH, band 1%, funding from 1,000-USDC impact prices, at most 0.1%/h. */
const ETH: P.MarketConfig = {
  id: 2, symbol: 'ETH-PERP', tickSize: usdc('0.01'), stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: usdc(100_000), sizeDecimals: 3,
  initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, maxOpenInterest: 20_000n, liquidationBandPpm: 10_000,
  impactNotional: usdc(1_000), maxFundingPpbPerHour: 1_000_000,
}
const GENESIS: P.GenesisConfig = {
  chainId: CHAIN_ID, oracle: o1.address, oracles: [o1.address, o2.address, o3.address], admin: admin.address, feeAccount: FEE, markets: [BTC, ETH],
}

const buy = (market: number, price: bigint, size: bigint, more: Partial<P.OrderMsg> = {}) => ({ market, isBuy: true, price, size, ...more })
const sell = (market: number, price: bigint, size: bigint, more: Partial<P.OrderMsg> = {}) => ({ market, isBuy: false, price, size, ...more })
const codes = (rs: P.ItemResult[]) => rs.map((r) => P.resultCodeName(r.code))

async function harness(deposits: [LocalAccount, string][], genesis = GENESIS) {
  const h = await EngineHarness.create(genesis, { clock: 900n })
  for (const [a, v] of deposits) h.deposit(a.address, usdc(v))
  await h.batch([]) // the deposits land at the end of this batch
  return h
}

describe('engine v1: worked examples', function () {
  this.timeout(300_000)
  before(async () => {
    await buildEngine()
  })

  describe('fees, the initial-margin check on orders and margin tiers (BTC)', () => {
    let h: EngineHarness
    before(async () => {
      h = await harness([[alice, '100000'], [bob, '1000'], [carol, '30000']])
      await h.ok(h.oracle(o1, 1, usdc(50_000)))
    })

    it('rejects an order whose IM plus taker fee exceeds equity; accepts exactly at the limit', async () => {
      // 0.2 BTC at 50,000: notional 10,000, IM 10% = 1,000, taker fee 500 ppm = 5: 1,000 - 5 < 1,000
      expect((await h.one(h.order(bob, buy(1, usdc(50_000), 200n)))).code).to.equal(RC.INSUFFICIENT_MARGIN)
      // 0.199 BTC: notional 9,950, IM 995, fee 4.975: 1,000 - 4.975 = 995.025 >= 995, so it rests
      const r = await h.ok(h.order(bob, buy(1, usdc(50_000), 199n)))
      expect(r.filledSize).to.equal(0n)
      expect(h.engine.account(bob.address).initialMarginRequired).to.equal(usdc(995))
    })

    it('charges the taker and maker fees in ppm to the fee account', async () => {
      // alice sells 0.199 into bob's bid at 50,000: notional 9,950; taker 500 ppm = 4.975, maker 200 ppm = 1.99
      const r = await h.ok(h.order(alice, sell(1, usdc(50_000), 199n)))
      expect(r.filledSize).to.equal(199n)
      expect(r.fills).to.have.length(1)
      expect(r.fills[0]).to.include({ maker: bob.address, price: usdc(50_000), size: 199n })
      expect(h.balance(alice.address)).to.equal(usdc('109945.025')) // 100,000 + 9,950 - 4.975
      expect(h.balance(bob.address)).to.equal(usdc('-8951.99')) // 1,000 - 9,950 - 1.99 (a quote balance)
      expect(h.balance(FEE)).to.equal(usdc('6.965'))
      expect(h.engine.ledger().fees).to.equal(usdc('6.965'))
      const b = h.engine.account(bob.address)
      expect(b.equity).to.equal(usdc('998.01')) // -8,951.99 + 0.199 × 50,000
      expect(b.initialMarginRequired).to.equal(usdc(995))
      expect(b.maintenanceMarginRequired).to.equal(usdc('497.5')) // 5% of 9,950
      expect(b.positions[0]).to.include({ market: 1, size: 199n, entryNotional: usdc(9950), value: usdc(9950), unrealizedPnl: 0n })
      h.invariants()
    })

    it('raises IMF and MMF with notional: one tier step per 100,000 USDC', async () => {
      // carol bids 3 BTC at 50,000: exposure 150,000 → tier 1 → IMF 10% + 5% = 15% → IM 22,500 (fee 75)
      await h.ok(h.order(carol, buy(1, usdc(50_000), 3000n)))
      let c = h.engine.account(carol.address)
      expect(c.initialMarginRequired).to.equal(usdc(22_500))
      expect(c.maintenanceMarginRequired).to.equal(0n)
      // 4 BTC more: exposure 350,000 → tier 3 → IMF 25% → IM 87,500 > 30,000
      expect((await h.one(h.order(carol, buy(1, usdc(50_000), 4000n)))).code).to.equal(RC.INSUFFICIENT_MARGIN)
      // alice sells 3 BTC into it: alice short 3.199 BTC = 159,950 notional → tier 1:
      //   IM 15% = 23,992.5, MM 7.5% = 11,996.25; carol long 3 BTC: IM 22,500, MM 11,250
      await h.ok(h.order(alice, sell(1, usdc(50_000), 3000n)))
      c = h.engine.account(carol.address)
      expect(c.initialMarginRequired).to.equal(usdc(22_500))
      expect(c.maintenanceMarginRequired).to.equal(usdc(11_250))
      const a = h.engine.account(alice.address)
      expect(a.initialMarginRequired).to.equal(usdc('23992.5'))
      expect(a.maintenanceMarginRequired).to.equal(usdc('11996.25'))
      // fees so far: 6.965 + alice taker 75 + carol maker 30
      expect(h.balance(FEE)).to.equal(usdc('111.965'))
      h.invariants()
    })
  })

  describe('liquidation: price, band, fee to the insurance fund, deleveraging, insurance cover (BTC)', () => {
    let h: EngineHarness
    before(async () => {
      h = await harness([[alice, '100000'], [bob, '6000'], [carol, '20000'], [dave, '5100'], [erin, '10000']])
    })

    it('opens bob 1 BTC long at 50,000 with 6,000 USDC', async () => {
      // bob: IM 5,000, fee 25: 6,000 - 25 >= 5,000. Balances: bob 6,000 - 50,000 - 25 = -44,025;
      // alice 100,000 + 50,000 - 10 (maker 200 ppm) = 149,990
      await h.okAll([h.oracle(o1, 1, usdc(50_000)), h.order(alice, sell(1, usdc(50_000), 1000n)), h.order(bob, buy(1, usdc(50_000), 1000n)),
        // carol's bids for later: 0.6 BTC at 46,000 and 1 BTC at 43,000
        h.order(carol, buy(1, usdc(46_000), 600n)), h.order(carol, buy(1, usdc(43_000), 1000n))])
      expect(h.balance(bob.address)).to.equal(usdc(-44_025))
      expect(h.balance(alice.address)).to.equal(usdc(149_990))
      expect(h.balance(FEE)).to.equal(usdc(35))
    })

    it('liquidation price: equity -44,025 + P below MM 5% × P, i.e. P < 44,025 / 0.95 = 46,342.105…', async () => {
      // at 46,343: equity 2,318 >= MM 2,317.15: safe, LIQUIDATE is refused (and changes nothing)
      await h.ok(h.oracle(o1, 1, usdc(46_343)))
      expect(h.engine.liquidatable()).to.deep.equal([])
      expect((await h.one(h.liquidate(bob.address))).code).to.equal(RC.NOT_LIQUIDATABLE)
      // at 46,342: equity 2,317 < MM 2,317.1
      await h.ok(h.oracle(o1, 1, usdc(46_342)))
      const b = h.engine.account(bob.address)
      expect(b.equity).to.equal(usdc(2317))
      expect(b.maintenanceMarginRequired).to.equal(usdc('2317.1'))
      expect(h.engine.liquidatable()).to.deep.equal([bob.address])
    })

    it('closes against bids within the band, charges 1% to the fund, deleverages the rest onto the best short', async () => {
      // Band: sells no lower than 46,342 - 5% = 44,024.9: the 46,000 bid fills 0.6 BTC, the 43,000 bid does not.
      //   bob: -44,025 + 27,600 = -16,425. Fee: 1% of the closed notional at the index
      //   (0.6 × 46,342 = 27,805.2) = 278.052, under bob's equity left (-16,425 + 0.4 × 46,342 = 2,111.8).
      //   bob: -16,703.052. The last 0.4 BTC go to alice (the only, profitable, short) at the index:
      //   18,536.8 → bob 1,833.748, flat. alice: 149,990 - 18,536.8 = 131,453.2, short 0.6, cost
      //   -50,000 × 0.6 = -30,000. carol: 20,000 - 27,600 - 5.52 (maker fee) = -7,605.52, long 0.6.
      const r = await h.ok(h.liquidate(bob.address))
      expect(r.filledSize).to.equal(usdc('27805.2'))
      const b = h.engine.account(bob.address)
      expect(b.balances[0]).to.equal(usdc('1833.748'))
      expect(b.positions).to.deep.equal([])
      expect(h.balance(alice.address)).to.equal(usdc('131453.2'))
      expect(h.engine.account(alice.address).positions[0]).to.include({ size: -600n, entryNotional: usdc(-30_000) })
      expect(h.balance(carol.address)).to.equal(usdc('-7605.52'))
      expect(h.position(carol.address, 1)).to.equal(600n)
      const l = h.invariants()
      expect(l).to.include({ insuranceFund: usdc('278.052'), liquidations: 1n, deleverages: 1n, insurancePaid: 0n })
      expect(h.engine.market(1)!.openInterest).to.equal(600n)
      expect(h.engine.book(1, 5).bids).to.deep.equal([{ price: usdc(43_000), size: 1000n, orders: 1 }])
    })

    it('the insurance fund covers a bankrupt account', async () => {
      // carol cancels her 43,000 bid; erin bids 1 BTC at 41,200; dave buys 1 BTC from alice at 46,400:
      //   dave: IM 4,634.2 + loss vs index 58 + fee 23.2 <= 5,100; balance 5,100 - 46,400 - 23.2 = -41,323.2
      const carolBid = h.engine.orders(carol.address).find((o) => o.price === usdc(43_000))!
      await h.okAll([h.cancel(carol, carolBid.orderId), h.order(erin, buy(1, usdc(41_200), 1000n)),
        h.order(alice, sell(1, usdc(46_400), 1000n)), h.order(dave, buy(1, usdc(46_400), 1000n))])
      expect(h.balance(dave.address)).to.equal(usdc('-41323.2'))
      // index 41,000: dave equity -323.2. The band floor is 41,000 - 2,050 = 38,950: erin's bid fills at
      // 41,200 → dave -123.2; no fee (no equity left); the fund (278.052) pays 123.2 → 154.852.
      await h.ok(h.oracle(o1, 1, usdc(41_000)))
      expect(h.engine.liquidatable()).to.deep.equal([dave.address])
      const r = await h.ok(h.liquidate(dave.address))
      expect(r.filledSize).to.equal(usdc(41_000))
      expect(h.engine.account(dave.address)).to.deep.include({ balances: { 0: 0n, 1: 0n }, positions: [] })
      expect(h.position(erin.address, 1)).to.equal(1000n)
      const l = h.invariants()
      expect(l).to.include({ insuranceFund: usdc('154.852'), insurancePaid: usdc('123.2'), liquidations: 2n, deleverages: 1n })
      // fees: 35 + carol 5.52 + dave 23.2 + alice 9.28 + erin 8.24
      expect(h.balance(FEE)).to.equal(usdc('81.24'))
    })

    it('when the fund runs out, the deleveraged counterparty covers the rest', async () => {
      // erin: long 1 BTC bought at 41,200 with 10,000: balance -31,208.24 (maker fee 8.24).
      // Index 30,000: equity -1,208.24; no bids, so alice (the only short) takes the whole BTC at
      // 30,000 → erin -1,208.24; the fund pays its last 154.852; alice, the deleveraged side, pays
      // the remaining 1,053.388 (her pro-rata share is all of it).
      expect(h.balance(erin.address)).to.equal(usdc('-31208.24'))
      await h.ok(h.oracle(o1, 1, usdc(30_000)))
      expect(h.engine.liquidatable()).to.deep.equal([erin.address])
      const r = await h.ok(h.liquidate(erin.address))
      expect(r.filledSize).to.equal(0n) // nothing closed against the book
      expect(h.engine.account(erin.address)).to.deep.include({ balances: { 0: 0n, 1: 0n }, positions: [] })
      // alice: 177,843.92 - 30,000 - 1,053.388; short 0.6 left with cost -76,400 × 0.6 / 1.6 = -28,650
      expect(h.balance(alice.address)).to.equal(usdc('146790.532'))
      expect(h.engine.account(alice.address).positions[0]).to.include({ size: -600n, entryNotional: usdc(-28_650) })
      expect(h.invariants()).to.include({ insuranceFund: 0n, insurancePaid: usdc('278.052'), liquidations: 3n, deleverages: 2n })
    })

    it('replays to the same memory through run_batch and on the VM', async () => {
      await h.replayNative()
      expect(await h.replayVm()).to.be.greaterThan(0)
    })
  })

  it('deleverages the most profitable shorts and spreads the loss pro rata when the fund is empty (ETH)', async () => {
    const h = await harness([[bob, '2100'], [carol, '5000'], [dave, '3000']])
    // carol offers 6 ETH at 2,000, dave 4 at 2,010; bob buys 10 at up to 2,010 with exactly enough:
    //   IM 10 × 2,000 × 10% = 2,000 + loss vs index 10 × 10 = 100 = 2,100. bob: 2,100 - 12,000 - 8,040 = -17,940
    await h.okAll([h.oracle(o1, 2, usdc(2_000)), h.order(carol, sell(2, usdc(2_000), 6000n)), h.order(dave, sell(2, usdc(2_010), 4000n))])
    expect((await h.one(h.order(bob, buy(2, usdc('2010.01'), 10_000n)))).code).to.equal(RC.INSUFFICIENT_MARGIN) // 0.1 short
    await h.ok(h.order(bob, buy(2, usdc(2_010), 10_000n)))
    expect(h.balance(bob.address)).to.equal(usdc(-17_940))
    // index 1,700: bob equity -17,940 + 17,000 = -940. No bids: all 10 ETH are deleveraged at 1,700,
    // first to carol (PnL 6 × 300 = 1,800), then dave (4 × 310 = 1,240). bob: -940; the fund is 0;
    // carol pays ceil(940 × 6/10) = 564, dave ceil(940 × 4/10) = 376; bob ends at 0.
    await h.ok(h.oracle(o1, 2, usdc(1_700)))
    await h.ok(h.liquidate(bob.address))
    expect(h.balance(bob.address)).to.equal(0n)
    expect(h.balance(carol.address)).to.equal(usdc(6_236)) // 5,000 + 12,000 - 10,200 - 564
    expect(h.balance(dave.address)).to.equal(usdc(3_864)) // 3,000 + 8,040 - 6,800 - 376
    for (const a of [bob, carol, dave]) expect(h.engine.account(a.address).positions).to.deep.equal([])
    expect(h.invariants()).to.include({ insuranceFund: 0n, insurancePaid: 0n, liquidations: 1n, deleverages: 2n })
    expect(h.engine.market(2)!.openInterest).to.equal(0n)
  })

  describe('hourly funding: premium samples, average / 8, clamp, lazy exact settlement (ETH)', () => {
    let h: EngineHarness
    before(async () => {
      h = await harness([[bob, '10000'], [carol, '10000'], [dave, '10000']])
    })

    it('samples the impact-price premium once a minute and pays at the hour', async () => {
      // t=1000: index 2,000; bob buys 0.007 ETH from carol at 2,030; dave quotes 1 ETH 2,010 / 2,040.
      // Impact bid for 1,000 USDC: ceil(1,000 / 2,010 × 1000) = 498 quantums → 1,000 / 0.498 = 2,008.032128;
      // premium = (2,008.032128 - 2,000) / 2,000 = 4,016,064 ppb (the ask side is above the index: 0).
      await h.okAll([h.oracle(o1, 2, usdc(2_000)), h.order(carol, sell(2, usdc(2_030), 7n)), h.order(bob, buy(2, usdc(2_030), 7n)),
        h.order(dave, buy(2, usdc(2_010), 1000n)), h.order(dave, sell(2, usdc(2_040), 1000n))], 1_000n)
      let m = h.engine.market(2)!
      expect(m).to.include({ premiumSamples: 1, premiumSumPpb: 4_016_064n, nextFundingTime: 3_600n })
      // t=1800: dave pulls his bid; the sample is 0 (no impact bid)
      await h.ok(h.cancel(dave, h.engine.orders(dave.address).find((o) => o.isBuy)!.orderId), 1_800n)
      expect(h.engine.market(2)).to.include({ premiumSamples: 2, premiumSumPpb: 4_016_064n })
      // t=3600: rate = 4,016,064 / 2 / 8 = 251,004 ppb; the funding index grows by
      // 251,004 × 2,000 USDC / 1e9 = 0.502008 USDC per ETH = 502,008,000 (10^-3 quantums).
      await h.batch([], 3_600n)
      m = h.engine.market(2)!
      expect(m).to.include({ fundingIndex: 502_008_000n, lastFundingRatePpb: 251_004n, nextFundingTime: 7_200n, premiumSamples: 1, premiumSumPpb: 0n })
      expect(h.engine.fundingHistory(2)).to.deep.equal([{ time: 3_600n, ratePpb: 251_004n }])
    })

    it('settles lazily and exactly: the payer rounds up, the receiver down, the pool keeps the dust', async () => {
      // 0.007 ETH × 502,008,000 / 10^6 = 3,514.056 quantums: bob owes 3,515, carol is owed 3,514
      const b = h.engine.account(bob.address)
      expect(b.positions[0]!.pendingFunding).to.equal(3_515n)
      expect(b.balances[0]).to.equal(usdc('9985.79')) // 10,000 - 14.21: nothing moved yet
      expect(b.equity).to.equal(usdc('9999.79') - 3_515n) // + 0.007 × 2,000 - pending funding
      expect(h.engine.account(carol.address).positions[0]!.pendingFunding).to.equal(-3_514n)
      h.invariants()
      // any order settles the account's funding through the market pool
      await h.ok(h.order(bob, buy(2, usdc(1_000), 1n)))
      expect(h.balance(bob.address)).to.equal(usdc('9985.79') - 3_515n)
      expect(h.engine.market(2)!.pool).to.equal(3_515n)
      await h.ok(h.order(carol, sell(2, usdc(3_000), 1n)))
      expect(h.balance(carol.address)).to.equal(usdc('10014.21') + 3_514n)
      expect(h.engine.market(2)!.pool).to.equal(1n)
      h.invariants()
    })

    it('clamps the rate at maxFundingPpbPerHour (lowered by an ADMIN update)', async () => {
      expect((await h.one(h.admin(bob, P.AdminAction.UPDATE_MARKET, { ...ETH, maxFundingPpbPerHour: 100_000 }))).code).to.equal(RC.NOT_ADMIN)
      await h.ok(h.admin(admin, P.AdminAction.UPDATE_MARKET, { ...ETH, maxFundingPpbPerHour: 100_000 }), 3_601n)
      // dave swaps his ask for a bid at 2,400: impact bid 1,000 / ceil(1,000 / 2,400 × 1000 = 416.7) = 417
      // → 2,398.081534; premium 199,040,767 ppb. Samples this hour: 0 (t=3600) and 199,040,767 (t=3660)
      // → rate 199,040,767 / 2 / 8 = 12,440,047, clamped to 100,000 → index + 100,000 × 2,000 / 10^6.
      await h.okAll([h.cancelAll(dave, 2), h.order(dave, buy(2, usdc(2_400), 1000n))], 3_660n)
      expect(h.engine.market(2)).to.include({ premiumSamples: 2, premiumSumPpb: 199_040_767n })
      await h.batch([], 7_200n)
      expect(h.engine.market(2)).to.include({ fundingIndex: 502_008_000n + 200_000_000n, lastFundingRatePpb: 100_000n })
      expect(h.engine.fundingHistory(2)).to.deep.equal([{ time: 7_200n, ratePpb: 100_000n }, { time: 3_600n, ratePpb: 251_004n }])
      // bob: 0.007 × 200,000,000 / 10^6 = 1,400 exactly
      expect(h.engine.account(bob.address).positions[0]!.pendingFunding).to.equal(1_400n)
      h.invariants()
      await h.replayNative()
      await h.replayVm()
    })
  })

  describe('options: ADMIN series, premium, Deribit-style short margin, settlement at expiry (ETH calls/puts)', () => {
    let h: EngineHarness
    const CALL: P.MarketConfig = {
      id: 10, symbol: 'ETH-5000-2000-C', kind: P.MarketKind.CALL, underlying: 2, strike: usdc(2_000), expiry: 5_000n,
      tickSize: usdc('0.01'), stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: usdc(100_000), sizeDecimals: 3,
      initialMarginPpm: 150_000, maintenanceMarginPpm: 75_000, optionMinPpm: 100_000,
    }
    const PUT: P.MarketConfig = { ...CALL, id: 11, symbol: 'ETH-5000-1800-P', kind: P.MarketKind.PUT, strike: usdc(1_800) }
    before(async () => {
      h = await harness([[bob, '149.99'], [carol, '414.99'], [dave, '210']])
    })

    it('ADMIN adds a call and a put series; others cannot', async () => {
      expect((await h.one(h.admin(carol, P.AdminAction.ADD_MARKET, CALL))).code).to.equal(RC.NOT_ADMIN)
      expect((await h.one(h.admin(admin, P.AdminAction.ADD_MARKET, { ...CALL, expiry: 900n }))).code).to.equal(RC.BAD_MARKET_CONFIG) // expired
      await h.okAll([h.admin(admin, P.AdminAction.ADD_MARKET, CALL), h.admin(admin, P.AdminAction.ADD_MARKET, PUT), h.oracle(o1, 2, usdc(2_100))])
      expect(h.engine.marketIds()).to.deep.equal([1, 2, 10, 11])
      expect(h.engine.market(10)).to.deep.include({ index: usdc(2_100), settled: false })
      expect(h.engine.market(10)!.config).to.include({ kind: 1, underlying: 2, strike: usdc(2_000), expiry: 5_000n })
    })

    it('a short call needs max(15% S - OTM, 10% S) + intrinsic; a long needs only the premium', async () => {
      // S = 2,100, call 2,000: intrinsic 100, OTM 0 → IM/unit max(315, 210) + 100 = 415; MM/unit 157.5 + 100 = 257.5
      expect((await h.one(h.order(carol, sell(10, usdc(150), 1000n)))).code).to.equal(RC.INSUFFICIENT_MARGIN) // 414.99 < 415
      h.deposit(carol.address, usdc('0.01'))
      h.deposit(bob.address, usdc('0.01'))
      await h.batch([])
      await h.ok(h.order(carol, sell(10, usdc(150), 1000n))) // 415 >= 415
      expect((await h.one(h.order(bob, buy(10, usdc(150), 1001n)))).code).to.equal(RC.INSUFFICIENT_MARGIN) // premium 150.15 > 150
      const r = await h.ok(h.order(bob, buy(10, usdc(150), 1000n))) // premium 150 = equity
      expect(r.filledSize).to.equal(1000n)
      const b = h.engine.account(bob.address)
      // bob: balance 0, long 1 call worth its intrinsic 100
      expect(b).to.include({ equity: usdc(100), initialMarginRequired: 0n, maintenanceMarginRequired: 0n })
      expect(b.balances[0]).to.equal(0n)
      const c = h.engine.account(carol.address)
      // carol: 415 + 150 = 565, short 1 call at -100 → equity 465; IM 415, MM 257.5
      expect(c).to.include({ equity: usdc(465), initialMarginRequired: usdc(415), maintenanceMarginRequired: usdc('257.5') })
      // a far OTM put (1,800 at S = 2,100): max(315 - 300, 210) + 0 = 210 per unit, dave has exactly 210
      expect((await h.one(h.order(dave, sell(11, usdc(5), 1001n)))).code).to.equal(RC.INSUFFICIENT_MARGIN)
      await h.ok(h.order(dave, sell(11, usdc(5), 1000n)))
      expect(h.engine.account(dave.address).initialMarginRequired).to.equal(usdc(210))
      expect(h.engine.market(10)!.openInterest).to.equal(1000n)
      h.invariants()
    })

    it('settles at the first index stamped at or after expiry, clears the book, pays cash lazily', async () => {
      // an index stamped before expiry settles nothing
      await h.ok(h.oracle(o1, 2, usdc(2_200), 4_999n), 4_999n)
      expect(h.engine.market(10)!.settled).to.equal(false)
      await h.ok(h.oracle(o1, 2, usdc(2_250), 5_000n), 5_000n)
      for (const id of [10, 11]) expect(h.engine.market(id)).to.include({ settled: true, settlementPrice: usdc(2_250) })
      expect(h.engine.orders(dave.address)).to.deep.equal([]) // the put's book was cleared
      // call payoff 250: bob's long is worth 250, carol's short -250, before any cash moves
      expect(h.engine.account(bob.address).positions[0]).to.include({ market: 10, value: usdc(250) })
      expect(h.engine.account(carol.address).positions[0]).to.include({ market: 10, value: usdc(-250) })
      expect(h.balance(bob.address)).to.equal(0n)
      expect((await h.one(h.order(bob, buy(10, usdc(1), 1n)))).code).to.equal(RC.MARKET_CLOSED)
      // bob's next order anywhere settles: +250 from the series' pool
      await h.ok(h.order(bob, buy(2, usdc(1_000), 1n)))
      expect(h.balance(bob.address)).to.equal(usdc(250))
      expect(h.engine.market(10)!.pool).to.equal(usdc(-250))
      h.invariants()
      await h.ok(h.order(carol, buy(2, usdc(1_000), 1n)))
      expect(h.balance(carol.address)).to.equal(usdc(315)) // 565 - 250
      expect(h.engine.market(10)).to.include({ pool: 0n, openInterest: 0n })
      h.invariants()
      await h.replayNative()
      await h.replayVm()
    })
  })

  it('index = lower median of fresh oracle prices; stale prices and orders are refused', async () => {
    const h = await harness([[alice, '10000'], [bob, '10000'], [carol, '10000']], { ...GENESIS, maxOracleAgeSeconds: 60 })
    // t=1000: 2,000, 2,100, 1,900 → median 2,000
    await h.okAll([h.oracle(o1, 2, usdc(2_000)), h.oracle(o2, 2, usdc(2_100)), h.oracle(o3, 2, usdc(1_900))], 1_000n)
    expect(h.engine.markPrice(2)).to.equal(usdc(2_000))
    // t=1050: o2 → 2,200; all fresh (1000 + 60 >= 1050): [1,900, 2,000, 2,200] → 2,000, stamped 1050
    await h.ok(h.oracle(o2, 2, usdc(2_200)), 1_050n)
    expect([h.engine.markPrice(2), h.engine.markTimestamp(2)]).to.deep.equal([usdc(2_000), 1_050n])
    // t=1070: o1 and o3 are stale (1060 < 1070): o2 alone → 2,300
    await h.ok(h.oracle(o2, 2, usdc(2_300)), 1_070n)
    expect(h.engine.markPrice(2)).to.equal(usdc(2_300))
    // t=1075: o3 → 1,950: [1,950, 2,300] → the lower middle, 1,950
    await h.ok(h.oracle(o3, 2, usdc(1_950)), 1_075n)
    expect(h.engine.markPrice(2)).to.equal(usdc(1_950))
    const bad = await h.batch([
      h.oracle(o3, 2, usdc(1_960), 1_075n), // not newer than o3's last
      h.oracle(o1, 2, usdc(1_960), 1_015n), // 1015 + 60 < 1076: stale on arrival
      h.oracle(o1, 2, usdc(1_960), 1_137n), // more than 60 s ahead of the clock
      h.oracle(alice, 2, usdc(1_960)), // not an oracle key
      h.oracle(o1, 2, 0n), // zero price
      h.oracle(o1, 10, usdc(1_960)), // unknown market
    ], 1_076n)
    expect(codes(bad)).to.deep.equal(['STALE_ORACLE_PRICE', 'STALE_ORACLE_PRICE', 'STALE_ORACLE_PRICE', 'NOT_ORACLE', 'BAD_PRICE', 'UNKNOWN_MARKET'])
    await h.okAll([h.order(carol, sell(2, usdc(1_950), 1000n)), h.order(bob, buy(2, usdc(1_950), 1000n)), h.order(alice, buy(2, usdc(1_940), 1000n))], 1_077n)
    // t=1200: the newest price (1075) is older than 60 s: new exposure is refused, reducing is not
    const rs = await h.batch([h.order(bob, buy(2, usdc(1_950), 1n)), h.order(bob, sell(2, usdc(1_940), 1000n, { reduceOnly: true })), h.liquidate(carol.address)], 1_200n)
    expect(codes(rs)).to.deep.equal(['STALE_ORACLE_PRICE', 'OK', 'STALE_ORACLE_PRICE'])
    expect(h.position(bob.address, 2)).to.equal(0n)
    h.invariants()
  })

  describe('order types, time in force, flags, cancel / cancel-all / replace, nonces (ETH, index 2,000)', () => {
    let h: EngineHarness
    before(async () => {
      h = await harness([[alice, '100000'], [bob, '100000'], [carol, '100000'], [dave, '100000']])
      await h.ok(h.oracle(o1, 2, usdc(2_000)))
      await h.ok(h.oracle(o1, 1, usdc(50_000)))
    })

    it('post-only rests or is refused; IOC fills what it can and drops the rest', async () => {
      await h.ok(h.order(carol, sell(2, usdc(2_010), 1000n)))
      const rs = await h.batch([
        h.order(alice, buy(2, usdc(2_010), 5000n, { postOnly: true })),
        h.order(alice, buy(2, usdc(2_000), 5000n, { postOnly: true, timeInForce: TIF.IOC })),
        h.order(alice, buy(2, usdc(2_000), 5000n, { postOnly: true })),
      ])
      expect(codes(rs)).to.deep.equal(['POST_ONLY_WOULD_CROSS', 'MALFORMED', 'OK'])
      const r = await h.ok(h.order(bob, buy(2, usdc(2_010), 3000n, { timeInForce: TIF.IOC })))
      expect(r.filledSize).to.equal(1000n)
      expect(h.engine.orders(bob.address)).to.deep.equal([])
      expect(h.engine.book(2, 5)).to.deep.include({ bids: [{ price: usdc(2_000), size: 5000n, orders: 1 }], asks: [] })
    })

    it('FOK fills completely or not at all; a market order takes up to its worst price', async () => {
      await h.okAll([h.order(carol, sell(2, usdc(2_020), 1000n)), h.order(carol, sell(2, usdc(2_030), 1000n)), h.order(carol, sell(2, usdc(2_050), 500n))])
      expect((await h.one(h.order(bob, buy(2, usdc(2_030), 2500n, { timeInForce: TIF.FOK })))).code).to.equal(RC.FOK_NOT_FILLED)
      const fok = await h.ok(h.order(bob, buy(2, usdc(2_030), 2000n, { timeInForce: TIF.FOK })))
      expect(fok.fills.map((f) => [f.price, f.size])).to.deep.equal([[usdc(2_020), 1000n], [usdc(2_030), 1000n]])
      const mkt = await h.ok(h.order(bob, buy(2, usdc(2_100), 1000n, { orderType: OT.MARKET })))
      expect(mkt.filledSize).to.equal(500n) // only the 2,050 offer; the rest is not rested
      expect(h.engine.orders(bob.address)).to.deep.equal([])
      // bob: long 3.5 ETH for 2,010 + 2,020 + 2,030 + 1,025 = 7,085
      expect(h.engine.account(bob.address).positions[0]).to.include({ size: 3500n, entryNotional: usdc(7_085) })
    })

    it('GTT: an order past its expiry is refused, a resting one expires and is dropped when reached', async () => {
      expect((await h.one(h.order(carol, sell(2, usdc(2_060), 1000n, { expiry: h.clock })))).code).to.equal(RC.EXPIRED) // the batch is 1 s later
      await h.ok(h.order(carol, sell(2, usdc(2_060), 1000n, { expiry: h.clock + 11n }))) // good until t + 10 of its batch
      expect(h.engine.orders(carol.address)[0]!.expiry).to.equal(h.clock + 10n)
      const r = await h.ok(h.order(bob, buy(2, usdc(2_060), 1000n, { timeInForce: TIF.IOC })), h.clock + 11n)
      expect(r.filledSize).to.equal(0n)
      expect(h.engine.orders(carol.address)).to.deep.equal([])
    })

    it('reduce-only needs a position and is clamped to it', async () => {
      expect((await h.one(h.order(alice, sell(2, usdc(1_990), 1000n, { reduceOnly: true })))).code).to.equal(RC.REDUCE_ONLY)
      // bob is long 3.5 ETH: a reduce-only sell of 10 fills 3.5 against alice's 2,000 bid and rests nothing
      const r = await h.ok(h.order(bob, sell(2, usdc(2_000), 10_000n, { reduceOnly: true })))
      expect(r.filledSize).to.equal(3500n)
      expect(h.position(bob.address, 2)).to.equal(0n)
      expect(h.engine.orders(bob.address)).to.deep.equal([])
      expect(h.engine.book(2, 5).bids).to.deep.equal([{ price: usdc(2_000), size: 1500n, orders: 1 }])
    })

    it('self-trade prevention cancels the resting order of the same account', async () => {
      const r = await h.ok(h.order(alice, sell(2, usdc(2_000), 1000n)))
      expect(r.filledSize).to.equal(0n)
      const ao = h.engine.orders(alice.address)
      expect(ao).to.have.length(1)
      expect(ao[0]).to.include({ isBuy: false, price: usdc(2_000), remaining: 1000n })
      expect(h.engine.book(2, 5)).to.deep.include({ bids: [], asks: [{ price: usdc(2_000), size: 1000n, orders: 1 }] })
      expect(h.position(alice.address, 2)).to.equal(3500n)
    })

    it('cancel (owner only), cancel-all (one market or all), replace (new id, same side)', async () => {
      const [a1, a2, a3, b1] = await h.okAll([h.order(dave, buy(2, usdc(1_990), 1000n)), h.order(dave, buy(2, usdc(1_980), 1000n)),
        h.order(dave, sell(2, usdc(2_500), 1000n)), h.order(dave, buy(1, usdc(40_000), 10n))])
      const bad = await h.batch([h.cancel(bob, a1!.orderId), h.cancel(dave, 999_999n), h.replace(bob, a1!.orderId, usdc(1_985), 1000n),
        h.replace(dave, a1!.orderId, usdc(1_985), 1_000_001n), h.cancelAll(dave, 77)])
      expect(codes(bad)).to.deep.equal(['NOT_ORDER_OWNER', 'UNKNOWN_ORDER', 'NOT_ORDER_OWNER', 'BAD_SIZE', 'UNKNOWN_MARKET'])
      const rep = await h.ok(h.replace(dave, a1!.orderId, usdc(1_985), 2000n))
      expect(rep.orderId > a1!.orderId).to.equal(true)
      expect(h.engine.order(a1!.orderId)).to.equal(undefined)
      expect(h.engine.order(rep.orderId)).to.include({ isBuy: true, price: usdc(1_985), remaining: 2000n, market: 2 })
      await h.ok(h.cancel(dave, a2!.orderId))
      expect(h.engine.order(a2!.orderId)).to.equal(undefined)
      const ca = await h.ok(h.cancelAll(dave, 2)) // the replaced bid and the 2,500 offer
      expect(ca.filledSize).to.equal(2n)
      expect(h.engine.orders(dave.address).map((o) => o.orderId)).to.deep.equal([b1!.orderId])
      expect(a3!.orderId).to.be.a('bigint')
      expect((await h.ok(h.cancelAll(dave, P.ALL_MARKETS))).filledSize).to.equal(1n)
      expect(h.engine.account(dave.address).positions).to.deep.equal([]) // empty records are freed
    })

    it('nonces: the next one only, once; a rejected item does not consume it', async () => {
      const n = h.engine.nonce(dave.address)
      const rs = await h.batch([h.order(dave, buy(2, usdc(1_900), 1n, { nonce: n + 1n })), h.order(dave, buy(2, usdc(1_900), 1n, { nonce: n })),
        h.order(dave, buy(2, usdc(1_900), 1n, { nonce: n })), h.order(dave, buy(2, usdc(1_900), 1_000_000_000n, { nonce: n + 1n }))])
      expect(codes(rs)).to.deep.equal(['BAD_NONCE', 'OK', 'BAD_NONCE', 'BAD_SIZE'])
      expect(h.engine.nonce(dave.address)).to.equal(n + 1n)
      h.invariants()
      expect(h.rejectionsChecked).to.be.greaterThan(10)
      await h.replayNative()
      await h.replayVm()
    })
  })

  it('stop-market and take-profit orders fire on the oracle index', async () => {
    const h = await harness([[alice, '100000'], [bob, '10000'], [carol, '100000']])
    await h.okAll([h.oracle(o1, 2, usdc(2_000)), h.order(carol, sell(2, usdc(2_000), 1000n)), h.order(bob, buy(2, usdc(2_000), 1000n))])
    const rs = await h.batch([
      // a sell stop fires when the index falls to its trigger: at 2,000 it would fire at once
      h.order(bob, sell(2, usdc(1_850), 1000n, { orderType: OT.STOP_MARKET, triggerPrice: usdc(2_000), reduceOnly: true })),
      h.order(bob, sell(2, usdc(1_850), 1000n, { orderType: OT.STOP_MARKET, triggerPrice: usdc(1_900), reduceOnly: true })),
      h.order(bob, sell(2, usdc(2_150), 1000n, { orderType: OT.TAKE_PROFIT_MARKET, triggerPrice: usdc(2_200), reduceOnly: true })),
      h.order(alice, buy(2, usdc(1_880), 1000n)),
    ])
    expect(codes(rs)).to.deep.equal(['BAD_TRIGGER', 'OK', 'OK', 'OK'])
    expect(h.engine.market(2)!.triggerOrders).to.equal(2)
    expect(h.engine.order(rs[1]!.orderId)).to.include({ triggerPrice: usdc(1_900), orderType: OT.STOP_MARKET })
    // index 1,890 <= 1,900: the stop sells 1 ETH at alice's 1,880 (>= its worst price 1,850)
    await h.ok(h.oracle(o1, 2, usdc(1_890)))
    expect(h.position(bob.address, 2)).to.equal(0n)
    expect(h.position(alice.address, 2)).to.equal(1000n)
    expect(h.balance(bob.address)).to.equal(usdc(9_880)) // 10,000 - 2,000 + 1,880
    expect(h.engine.market(2)!.triggerOrders).to.equal(1)
    // index 2,200: the take-profit fires, finds nothing left to reduce and is dropped
    await h.ok(h.oracle(o1, 2, usdc(2_200)))
    expect(h.engine.market(2)!.triggerOrders).to.equal(0)
    expect(h.engine.orders(bob.address)).to.deep.equal([])
    h.invariants()
    await h.replayVm()
  })

  it('caps open interest: no fill past maxOpenInterest, new exposure refused at the cap, closing allowed', async () => {
    const h = await harness([[bob, '100000'], [carol, '100000'], [dave, '100000'], [erin, '100000']])
    await h.okAll([h.oracle(o1, 2, usdc(2_000)), h.order(carol, sell(2, usdc(2_000), 25_000n)), h.order(bob, buy(2, usdc(2_000), 15_000n))])
    expect(h.engine.market(2)!.openInterest).to.equal(15_000n)
    // 10 more ETH would make 25 > 20: the match stops before that fill; the crossing rest is not rested
    const r = await h.ok(h.order(dave, buy(2, usdc(2_000), 10_000n)))
    expect(r.filledSize).to.equal(0n)
    expect(h.engine.orders(dave.address)).to.deep.equal([])
    await h.ok(h.order(dave, buy(2, usdc(2_000), 5_000n)))
    expect(h.engine.market(2)!.openInterest).to.equal(20_000n)
    expect((await h.one(h.order(erin, buy(2, usdc(2_000), 1n)))).code).to.equal(RC.OPEN_INTEREST_CAP)
    // closing is allowed at the cap: carol buys back 1 ETH from bob
    await h.okAll([h.order(carol, buy(2, usdc(1_990), 1000n)), h.order(bob, sell(2, usdc(1_990), 1000n))])
    expect(h.engine.market(2)!.openInterest).to.equal(19_000n)
    h.invariants()
  })

  it('cross margin: equity counts PnL in every market; withdrawals and transfers cannot go below IM', async () => {
    const h = await harness([[alice, '100000'], [bob, '10000'], [carol, '100000']])
    await h.okAll([h.oracle(o1, 1, usdc(50_000)), h.oracle(o1, 2, usdc(2_000)), h.order(alice, buy(1, usdc(50_000), 100n)), h.order(carol, buy(2, usdc(2_000), 10_000n))])
    // bob shorts 0.1 BTC (taker fee 2.5) and 10 ETH: balance 10,000 + 5,000 - 2.5 + 20,000 = 34,997.5
    await h.okAll([h.order(bob, sell(1, usdc(50_000), 100n)), h.order(bob, sell(2, usdc(2_000), 10_000n))])
    let b = h.engine.account(bob.address)
    expect(b.balances[0]).to.equal(usdc('34997.5'))
    // equity 34,997.5 - 5,000 - 20,000 = 9,997.5; IM 500 + 2,000; MM 250 + 1,000
    expect(b).to.include({ equity: usdc('9997.5'), initialMarginRequired: usdc(2_500), maintenanceMarginRequired: usdc(1_250) })
    // ETH falls to 1,900: bob's short gains 1,000 → equity 10,997.5, IM 500 + 1,900 = 2,400: 8,597.5 free
    await h.ok(h.oracle(o1, 2, usdc(1_900)))
    b = h.engine.account(bob.address)
    expect(b).to.include({ equity: usdc('10997.5'), initialMarginRequired: usdc(2_400) })
    expect((await h.one(h.withdraw(bob, usdc('8597.500001')))).code).to.equal(RC.INSUFFICIENT_MARGIN)
    await h.ok(h.withdraw(bob, usdc('8597.5')))
    expect((await h.one(h.transfer(bob, alice.address, 1n))).code).to.equal(RC.INSUFFICIENT_MARGIN)
    // BTC rises to 51,000: equity 2,300 < IM 2,410: more exposure is refused, reducing is allowed
    await h.ok(h.oracle(o1, 1, usdc(51_000)))
    b = h.engine.account(bob.address)
    expect(b).to.include({ equity: usdc(2_300), initialMarginRequired: usdc(2_410), maintenanceMarginRequired: usdc(1_205) })
    expect((await h.one(h.order(bob, sell(2, usdc(1_900), 1n)))).code).to.equal(RC.INSUFFICIENT_MARGIN)
    const l = h.invariants()
    expect(l.withdrawn).to.equal(usdc('8597.5'))
  })
})
