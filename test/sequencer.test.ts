/**
 * The sequencer's public API on a real devnet: accepted transactions, and every kind of bad
 * input getting a stable JSON-RPC error code, a message saying what to fix, and no trace in
 * the journal or the engine state.
 */
import { expect } from 'chai'
import { type Hex, keccak256, parseUnits } from 'viem'
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts'
import { VeridexClient, VeridexRpcError } from '../sdk/client.js'
import { BTC_PERP } from '../cli/config.js'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { ASSET_COLLATERAL } from '../sdk/protocol.js'
import { testDevnet, until } from './helpers/devnet.js'
import { expectRefused, sequencerSnapshot } from './helpers/noTrace.js'
import WebSocket from 'ws'
import type { Devnet } from '../cli/devnet.js'

const PRICE = 60_000_000_000n

describe('sequencer JSON-RPC', function () {
  this.timeout(120_000)
  let dev: Devnet
  let client: VeridexClient
  const trader = () => privateKeyToAccount(dev.state.keys.traders[0]!)

  /**
   * Journal rows and the engine's memory outside the scratch region (which every item's result
   * passes through and end_batch zeroes), to prove a rejected request left nothing behind.
   * Batches close only by size in this file, so nothing else changes memory between snapshots.
   */
  const snapshot = () => sequencerSnapshot(dev.node.sequencer)
  const expectError = (p: Promise<unknown>, code: number, messagePart: RegExp) => expectRefused(() => dev.node.sequencer, p, code, messagePart)

  const raw = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(dev.node.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
    return { status: res.status, body: (await res.json().catch(() => undefined)) as { error?: { code: number; message: string } } | undefined }
  }

  before(async () => {
    dev = await testDevnet({ batchMaxAgeMs: 3_600_000 })
    client = new VeridexClient(dev.node.url)
    const l1 = l1Public(dev.state.l1)
    await depositCollateral(l1, l1Wallet(dev.state.l1, dev.state.keys.traders[0]!), dev.state.deployment, trader().address, parseUnits('10000', 6))
    await depositCollateral(l1, l1Wallet(dev.state.l1, dev.state.keys.traders[1]!), dev.state.deployment, privateKeyToAccount(dev.state.keys.traders[1]!).address, parseUnits('10000', 6))
    // Delayed messages join at the start of the next batch: close the open one once the
    // sequencer has seen the deposits (batches close only by size in this file).
    await until('the deposits seen by the sequencer', () => (dev.node.sequencer.delayedCount > 1 ? true : undefined))
    dev.node.sequencer.closeBatch()
    await until('deposit credited', async () => ((await client.account(trader().address)).balances[ASSET_COLLATERAL] !== '0' ? true : undefined))
  })
  after(async () => {
    await dev?.stop()
  })

  it('accepts a signed order, rests it on the book, and bumps the nonce', async () => {
    const r = await client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 1_000_000n, size: 100n })
    expect(r.status).to.equal('accepted')
    expect(r.fills).to.deep.equal([])
    expect(r.remaining).to.equal('100')
    expect(await client.nonce(trader().address)).to.equal(1n)
    const book = await client.orderBook(BTC_PERP.id)
    expect(book.bids[0]).to.deep.include({ price: (PRICE - 1_000_000n).toString(), size: '100' })
  })

  it('malformed JSON → -32700; unknown method → -32601 naming it', async () => {
    const before = snapshot()
    const a = await raw('{"jsonrpc":"2.0","id":1,"method":')
    expect(a.body?.error?.code).to.equal(-32700)
    const b = await raw(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vdx_nope', params: [] }))
    expect(b.body?.error?.code).to.equal(-32601)
    expect(b.body?.error?.message).to.match(/vdx_nope/)
    expect(snapshot()).to.deep.equal(before)
  })

  it('a missing or mistyped field → -32602 naming the field', async () => {
    const sig = await client.sign(trader(), 'Order', { market: 1, isBuy: true, price: PRICE, size: 1n, nonce: 0n })
    await expectError(client.request('vdx_placeOrder', { message: { market: 1, isBuy: 'yes', price: '1', size: '1', nonce: '0' }, signature: sig }), -32602, /isBuy/)
    await expectError(client.request('vdx_placeOrder', { message: { market: 1, isBuy: true, price: '1', nonce: '0' }, signature: sig }), -32602, /size/)
    await expectError(client.request('vdx_placeOrder', { message: { market: 1, isBuy: true, price: '1', size: '1', nonce: '0' }, signature: '0x1234' }), -32602, /signature/)
  })

  it('a signature that recovers no signer → -32001 BAD_SIGNATURE; another key\'s signature acts for that key', async () => {
    const nonce = await client.nonce(trader().address)
    const message = { market: BTC_PERP.id, isBuy: true, price: PRICE - 2_000_000n, size: 10n, nonce }
    const wire = { ...message, price: message.price.toString(), size: '10', nonce: nonce.toString() }
    const signature = await client.sign(trader(), 'Order', message)
    const badV = `${signature.slice(0, 130)}1f` as Hex
    await expectError(client.request('vdx_placeOrder', { message: wire, signature: badV }), -32001, /BAD_SIGNATURE/)
    const zeroR = `0x${'00'.repeat(32)}${signature.slice(66)}` as Hex
    await expectError(client.request('vdx_placeOrder', { message: wire, signature: zeroR }), -32001, /BAD_SIGNATURE/)
    // There is no sender field: a valid signature by another key is that key's order. A fresh key
    // has no collateral, so the engine refuses it on margin, and the error names the signer.
    const other = privateKeyToAccount(generatePrivateKey())
    const otherSig = await client.sign(other, 'Order', { ...message, nonce: 0n })
    await expectError(client.request('vdx_placeOrder', { message: { ...wire, nonce: '0' }, signature: otherSig }), -32006, /INSUFFICIENT_MARGIN/)
  })

  it('a replayed or skipped nonce → -32002 saying which nonce is expected', async () => {
    const nonce = await client.nonce(trader().address)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 3_000_000n, size: 10n, nonce: nonce - 1n }), -32002, /nonce/)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 3_000_000n, size: 10n, nonce: nonce + 1n }), -32002, /nonce/)
    const err = await client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE, size: 10n, nonce: nonce + 5n }).then(
      () => expect.fail('a skipped nonce was accepted'),
      (e: VeridexRpcError) => e,
    )
    expect(err.data).to.deep.include({ expected: nonce.toString(), got: (nonce + 5n).toString() })
  })

  it('unknown market → -32003; price off tick or too high → -32004; size off step or range → -32005', async () => {
    await expectError(client.placeOrder(trader(), { market: 99, isBuy: true, price: PRICE, size: 10n }), -32003, /market/)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE + 1n, size: 10n }), -32004, /tickSize/)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: BTC_PERP.maxPrice + BTC_PERP.tickSize, size: 10n }), -32004, /maxPrice/)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE, size: 0n }), -32005, /minSize/)
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE, size: BTC_PERP.maxSize + 1n }), -32005, /maxSize/)
  })

  it('too much exposure → -32006 INSUFFICIENT_MARGIN; withdrawing more than the balance → -32007', async () => {
    await expectError(client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE, size: 100_000n }), -32006, /margin/)
    await expectError(client.withdraw(trader(), { to: trader().address, asset: ASSET_COLLATERAL, amount: parseUnits('1000000', 6) }), -32007, /balance/)
    await expectError(client.withdraw(trader(), { to: trader().address, asset: 7, amount: 1n }), -32014, /asset/)
  })

  it('cancel of an unknown order → -32008; of another account\'s order → -32009', async () => {
    await expectError(client.cancelOrder(trader(), 999_999n), -32008, /order/)
    const mine = await client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 5_000_000n, size: 1n })
    const stranger = privateKeyToAccount(generatePrivateKey())
    await expectError(client.cancelOrder(stranger, BigInt(mine.orderId)), -32009, /another account/)
    const ok = await client.cancelOrder(trader(), BigInt(mine.orderId))
    expect(ok.status).to.equal('accepted')
  })

  it('vdx_getStatus reports the acknowledgement latency inside the sequencer over the last minutes', async () => {
    const before = dev.node.sequencer.ackLatency.total.copy()
    for (let i = 0; i < 3; i++) await client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 6_000_000n, size: 1n })
    expect(dev.node.sequencer.ackLatency.total.since(before).count).to.be.at.least(3)
    const { ackLatency: l } = (await client.status()) as unknown as { ackLatency: { count: number; p50Ms: number; p99Ms: number; maxMs: number } }
    expect(l.count).to.be.at.least(3)
    expect(l.p50Ms).to.be.greaterThan(0)
    expect(l.p99Ms).to.be.at.least(l.p50Ms)
    expect(l.maxMs).to.be.at.least(l.p99Ms)
  })

  it('an oracle price from a non-oracle key → -32012', async () => {
    await expectError(client.submitOraclePrice(trader(), { market: BTC_PERP.id, price: PRICE, timestamp: 9_999_999_999n }), -32012, /oracle/)
  })

  it('an oversized request → HTTP 413 with -32090 stating the limit', async () => {
    const before = snapshot()
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vdx_getStatus', params: ['x'.repeat(200_000)] })
    const r = await raw(big)
    expect(r.status).to.equal(413)
    expect(r.body?.error?.code).to.equal(-32090)
    expect(snapshot()).to.deep.equal(before)
    expect((await client.status()).l2ChainId).to.equal(dev.state.genesis.chainId)
  })

  it('streams fills and batches to WebSocket subscribers', async () => {
    const ws = new WebSocket(dev.node.wsUrl)
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    const notes: { subscription: string; result: Record<string, unknown> }[] = []
    const replies = new Map<number, unknown>()
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString())
      if (m.method === 'vdx_subscription') notes.push(m.params)
      else replies.set(m.id, m.result)
    })
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vdx_subscribe', params: ['fills'] }))
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'vdx_subscribe', params: ['batches'] }))
    const [fillsSub, batchesSub] = await until('subscription ids', () => (replies.size === 2 ? [replies.get(1), replies.get(2)] : undefined))
    const seller = privateKeyToAccount(dev.state.keys.traders[1]!)
    const sell = await client.placeOrder(seller, { market: BTC_PERP.id, isBuy: false, price: PRICE - 10_000_000n, size: 1n })
    expect(sell.fills).to.have.length(1)
    const closed = dev.node.sequencer.closeBatch()!
    const fill = await until('a fills notification', () => notes.find((n) => n.subscription === fillsSub))
    expect(fill.result).to.deep.include({ orderId: sell.orderId, taker: seller.address })
    expect(fill.result.fills).to.deep.equal(sell.fills)
    const batch = await until('a batches notification', () => notes.find((n) => n.subscription === batchesSub && n.result.event === 'closed'))
    expect(batch.result).to.deep.include({ index: closed.index, stateRoot: closed.stateRoot })
    await until('the posted notification', () => notes.find((n) => n.subscription === batchesSub && n.result.event === 'posted' && n.result.index === closed.index))
    ws.close()
  })

  it('batches close by size: no batch exceeds the configured maximum', async () => {
    const seq = dev.node.sequencer
    // Shrink the limit on the live instance: the next items must spill into new batches.
    seq.closeBatch()
    const first = seq.journal.lastBatch()!.index
    ;(seq as unknown as { maxBytes: number }).maxBytes = 300
    for (let i = 0; i < 6; i++) await client.placeOrder(trader(), { market: BTC_PERP.id, isBuy: true, price: PRICE - 10_000_000n, size: 1n })
    ;(seq as unknown as { maxBytes: number }).maxBytes = 100_000
    seq.closeBatch()
    const batches = seq.journal.batches().filter((b) => b.index > first)
    // 95-byte orders, three per batch under 300 bytes: 1 format byte + 3 × 95 = 286.
    expect(batches.map((b) => b.data!.length)).to.deep.equal([286, 286])
  })
})
