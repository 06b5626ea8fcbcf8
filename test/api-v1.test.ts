/**
 * Engine v1 through the sequencer's JSON-RPC on a real devnet (anvil, Redis, SQLite): the new
 * transactions (order options, cancel-all, replace, ADMIN) and queries (markets, account margin
 * and positions, open orders, funding, ledger), each bad input with its code and no trace in the
 * journal or state, the keeper liquidating an account an oracle move pushed under maintenance,
 * and a market added by ADMIN that then trades, all replayable from the journal and from L1.
 */
import { expect } from 'chai'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { bytesToHex, keccak256, parseUnits } from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { VeridexClient, VeridexRpcError } from '../sdk/client.js'
import { BTC_PERP, ETH_PERP } from '../cli/config.js'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import {
  ALL_MARKETS, ASSET_COLLATERAL, AdminAction, ITEM_ADMIN, ITEM_LIQUIDATE, OrderType, TimeInForce, encodeMarketConfig,
  type MarketConfig,
} from '../sdk/protocol.js'
import { Sequencer } from '../sequencer/sequencer.js'
import { testDevnet, tempDir, until } from './helpers/devnet.js'
import { expectRefused, sequencerSnapshot } from './helpers/noTrace.js'
import type { Devnet } from '../cli/devnet.js'

const BTC = 60_000_000_000n
const usd = (n: number) => BigInt(n) * 1_000_000n

const SOL_PERP: MarketConfig = {
  id: 3, symbol: 'SOL-PERP', tickSize: 1_000n, stepSize: 1n, minSize: 1n, maxSize: 10_000_000n, maxPrice: 10_000_000_000n,
  sizeDecimals: 3, initialMarginPpm: 200_000, maintenanceMarginPpm: 100_000, makerFeePpm: 100, takerFeePpm: 400,
  liquidationFeePpm: 5_000, liquidationBandPpm: 50_000, impactNotional: 1_000_000_000n, maxFundingPpbPerHour: 1_000_000,
}

describe('engine v1 API (sequencer JSON-RPC, SDK client, keeper)', function () {
  this.timeout(300_000)
  let dev: Devnet
  let client: VeridexClient
  let t: PrivateKeyAccount[]
  let admin: PrivateKeyAccount
  let oracle: PrivateKeyAccount
  let oracleTs = 0n

  const price = (market: number, p: bigint) => client.submitOraclePrice(oracle, { market, price: p, timestamp: ++oracleTs })

  /** Journal rows and engine memory outside scratch: a refused request must change neither. */
  const snapshot = () => sequencerSnapshot(dev.node.sequencer)
  const expectError = (p: Promise<unknown>, code: number, messagePart: RegExp) => expectRefused(() => dev.node.sequencer, p, code, messagePart)

  before(async () => {
    // Batches close only when a test says so (or by size), so snapshots compare like with like.
    dev = await testDevnet({ batchMaxAgeMs: 3_600_000 })
    client = new VeridexClient(dev.node.url)
    // after the devnet's opening prices: each oracle key's timestamps must rise
    oracleTs = BigInt(Math.floor(Date.now() / 1000))
    t = dev.state.keys.traders.map((k) => privateKeyToAccount(k))
    admin = privateKeyToAccount(dev.state.keys.admin)
    oracle = privateKeyToAccount(dev.state.keys.oracle)
    const l1 = l1Public(dev.state.l1)
    const amounts = [20_000, 20_000, 20_000, 20_000, 1_000]
    for (let i = 0; i < amounts.length; i++)
      await depositCollateral(l1, l1Wallet(dev.state.l1, dev.state.keys.traders[i]!), dev.state.deployment, t[i]!.address, parseUnits(String(amounts[i]), 6))
    await until('the deposits seen by the sequencer', () => (dev.node.sequencer.delayedCount >= amounts.length ? true : undefined))
    dev.node.sequencer.closeBatch()
    await until('deposits credited', async () => ((await client.account(t[4]!.address)).balances[ASSET_COLLATERAL] !== '0' ? true : undefined))
  })
  after(async () => {
    await dev?.stop()
  })

  it('vdx_getMarkets / vdx_getMarket: config and live state from the engine; unknown market → -32003', async () => {
    const markets = await client.markets()
    expect(markets.map((m) => [m.id, m.symbol, m.kindName])).to.deep.equal([[1, 'BTC-PERP', 'perpetual'], [2, 'ETH-PERP', 'perpetual']])
    const btc = markets[0]!
    expect(btc).to.include({ takerFeePpm: BTC_PERP.takerFeePpm, makerFeePpm: BTC_PERP.makerFeePpm, liquidationBandPpm: BTC_PERP.liquidationBandPpm, indexFresh: true })
    expect(btc.tickSize).to.equal(BTC_PERP.tickSize.toString())
    expect(btc.index).to.equal(BTC.toString())
    expect(btc.markPrice).to.equal(btc.index)
    expect(btc.openInterest).to.equal('0')
    const eth = await client.market(ETH_PERP.id)
    expect(eth).to.include({ id: 2, symbol: 'ETH-PERP', sizeDecimals: 3, index: '3000000000' })
    await expectError(client.market(99), -32003, /UNKNOWN_MARKET.*vdx_getMarkets/)
    await expectError(client.request('vdx_getMarket', ['one']), -32602, /market/)
  })

  it('vdx_placeOrder with the new options: stop, GTT, IOC market, post-only; their bad inputs', async () => {
    const [a, b] = [t[0]!, t[1]!]
    // A resting GTT bid and a stop; vdx_getOrder shows the new fields.
    const expiry = BigInt(Math.floor(Date.now() / 1000)) + 3600n
    const bid = await client.placeOrder(a, { market: 1, isBuy: true, price: BTC - usd(100), size: 1_000n, expiry })
    expect(bid.remaining).to.equal('1000')
    const bidView = (await client.order(BigInt(bid.orderId)))!
    expect(bidView).to.include({ owner: a.address, orderType: OrderType.LIMIT, timeInForce: TimeInForce.GTC, expiry: expiry.toString(), remaining: '1000' })
    const stop = await client.placeOrder(a, { market: 1, isBuy: false, price: BTC - usd(5_000), size: 500n, orderType: OrderType.STOP_MARKET, triggerPrice: BTC - usd(3_000) })
    expect(await client.order(BigInt(stop.orderId))).to.include({ orderType: OrderType.STOP_MARKET, triggerPrice: (BTC - usd(3_000)).toString(), remaining: '500' })
    // A market sell IOC fills against the bid at its price.
    const sell = await client.placeOrder(b, { market: 1, isBuy: false, price: BTC - usd(1_000), size: 200n, orderType: OrderType.MARKET, timeInForce: TimeInForce.IOC })
    expect(sell.fills).to.have.length(1)
    expect(sell.fills[0]).to.include({ makerOrderId: bid.orderId, size: '200', price: (BTC - usd(100)).toString() })
    expect(sell.remaining).to.equal('0')
    expect(await client.order(BigInt(sell.orderId))).to.equal(null)

    // Bad inputs: each with its code and hint, no trace.
    await expectError(client.placeOrder(b, { market: 1, isBuy: false, price: BTC - usd(100), size: 10n, postOnly: true }), -32019, /POST_ONLY_WOULD_CROSS/)
    await expectError(client.placeOrder(b, { market: 1, isBuy: false, price: BTC, size: 10n, postOnly: true, timeInForce: TimeInForce.IOC }), -32602, /postOnly/)
    await expectError(client.placeOrder(b, { market: 1, isBuy: false, price: BTC, size: 10n, triggerPrice: BTC }), -32602, /triggerPrice/)
    await expectError(client.placeOrder(b, { market: 1, isBuy: true, price: BTC + usd(500), size: 10_000n, timeInForce: TimeInForce.FOK }), -32020, /FOK_NOT_FILLED/)
    await expectError(client.placeOrder(t[2]!, { market: 1, isBuy: false, price: BTC, size: 10n, reduceOnly: true }), -32021, /REDUCE_ONLY/)
    await expectError(client.placeOrder(b, { market: 1, isBuy: true, price: BTC, size: 10n, expiry: 1_000n }), -32018, /EXPIRED/)
    await expectError(client.placeOrder(b, { market: 1, isBuy: true, price: BTC, size: 10n, orderType: OrderType.STOP_MARKET, triggerPrice: BTC - usd(10) }), -32027, /BAD_TRIGGER/)
    await expectError(client.request('vdx_placeOrder', { message: { market: 1, isBuy: true, price: '1', size: '1', orderType: 7, nonce: '0' }, signature: `0x${'11'.repeat(65)}` }), -32602, /orderType/)
    await expectError(client.placeOrder(b, { market: 2, isBuy: true, price: 3_000_000_001n, size: 10n }), -32004, /tickSize/)
  })

  it('vdx_getAccount: equity, initial and maintenance margin, positions with entry notional, value and PnL', async () => {
    const a = await client.account(t[0]!.address)
    const b = await client.account(t[1]!.address)
    const pa = a.positions.find((p) => p.market === 1)!
    const pb = b.positions.find((p) => p.market === 1)!
    expect(pa.size).to.equal('200')
    expect(pb.size).to.equal('-200')
    // 0.02 BTC bought at $59,900: the cost basis; valued at the $60,000 index.
    expect(pa.entryNotional).to.equal(usd(1_198).toString())
    expect(pa.value).to.equal(usd(1_200).toString())
    expect(pa.unrealizedPnl).to.equal(usd(2).toString())
    expect(BigInt(pa.openBuys)).to.equal(800n)
    expect(BigInt(a.maintenanceMarginRequired)).to.equal(usd(60)) // 5% of $1,200
    expect(BigInt(a.initialMarginRequired) > BigInt(a.maintenanceMarginRequired)).to.equal(true)
    expect(BigInt(a.availableMargin)).to.equal(BigInt(a.equity) - BigInt(a.initialMarginRequired))
    expect(a.liquidatable).to.equal(false)
    // the taker paid 0.05%, the maker 0.02%: equity = deposit + PnL − fee
    expect(BigInt(b.equity)).to.equal(usd(20_000) - usd(2) - (usd(1_198) * 500n) / 1_000_000n)
    await expectError(client.request('vdx_getAccount', ['0x1234']), -32602, /address/)
  })

  it('vdx_getOpenOrders, vdx_replaceOrder and vdx_cancelAll; their bad inputs', async () => {
    const [a, b] = [t[0]!, t[1]!]
    const eth = await client.placeOrder(a, { market: 2, isBuy: true, price: 2_900_000_000n, size: 1_000n })
    const open = await client.openOrders(a.address)
    expect(open.map((o) => o.market).sort()).to.deep.equal([1, 1, 2])
    expect((await client.openOrders(a.address, 2)).map((o) => o.orderId)).to.deep.equal([eth.orderId])
    await expectError(client.request('vdx_getOpenOrders', [a.address, 42]), -32003, /UNKNOWN_MARKET/)

    const r = await client.replaceOrder(a, { orderId: BigInt(eth.orderId), price: 2_950_000_000n, size: 2_000n })
    expect(r.replacedOrderId).to.equal(eth.orderId)
    expect(r.orderId).to.not.equal(eth.orderId)
    expect(r.remaining).to.equal('2000')
    expect(await client.order(BigInt(eth.orderId))).to.equal(null)
    expect(await client.order(BigInt(r.orderId))).to.include({ price: '2950000000', remaining: '2000', market: 2 })
    await expectError(client.replaceOrder(b, { orderId: BigInt(r.orderId), price: 2_950_000_000n, size: 10n }), -32009, /NOT_ORDER_OWNER/)
    await expectError(client.replaceOrder(a, { orderId: 999_999n, price: 2_950_000_000n, size: 10n }), -32008, /UNKNOWN_ORDER/)
    await expectError(client.replaceOrder(a, { orderId: BigInt(r.orderId), price: 2_950_000_001n, size: 10n }), -32004, /tickSize/)
    const stopId = open.find((o) => o.orderType === OrderType.STOP_MARKET)!.orderId
    await expectError(client.replaceOrder(a, { orderId: BigInt(stopId), price: BTC, size: 10n }), -32008, /cancel them/)

    await expectError(client.cancelAll(a, 77), -32003, /UNKNOWN_MARKET/)
    const c2 = await client.cancelAll(a, 2)
    expect(c2.cancelled).to.equal(1)
    expect(await client.openOrders(a.address, 2)).to.deep.equal([])
    const c = await client.cancelAll(a, ALL_MARKETS)
    expect(c.cancelled).to.equal(2) // the GTT bid and the stop
    expect(await client.openOrders(a.address)).to.deep.equal([])
  })

  it('vdx_sendAdminAction: ADMIN adds a market that then trades; bad signer and configs are refused', async () => {
    const config = bytesToHex(encodeMarketConfig(SOL_PERP))
    await expectError(client.adminAction(t[0]!, { action: AdminAction.ADD_MARKET, market: SOL_PERP }), -32025, /NOT_ADMIN/)
    await expectError(client.addMarket(admin, { ...SOL_PERP, maintenanceMarginPpm: 300_000 }), -32026, /mmf|maintenanceMarginPpm/)
    await expectError(client.addMarket(admin, { ...BTC_PERP }), -32026, /exists/)
    await expectError(client.updateMarket(admin, { ...SOL_PERP, id: 9 }), -32026, /no market 9/)
    await expectError(client.adminAction(admin, { action: 7, market: config }), -32602, /action/)
    await expectError(client.request('vdx_sendAdminAction', { message: { action: 1, config: '0x00', nonce: '0' }, signature: `0x${'11'.repeat(65)}` }), -32602, /config/)

    const added = await client.addMarket(admin, SOL_PERP)
    expect(added.market).to.include({ id: 3, symbol: 'SOL-PERP', takerFeePpm: 400, index: '0' })
    expect((await client.markets()).map((m) => m.id)).to.deep.equal([1, 2, 3])
    // No index yet: orders are refused until the oracle publishes one.
    await expectError(client.placeOrder(t[2]!, { market: 3, isBuy: true, price: 150_000_000n, size: 1_000n }), -32010, /NO_ORACLE_PRICE/)
    await price(3, 150_000_000n)
    const ask = await client.placeOrder(t[2]!, { market: 3, isBuy: false, price: 150_000_000n, size: 10_000n })
    const buy = await client.placeOrder(t[3]!, { market: 3, isBuy: true, price: 150_000_000n, size: 4_000n })
    expect(buy.fills).to.deep.equal([{ makerOrderId: ask.orderId, maker: t[2]!.address, price: '150000000', size: '4000' }])
    expect((await client.market(3)).openInterest).to.equal('4000')
    expect((await client.account(t[3]!.address)).positions.find((p) => p.market === 3)?.size).to.equal('4000')
    // An update changes fees but not the tick size.
    const upd = await client.updateMarket(admin, { ...SOL_PERP, takerFeePpm: 600 })
    expect(upd.market).to.include({ takerFeePpm: 600, symbol: 'SOL-PERP' })
    await expectError(client.updateMarket(admin, { ...SOL_PERP, tickSize: 2_000n }), -32026, /cannot change/)
  })

  it('vdx_getLedger: fees and the conservation of collateral', async () => {
    const l = await client.ledger()
    expect(l.conserved).to.equal(true)
    expect(BigInt(l.fees) > 0n).to.equal(true)
    expect(BigInt(l.deposited)).to.equal(usd(81_000))
    expect(l.liquidations).to.equal('0')
    const fee = await client.account(dev.state.genesis.feeAccount!)
    expect(fee.balances[ASSET_COLLATERAL]).to.equal(l.fees)
  })

  it('the keeper liquidates an account an oracle move pushed under maintenance, nobody asking', async () => {
    const [poor, rich] = [t[4]!, t[1]!]
    await client.cancelAll(rich, ALL_MARKETS).catch(() => undefined)
    // $1,000 of collateral, 0.15 BTC long at $60,000 ($9,000, IM $900).
    const ask = await client.placeOrder(rich, { market: 1, isBuy: false, price: BTC, size: 1_500n })
    const buy = await client.placeOrder(poor, { market: 1, isBuy: true, price: BTC, size: 1_500n })
    expect(buy.fills[0]?.makerOrderId).to.equal(ask.orderId)
    expect((await client.account(poor.address)).liquidatable).to.equal(false)
    // Depth for the liquidation to close against, within the 3% band.
    await client.placeOrder(t[3]!, { market: 1, isBuy: true, price: BTC - usd(4_500), size: 5_000n })
    const before = (await client.ledger()).insuranceFund
    // $60,000 → $56,000: a $600 loss leaves ~$395 of equity against a $420 maintenance margin.
    await price(1, BTC - usd(4_000))
    const acct = await until('the keeper liquidation', async () => {
      const a = await client.account(poor.address)
      return a.positions.every((p) => p.size === '0') ? a : undefined
    })
    expect(acct.liquidatable).to.equal(false)
    const l = await client.ledger()
    expect(l.liquidations).to.equal('1')
    expect(BigInt(l.insuranceFund) > BigInt(before)).to.equal(true)
    expect(l.conserved).to.equal(true)
    expect(await client.liquidatable()).to.deep.equal([])
    // The engine shows the liquidation as soon as it executed; the keeper counts it once its
    // journal commit is durable (on the journal thread), and only then is the row there to read.
    await until('the keeper counting its liquidation', async () => ((await client.status()) as { keeper: { liquidations: number } }).keeper.liquidations === 1 ? true : undefined)
    const seq = dev.node.sequencer
    const liqItems = seq.journal.db.prepare('SELECT item FROM items').all() as { item: Uint8Array }[]
    expect(liqItems.filter((r) => r.item[0] === ITEM_LIQUIDATE).map((r) => bytesToHex(r.item.subarray(1)).toLowerCase())).to.deep.equal([poor.address.toLowerCase()])
  })

  it('funding: premium samples and an hourly payment show in vdx_getFundingHistory and positions', async () => {
    const seq = dev.node.sequencer
    await price(1, BTC)
    // Bids 1% over the index, $12k deep: a +1% premium (capped at 0.1%/h when paid).
    await client.placeOrder(t[0]!, { market: 1, isBuy: true, price: BTC + usd(600), size: 2_000n })
    // The batch clock follows the L1 clock when that leads: jump to just past the next full hour.
    // That batch pays the hour's funding (from the earlier samples), then samples the +1% premium.
    const jump = async () => {
      seq.closeBatch() // the next batch opens with the new time
      const next = BigInt((await client.fundingHistory(1)).nextFundingTime)
      seq.setL1Time(next + 1n)
      await price(1, BTC)
      seq.closeBatch()
      return next
    }
    const first = await jump()
    const sampled = await client.fundingHistory(1)
    expect(sampled.events.map((e) => e.time)).to.deep.equal([first.toString()])
    expect(sampled.premiumSamples).to.equal(1)
    // about +1% (the impact bid averages what the $10k sale would hit), so 1/8 of it exceeds the cap
    expect(Number(sampled.premiumSumPpb)).to.be.within(8_000_000, 10_000_000)
    const indexBefore = BigInt(sampled.fundingIndex)
    // The next hour pays 1/8 of the average premium, capped at 0.1%.
    const second = await jump()
    const paid = await client.fundingHistory(1)
    expect(paid.events[0]).to.deep.equal({ time: second.toString(), ratePpb: '1000000' })
    expect(paid.events).to.have.length(2)
    expect(paid.lastFundingRatePpb).to.equal('1000000')
    // fundingIndex += rate × index / 10^6 (10^-3 quantums per whole BTC)
    expect(BigInt(paid.fundingIndex) - indexBefore).to.equal((1_000_000n * BTC) / 1_000_000n)
    // longs pay: the short side has negative pending funding (it is owed)
    const short = (await client.account(t[1]!.address)).positions.find((p) => p.market === 1)!
    expect(BigInt(short.size) < 0n).to.equal(true)
    expect(BigInt(short.pendingFunding) < 0n).to.equal(true)
    await expectError(client.fundingHistory(12), -32003, /UNKNOWN_MARKET/)
    expect((await client.ledger()).conserved).to.equal(true)
    // docs/api.md's examples come from here: VERIDEX_API_EXAMPLES=1
    if (process.env.VERIDEX_API_EXAMPLES) console.log(JSON.stringify({ funding: paid, ledger: await client.ledger() }))
  })

  it('the journal replays to the same state (ADMIN and LIQUIDATE items included), and L1 derives the same roots', async () => {
    const seq = dev.node.sequencer
    const closed = seq.closeBatch() ?? { index: seq.journal.lastBatch()!.index }
    const kinds = (seq.journal.db.prepare('SELECT item FROM items').all() as { item: Uint8Array }[]).map((r) => r.item[0])
    expect(kinds).to.include(ITEM_ADMIN)
    expect(kinds).to.include(ITEM_LIQUIDATE)
    const dir = tempDir('replay')
    const file = path.join(dir, 'copy.sqlite')
    await seq.journal.db.backup(file)
    const copy = await Sequencer.open({ journalPath: file, genesis: dev.state.genesis })
    try {
      const mem = (s: Sequencer) => {
        const m = new Uint8Array(s.engine.memory.buffer).slice()
        m.fill(0, s.engine.scratchPtr, s.engine.scratchPtr + s.engine.scratchLen)
        return keccak256(m)
      }
      expect(mem(copy)).to.equal(mem(seq))
      expect([...copy.markets.values()].map((m) => m.symbol)).to.deep.equal(['BTC-PERP', 'ETH-PERP', 'SOL-PERP'])
    } finally {
      copy.close()
    }
    const root = seq.journal.batch(closed.index)!.stateRoot
    const verified = await until('the verifier to derive the last batch from L1', () => dev.node.verifier.verified(closed.index), 60_000)
    expect(verified.stateRoot).to.equal(root)
    expect(existsSync(file)).to.equal(true)
  })
})

