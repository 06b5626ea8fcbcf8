/**
 * Realistic engine workloads for the benchmarks, built and checked item by item on a reference
 * NativeEngine (every item must be accepted):
 * (1) signed batches as the sequencer posts them: EIP-712-signed orders (resting and crossing),
 *     cancels, a few withdrawals, and deposits consumed by DELAYED items;
 * (2) unsigned orders sent as L1 transactions through the delayed inbox (no signatures).
 * Used by the engine section (bench/engine.ts) and the VM section (bench/vm.ts, bench/vmWorkload.ts).
 */
import { type Address, type Hex, getAddress } from 'viem'
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts'
import { NativeEngine } from '../executor/engine/host.js'
import { StateRootTracker } from '../executor/vm/stateRoot.js'
import * as P from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'
import { prng } from './prng.js'

const CHAIN_ID = 412346
const USDC = 1_000_000n
const MID = 50_000n * USDC
const BRIDGE = getAddress('0x00000000000000000000000000000000b1d6e000')
const keyOf = (n: number) => `0x${(n + 1).toString(16).padStart(64, '0')}` as Hex
const ORACLE_KEY = keyOf(0x0dac1e)
const BTC: P.MarketConfig = {
  id: 1, symbol: 'BTC-PERP', tickSize: 1n * USDC, stepSize: 1n, minSize: 1n, maxSize: 1_000_000n, maxPrice: 1_000_000n * USDC,
  sizeDecimals: 3, initialMarginPpm: 100_000, maintenanceMarginPpm: 50_000,
}
export const MEASURE_CHAIN_ID = CHAIN_ID

/** Signs a transaction into batch item bytes (viem by default; the bench passes its fast signer). */
export type ItemSigner = (privateKey: Hex, tx: P.TxMessage) => Uint8Array | Promise<Uint8Array>

export const viemItemSigner: ItemSigner = async (privateKey, tx) => {
  return signItem(privateKeyToAccount(privateKey), CHAIN_ID, tx)
}

/** Batches to run from a state reached by `genesis` then `setup` (inbox position 0). */
export interface Workload {
  name: string
  /** The genesis the batches start from (for deploying a rollup that runs them: bench/dispute.ts). */
  config: P.GenesisConfig
  genesis: Uint8Array
  delayed: Uint8Array[]
  setup: Uint8Array
  /** Batch messages for inbox positions 1, 2, … */
  batches: Uint8Array[]
  /** Transactions executed by the batches (signed items, or delayed-inbox L2 transactions). */
  items: number
  mix: Record<string, number>
  /** State root after the last batch, on the reference engine that built the batches. */
  finalRoot: Hex
}


interface Common { config: P.GenesisConfig; genesis: Uint8Array; delayed: Uint8Array[]; keys: Hex[]; addrs: Address[]; ref: NativeEngine; setup: Uint8Array }

/** Genesis, one deposit per trader, and a setup batch that publishes the oracle price. */
async function common(accounts: number, sign: ItemSigner): Promise<Common> {
  const keys = Array.from({ length: accounts }, (_, i) => keyOf(0x1000 + i))
  const addrs = keys.map((k) => privateKeyToAccount(k).address)
  const config: P.GenesisConfig = { chainId: CHAIN_ID, oracle: privateKeyToAccount(ORACLE_KEY).address, markets: [BTC] }
  const genesis = P.encodeGenesis(config)
  const delayed = addrs.map((a) =>
    P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(a, 0, 10_000_000n * USDC) }))
  const ref = await NativeEngine.load({ delayed: (i) => delayed[Number(i)]! })
  ref.init(genesis)
  const setup = P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: 100n },
    Uint8Array.of(0, ...(await sign(ORACLE_KEY, { kind: 'OraclePrice', message: { market: 1, price: MID, timestamp: 1n } }))))
  ref.runBatch(setup)
  return { config, genesis, delayed, keys, addrs, ref, setup }
}

/**
 * Signed batches as the sequencer posts them: ~64% resting orders, ~20% crossing orders, ~14%
 * cancels, ~1% deposits (DELAYED items), ~0.5% withdrawals. Every item must be accepted.
 */
export async function buildSignedWorkload(o: { batches: number; itemsPerBatch: number; accounts?: number; sign?: ItemSigner }): Promise<Workload> {
  const sign = o.sign ?? viemItemSigner
  const { config, genesis, delayed, keys, addrs, ref, setup } = await common(o.accounts ?? 64, sign)
  const rand = prng(0x7e5)
  const nonces = keys.map(() => 0n)
  const resting: bigint[][] = keys.map(() => [])
  const mix: Record<string, number> = { resting: 0, crossing: 0, cancel: 0, deposit: 0, withdraw: 0, fills: 0 }
  const batches: Uint8Array[] = []
  let clock = 200n
  for (let b = 0; b < o.batches; b++) {
    const deposits = Math.max(1, Math.round(o.itemsPerBatch / 100))
    for (let d = 0; d < deposits; d++) {
      delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: P.encodeDepositPayload(addrs[Math.floor(rand() * addrs.length)]!, 0, 1_000n * USDC) }))
    }
    const header: P.BatchHeader = { afterDelayedCount: BigInt(delayed.length), timestamp: ++clock }
    ref.beginBatch(header)
    let depositsLeft = deposits
    let items = 0
    while (items < o.itemsPerBatch) {
      const r = rand()
      const i = Math.floor(rand() * keys.length)
      let item: Uint8Array
      let kind: string
      if (depositsLeft > 0 && (r < 0.01 || o.itemsPerBatch - items <= depositsLeft)) {
        item = P.encodeDelayedItem(1)
        depositsLeft--
        kind = 'deposit'
      } else if (r < 0.015) {
        item = await sign(keys[i]!, { kind: 'Withdraw', message: { asset: 0, amount: 1n * USDC, to: addrs[i]!, nonce: nonces[i]! } })
        kind = 'withdraw'
      } else if (r < 0.16 && resting[i]!.length > 0) {
        const orderId = resting[i]!.splice(Math.floor(rand() * resting[i]!.length), 1)[0]!
        if (!ref.order(orderId)) continue // filled meanwhile
        item = await sign(keys[i]!, { kind: 'Cancel', message: { orderId, nonce: nonces[i]! } })
        kind = 'cancel'
      } else {
        const crossing = r < 0.36
        const isBuy = rand() < 0.5
        const away = crossing ? -8n : BigInt(1 + Math.floor(rand() * 30))
        const price = isBuy ? MID - away * BTC.tickSize : MID + away * BTC.tickSize
        item = await sign(keys[i]!, { kind: 'Order', message: { market: 1, isBuy, price, size: BigInt(1 + Math.floor(rand() * 10)), nonce: nonces[i]! } })
        kind = crossing ? 'crossing' : 'resting'
      }
      const res = ref.execItem(item)
      if (res.code !== P.ResultCode.OK) throw new Error(`VM workload: ${kind} item rejected with ${P.resultCodeName(res.code)}`)
      if (kind !== 'deposit') nonces[i]!++
      if (kind === 'resting' || kind === 'crossing') {
        mix.fills! += res.fills.length
        if (ref.order(res.orderId)) resting[i]!.push(res.orderId)
      }
      mix[kind]!++
      items++
    }
    batches.push(P.batchMessage(header, ref.endBatch().data))
  }
  const finalRoot = new StateRootTracker(ref).compute(BigInt(batches.length + 1)).stateRoot
  return { name: `${o.batches} signed batch(es) of ${o.itemsPerBatch} items`, config, genesis, delayed, setup, batches, items: o.batches * o.itemsPerBatch, mix, finalRoot }
}

/** Unsigned orders sent as L1 transactions through the delayed inbox; each batch consumes `ordersPerBatch` of them. */
export async function buildUnsignedWorkload(o: { batches: number; ordersPerBatch: number; accounts?: number; sign?: ItemSigner }): Promise<Workload> {
  const { config, genesis, delayed, addrs, ref, setup } = await common(o.accounts ?? 64, o.sign ?? viemItemSigner)
  const batches: Uint8Array[] = []
  let n = 0
  for (let b = 0; b < o.batches; b++) {
    for (let k = 0; k < o.ordersPerBatch; k++, n++) {
      const isBuy = n % 2 === 0
      const payload = P.encodeUnsignedItem({ kind: 'Order', message: { market: 1, isBuy, price: MID + (isBuy ? 1n : -1n) * BigInt(n % 9) * USDC, size: BigInt(1 + (n % 11)), nonce: 0n } })
      delayed.push(P.encodeDelayedMessage({ kind: P.DELAYED_L2_TX, sender: addrs[n % addrs.length]!, timestamp: 0n, payload }))
    }
    batches.push(P.batchMessage({ afterDelayedCount: BigInt(delayed.length), timestamp: 200n + BigInt(b) }, new Uint8Array(0)))
  }
  for (const b of batches) ref.runBatch(b)
  const finalRoot = new StateRootTracker(ref).compute(BigInt(batches.length + 1)).stateRoot
  return { name: `${o.batches} batch(es) of ${o.ordersPerBatch} delayed-inbox orders`, config, genesis, delayed, setup, batches, items: n, mix: { 'delayed orders': n }, finalRoot }
}

