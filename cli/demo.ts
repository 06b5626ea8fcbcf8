/**
 * `npm run demo`: the whole path through the public API, with viem as the client. Two traders
 * deposit on L1, cross orders on L2, the batch lands on L1, the proposer's assertion is
 * confirmed, and one trader's withdrawal is paid on L1. Uses the running devnet, or starts one.
 */
import { type Hex, formatUnits, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { testCollateralAbi, rollupAbi, sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { depositCollateral, finalizeWithdrawal, waitForWithdrawalProof } from '../bridge/client.js'
import { VeridexClient } from '../sdk/client.js'
import { ASSET_COLLATERAL } from '../sdk/protocol.js'
import { BTC_PERP, readDevnetState, type DevnetState } from './config.js'

export interface DemoResult {
  fills: number
  batch: number
  assertionId: bigint
  withdrawn: bigint
  l1BalanceDelta: bigint
  secondFinalizeReverted: boolean
  wallMs: number
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 90_000, pollMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

export async function runDemo(opts: { fresh?: boolean; state?: DevnetState; log?: (l: string) => void } = {}): Promise<DemoResult> {
  const log = opts.log ?? ((l: string) => console.log(l))
  const started = Date.now()
  let state = opts.state ?? (opts.fresh ? undefined : readDevnetState())
  let stopDevnet: (() => Promise<void>) | undefined
  if (!state) {
    log('demo: no devnet running; starting a private one')
    const { startDevnet } = await import('./devnet.js')
    const dev = await startDevnet({ port: 0, writeState: false, challengePeriodSeconds: 3, batchMaxAgeMs: 500, oracleFeedMs: 5000, log: () => {} })
    state = dev.state
    stopDevnet = dev.stop
  }
  try {
    return await demo(state, log, started)
  } finally {
    await stopDevnet?.()
  }
}

async function demo(s: DevnetState, log: (l: string) => void, started: number): Promise<DemoResult> {
  const client = new VeridexClient(s.sequencerUrl)
  const l1 = l1Public(s.l1)
  const [alice, bob] = [privateKeyToAccount(s.keys.traders[0]!), privateKeyToAccount(s.keys.traders[1]!)]
  const d = s.deployment
  const usd = (q: bigint) => `${formatUnits(q, 6)} vUSD`

  // 1. Deposits on L1 become delayed messages; the sequencer includes them.
  const deposit = parseUnits('20000', 6)
  for (const [name, acct, key] of [['alice', alice, s.keys.traders[0]!], ['bob', bob, s.keys.traders[1]!]] as const) {
    const before = BigInt((await client.account(acct.address)).balances[ASSET_COLLATERAL] ?? '0')
    const r = await depositCollateral(l1, l1Wallet(s.l1, key as Hex), d, acct.address, deposit)
    log(`demo: ${name} deposited ${usd(deposit)} on L1 (delayed message ${r.delayedIndex})`)
    await until(`${name}'s deposit on L2`, async () => {
      const b = BigInt((await client.account(acct.address)).balances[ASSET_COLLATERAL] ?? '0')
      return b >= before + deposit ? b : undefined
    })
  }
  log('demo: both deposits credited on L2')

  // 2. Cross orders: alice sells 0.5 BTC, bob buys it. On a devnet that already has orders, trade
  // inside the spread so that bob's buy meets alice's ask and nothing else.
  // Orders need a fresh index: the devnet's oracle feed keeps one; without a feed, publish it.
  let market = await client.market(BTC_PERP.id)
  if (!market.indexFresh) {
    const now = BigInt(Math.floor(Date.now() / 1000))
    const last = BigInt(market.indexTimestamp)
    await client.submitOraclePrice(privateKeyToAccount(s.keys.oracle), { market: BTC_PERP.id, price: market.index === '0' ? 60_000_000_000n : BigInt(market.index), timestamp: now > last ? now : last + 1n })
    market = await client.market(BTC_PERP.id)
  }
  const index = (BigInt(market.index) / BTC_PERP.tickSize) * BTC_PERP.tickSize
  log(`demo: BTC-PERP index $${formatUnits(index, 6)}`)
  const book = await client.orderBook(BTC_PERP.id, 1)
  const bestBid = book.bids[0] ? BigInt(book.bids[0].price) : 0n
  const bestAsk = book.asks[0] ? BigInt(book.asks[0].price) : undefined
  let price = bestAsk !== undefined && bestAsk <= index ? bestAsk - BTC_PERP.tickSize : index
  if (price <= bestBid) price = bestBid + BTC_PERP.tickSize
  if (bestAsk !== undefined && price >= bestAsk)
    throw new Error('the BTC-PERP spread is one tick, so the demo cannot trade inside it: run `npm run demo -- --fresh` for a private devnet')
  const ask = await client.placeOrder(alice, { market: BTC_PERP.id, isBuy: false, price, size: 5_000n })
  const bid = await client.placeOrder(bob, { market: BTC_PERP.id, isBuy: true, price, size: 5_000n })
  if (bid.fills.length !== 1 || bid.fills[0]!.makerOrderId !== ask.orderId) throw new Error(`expected bob's order to fill against alice's, got ${JSON.stringify(bid)}`)
  log(`demo: bob's buy filled 0.5 BTC at $${formatUnits(price, 6)} against alice's order ${ask.orderId} (batch ${bid.batch})`)
  const [a, b] = await Promise.all([client.account(alice.address), client.account(bob.address)])
  const btc = (x: typeof a) => x.positions.find((p) => p.market === BTC_PERP.id)?.size ?? '0'
  log(`demo: BTC-PERP positions: alice ${btc(a)}, bob ${btc(b)} (base quantums, 1e-4 BTC)`)

  // 3. Alice withdraws 1,000 vUSD to her L1 address.
  const amount = parseUnits('1000', 6)
  const w = await client.withdraw(alice, { to: alice.address, asset: ASSET_COLLATERAL, amount })
  log(`demo: alice requested withdrawal ${w.withdrawalIndex} of ${usd(amount)} (batch ${w.batch})`)

  // 4. The batch lands on L1, the proposer asserts, the assertion is confirmed after the period.
  await until('the batch on L1', async () => {
    const n = (await l1.readContract({ address: d.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' })) as bigint
    return n > BigInt(w.batch) ? n : undefined
  })
  log(`demo: batch ${w.batch} is on L1; waiting for the assertion to be confirmed (challenge period ${s.challengePeriodSeconds} s)`)
  const proof = await waitForWithdrawalProof(client, BigInt(w.withdrawalIndex), { timeoutMs: 120_000, onWait: (m) => log(`demo: waiting: ${m}`) })
  log(`demo: assertion ${proof.assertionId} confirmed with outbox root ${proof.outboxRoot}`)

  // 5. Finalize on L1: paid once; a second finalization reverts.
  const wallet = l1Wallet(s.l1, s.keys.traders[0]!)
  const balance = () => l1.readContract({ address: d.collateral, abi: testCollateralAbi, functionName: 'balanceOf', args: [alice.address] }) as Promise<bigint>
  const before = await balance()
  const paid = await finalizeWithdrawal(l1, wallet, d, proof)
  const delta = (await balance()) - before
  if (delta !== amount) throw new Error(`alice's L1 balance changed by ${delta}, expected ${amount}`)
  log(`demo: withdrawal paid on L1 in tx ${paid.tx} (gas ${paid.gasUsed}); alice's L1 balance +${usd(delta)}`)
  let secondFinalizeReverted = false
  try {
    await finalizeWithdrawal(l1, wallet, d, proof)
  } catch (e) {
    secondFinalizeReverted = /already finalized/.test((e as Error).message)
  }
  if (!secondFinalizeReverted) throw new Error('a second finalization of the same withdrawal did not revert')
  log('demo: a second finalization reverts, as it must')

  const confirmed = (await l1.readContract({ address: d.rollup, abi: rollupAbi, functionName: 'latestConfirmed' })) as bigint
  const result: DemoResult = {
    fills: bid.fills.length,
    batch: bid.batch,
    assertionId: confirmed,
    withdrawn: amount,
    l1BalanceDelta: delta,
    secondFinalizeReverted,
    wallMs: Date.now() - started,
  }
  log(`\nDemo complete in ${(result.wallMs / 1000).toFixed(1)} s: 2 deposits, ${result.fills} fill, batch ${result.batch} on L1, assertion ${confirmed} confirmed, ${usd(amount)} withdrawn and paid on L1 once.`)
  return result
}
