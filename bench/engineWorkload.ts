/**
 * The engine v1 benchmark workload (bench/engine.ts): signed batches as the sequencer posts them
 * on two perpetuals with fees, margin tiers, liquidation fees and bands, built item by item on a
 * reference NativeEngine. Each batch starts with the oracle moving both indices (a random walk,
 * and every fourth batch a 4–7% drop or spike in one market) and a keeper's LIQUIDATE for every
 * account `liquidatable()` names; then market makers rest and cancel GTC limit orders (some
 * post-only) around the index, and leveraged traders cross the spread with GTC, IOC and market
 * orders and close with reduce-only orders; ~1% deposits (DELAYED items). Only accepted items
 * reach the batch data (the host cuts rejected ones), so every timed item does work.
 */
import { type Address, type Hex, getAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { NativeEngine } from '../executor/engine/host.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import * as P from '../sdk/protocol.js'
import { prng } from './prng.js'
import type { ItemSigner, Workload } from './workload.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const keyOf = (n: number) => `0x${(n + 1).toString(16).padStart(64, '0')}` as Hex
const ORACLE_KEY = keyOf(0x0dac1e)

const MARKETS: P.MarketConfig[] = [
  {
    id: 1, symbol: 'BTC-PERP', tickSize: USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC, sizeDecimals: 3,
    initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, tierNotional: 500_000n * USDC, tierInitialMarginPpm: 20_000, tierMaintenanceMarginPpm: 10_000,
    makerFeePpm: 200, takerFeePpm: 500, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000, impactNotional: 10_000n * USDC, maxFundingPpbPerHour: 1_000_000,
  },
  {
    id: 2, symbol: 'ETH-PERP', tickSize: 10_000n, stepSize: 1n, minSize: 1n, maxSize: 10_000_000n, maxPrice: 100_000n * USDC, sizeDecimals: 3,
    initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000, makerFeePpm: 100, takerFeePpm: 400, liquidationFeePpm: 10_000, liquidationBandPpm: 50_000,
    impactNotional: 5_000n * USDC, maxFundingPpbPerHour: 1_000_000,
  },
]
const START = [50_000n * USDC, 2_000n * USDC]

export async function buildEngineV1Workload(o: { batches: number; itemsPerBatch: number; accounts: number; sign: ItemSigner }): Promise<Workload> {
  const rand = prng(0x51ee7)
  const int = (n: number) => Math.floor(rand() * n)
  const keys = Array.from({ length: o.accounts }, (_, i) => keyOf(0x2000 + i))
  const addrs: Address[] = keys.map((k) => privateKeyToAccount(k).address)
  const makers = Math.max(4, Math.floor(o.accounts / 10)) // accounts 0..makers-1 make markets
  const config: P.GenesisConfig = { chainId: CHAIN_ID, oracle: privateKeyToAccount(ORACLE_KEY).address, markets: MARKETS }
  const genesis = P.encodeGenesis(config)
  const deposit = (a: Address, amount: bigint) => P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(a, 0, amount) })
  const funds = addrs.map((_, i) => (i < makers ? 50_000_000n * USDC : BigInt(2_000 + int(20_000)) * USDC))
  const delayed = addrs.map((a, i) => deposit(a, funds[i]!))
  const ref = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
  ref.init(genesis)
  const index = [...START]
  let clock = 100n
  const oracleItem = async (m: number) => o.sign(ORACLE_KEY, { kind: 'OraclePrice', message: { market: m + 1, price: index[m]!, timestamp: clock } })
  const setup = P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: clock }, Uint8Array.of(0, ...(await oracleItem(0)), ...(await oracleItem(1))))
  ref.runBatch(setup)

  const nonces = keys.map(() => 0n)
  const resting: bigint[][] = keys.map(() => [])
  const mix: Record<string, number> = {}
  const batches: Uint8Array[] = []
  let items = 0
  let fills = 0
  const tickOf = (m: number) => MARKETS[m]!.tickSize

  for (let b = 0; b < o.batches; b++) {
    clock += 120n // an hour of funding passes every 30 batches
    const deposits = Math.max(1, Math.round(o.itemsPerBatch / 100))
    for (let d = 0; d < deposits; d++) delayed.push(deposit(addrs[makers + int(o.accounts - makers)]!, 1_000n * USDC))
    const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: clock }
    ref.beginBatch(header)
    let accepted = 0
    const run = (item: Uint8Array, kind: string, who?: number): P.ItemResult => {
      const r = ref.execItem(item)
      if (r.code !== P.ResultCode.OK) return r
      if (who !== undefined) nonces[who]!++
      mix[kind] = (mix[kind] ?? 0) + 1
      fills += r.fills.length
      accepted++
      return r
    }
    // the oracle, then the keeper
    for (let m = 0; m < 2; m++) {
      let bp = BigInt(int(61) - 30) // ±0.3%
      if (b % 4 === 3 && m === (b >> 2) % 2) bp = (b & 8 ? 1n : -1n) * BigInt(400 + int(300))
      index[m] = ((index[m]! + (index[m]! * bp) / 10_000n) / tickOf(m)) * tickOf(m)
      run(await oracleItem(m), 'oracle')
    }
    for (const a of ref.liquidatable()) run(P.encodeLiquidateItem(a), 'liquidate')
    let depositsLeft = deposits
    while (accepted < o.itemsPerBatch) {
      const r = rand()
      if (depositsLeft > 0 && (r < 0.01 || o.itemsPerBatch - accepted <= depositsLeft)) {
        run(P.encodeDelayedItem(1), 'deposit')
        depositsLeft--
        continue
      }
      const m = int(2)
      const mid = index[m]!
      const tick = tickOf(m)
      const isBuy = rand() < 0.5
      if (r < 0.45) {
        // a maker rests a GTC limit 1–40 ticks from the index (10% post-only), or cancels one
        const i = int(makers)
        if (resting[i]!.length > 30 || (resting[i]!.length > 0 && rand() < 0.35)) {
          const orderId = resting[i]!.splice(int(resting[i]!.length), 1)[0]!
          if (!ref.order(orderId)) continue
          run(await o.sign(keys[i]!, { kind: 'Cancel', message: { orderId, nonce: nonces[i]! } }), 'cancel', i)
          continue
        }
        const away = BigInt(1 + int(40)) * tick * (m === 0 ? 5n : 20n)
        const postOnly = rand() < 0.1
        const size = BigInt(1 + int(m === 0 ? 200 : 4_000))
        const res = run(await o.sign(keys[i]!, { kind: 'Order', message: { market: m + 1, isBuy, price: isBuy ? mid - away : mid + away, size, postOnly, nonce: nonces[i]! } }), postOnly ? 'post-only' : 'resting', i)
        if (res.code === P.ResultCode.OK && ref.order(res.orderId)) resting[i]!.push(res.orderId)
        continue
      }
      // a trader: ~8x leverage on its deposit scale, crossing the spread
      const i = makers + int(o.accounts - makers)
      const pos = ref.account(addrs[i]!).positions.find((p) => p.market === m + 1)?.size ?? 0n
      const through = (m === 0 ? 300n : 400n) * tick
      let msg: P.OrderMsg
      let kind: string
      if (r < 0.55 && pos !== 0n) {
        msg = { market: m + 1, isBuy: pos < 0n, price: pos < 0n ? mid + through : mid - through, size: pos < 0n ? -pos : pos, reduceOnly: true, timeInForce: P.TimeInForce.IOC, nonce: nonces[i]! }
        kind = 'reduce-only'
      } else {
        const notional = (funds[i]! * BigInt(20 + int(70))) / 10n // 2–9x the deposit
        const size = (notional * 1000n) / mid + 1n
        const k = rand()
        msg = { market: m + 1, isBuy, price: isBuy ? mid + through : mid - through, size, nonce: nonces[i]! }
        if (k < 0.4) { msg.timeInForce = P.TimeInForce.IOC; kind = 'ioc' }
        else if (k < 0.6) { msg.orderType = P.OrderType.MARKET; msg.timeInForce = P.TimeInForce.IOC; kind = 'market' }
        else kind = 'crossing'
      }
      const res = run(await o.sign(keys[i]!, { kind: 'Order', message: msg }), kind, i)
      if (res.code === P.ResultCode.OK && ref.order(res.orderId)) resting[i]!.push(res.orderId)
    }
    items += accepted
    batches.push(P.batchMessage(header, ref.endBatch().data))
  }
  mix.fills = fills
  const l = ref.ledger()
  mix.liquidations = Number(l.liquidations)
  mix.deleverages = Number(l.deleverages)
  const finalRoot = new StateRootTracker(ref).compute(BigInt(batches.length + 1)).stateRoot
  return { name: `${o.batches} engine v1 batch(es) of ${o.itemsPerBatch} items`, config, genesis, delayed, setup, batches, items, mix, finalRoot }
}
