/**
 * Deterministic-seed fuzzing of every JSON-RPC method a real node exposes (the list is read from
 * the running server, so methods added later are fuzzed too) over HTTP and WebSocket: random
 * params of every JSON type, huge and negative numbers, unicode, deep nesting, and mutations of
 * valid requests. Every reply must be a well-formed JSON-RPC response (result, or error with an
 * integer code and a string message), never an internal error or a leaked stack trace; the node
 * stays up; and since no fuzzed request can be valid (templates carry a far-future nonce, and any
 * change to a signed field makes the signature recover some unfunded key), the journal and the
 * engine state must not change at all.
 *
 * Seed and size: FUZZ_SEED (default 20240601) and FUZZ_CASES (default 5,000 per transport).
 */
import { expect } from 'chai'
import { type Hex, hexToBytes } from 'viem'
import type { Devnet } from '../cli/devnet.js'
import { BTC_PERP } from '../cli/config.js'
import type { TxMessage } from '../sdk/protocol.js'
import { FastSigner } from '../bench/signer.js'
import { testDevnet } from './helpers/devnet.js'
import { WsPeer, agentFrom, expectWellFormed, health, post, snapshot } from './helpers/hostile.js'
import { rng } from './helpers/rng.js'
import { jsonDepthExceeds } from '../sequencer/rpc/server.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20240601)
const CASES = Number(process.env.FUZZ_CASES ?? 5_000)

type Rng = ReturnType<typeof rng>
type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const STRINGS = [
  '', ' ', '0', '-1', '1.5', '1e3', '0x', '0x0', '0xg', '00', ' 1', '1 ', '+1', 'NaN', 'Infinity', 'null', 'true', '[]', '{}',
  '9'.repeat(40), '18446744073709551616', '18446744073709551615', '4294967296', '9007199254740993', '-9223372036854775808',
  ADDRESS, ADDRESS.toLowerCase(), ADDRESS.slice(0, 41), `${ADDRESS}00`, '0x' + 'ff'.repeat(65), '0x' + '00'.repeat(65),
  'fills', 'batches', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  'ünïcødé', '日本語', '🚀💥', '\u0000', '\ud800', '\udfff', '\u202e', 'a'.repeat(2_000), '%s%n', '<script>', "'; DROP TABLE items; --",
]
const NUMBERS = [0, -0, 1, -1, 0.5, -0.5, 1e-300, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, 4294967295, 4294967296]
const KEYS = ['message', 'signature', 'address', 'index', 'orderId', 'market', 'depth', 'assertionId', 'nonce', 'price', 'size', 'isBuy', 'to', 'asset', 'amount', 'timestamp', '__proto__', 'constructor', '', 'x']

function randomValue(r: Rng, depth = 0): Json {
  const k = r.int(depth > 3 ? 5 : 8)
  switch (k) {
    case 0: return null
    case 1: return r.chance(0.5)
    case 2: return r.chance(0.7) ? r.pick(NUMBERS) : (r.next() - 0.5) * 10 ** r.int(30)
    case 3: return r.pick(STRINGS)
    case 4: return r.chance(0.5) ? String(r.int(1e9)) : '0x' + Buffer.from(r.bytes(r.int(70))).toString('hex')
    case 5: return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1))
    case 6: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(KEYS), randomValue(r, depth + 1)]))
    default: return nest(r, 1 + r.int(31), randomValue(r, 4))
  }
}

/** `v` wrapped in `d` levels of arrays/objects (up to and over the server's limit of 32). */
function nest(r: Rng, d: number, v: Json): Json {
  for (let i = 0; i < d; i++) v = r.chance(0.5) ? [v] : { [r.pick(KEYS)]: v }
  return v
}

/** Replaces, deletes, adds, retypes or wraps one random node of `v`. */
function mutate(r: Rng, v: Json): Json {
  if (v === null || typeof v !== 'object' || r.chance(0.15)) {
    switch (r.int(6)) {
      case 0: return randomValue(r)
      case 1: return typeof v === 'string' ? (/^[0-9]+$/.test(v) ? Number(v) : v + r.pick(STRINGS)) : typeof v === 'number' ? String(v) : randomValue(r)
      case 2: return typeof v === 'string' && v.length ? v.slice(0, r.int(v.length)) : randomValue(r)
      case 3: return typeof v === 'number' ? -v || -1 : typeof v === 'string' ? `-${v}` : randomValue(r)
      case 4: return nest(r, 1 + r.int(40), v)
      default: return typeof v === 'number' ? v * 2 ** (1 + r.int(70)) : [v]
    }
  }
  if (Array.isArray(v)) {
    const out = v.slice()
    if (out.length === 0 || r.chance(0.2)) out.push(randomValue(r))
    else if (r.chance(0.15)) out.splice(r.int(out.length), 1)
    else {
      const i = r.int(out.length)
      out[i] = mutate(r, out[i]!)
    }
    return out
  }
  const out: { [k: string]: Json } = { ...v }
  const keys = Object.keys(out)
  if (keys.length === 0 || r.chance(0.15)) out[r.pick(KEYS)] = randomValue(r)
  else if (r.chance(0.15)) delete out[r.pick(keys)]
  else {
    const k = r.pick(keys)
    out[k] = mutate(r, out[k]!)
  }
  return out
}

/**
 * For a signed `{ message, signature }`: one field changed to another value of the right type, or
 * one signature byte changed, so the request gets past parsing into recovery, nonce and engine
 * checks (the signature now recovers some other, unfunded key, or none).
 */
function typedMutate(r: Rng, t: Json): Json {
  const { message, signature } = t as { message: Record<string, Json>; signature: string }
  if (r.chance(0.3)) {
    const i = 2 + r.int(130)
    const c = '0123456789abcdef'[r.int(16)]!
    return { message, signature: signature.slice(0, i) + c + signature.slice(i + 1) }
  }
  const k = r.pick(Object.keys(message))
  const old = message[k]
  const v: Json =
    typeof old === 'boolean' ? !old
    : k === 'to' ? '0x' + Buffer.from(r.bytes(20)).toString('hex')
    : r.pick(['0', '1', String(r.int(1e6)), String(r.int(2 ** 31) * 2 ** 20), '18446744073709551615', '0x' + Buffer.from(r.bytes(8)).toString('hex'), r.int(1e6), 0])
  return { message: { ...message, [k]: v }, signature }
}

describe('JSON-RPC fuzzing of every method (devnet)', function () {
  this.timeout(600_000)
  let dev: Devnet
  let methods: readonly string[]
  let templates: Record<string, Json[]>
  const logs: string[] = []

  before(async () => {
    dev = await testDevnet({ batchMaxAgeMs: 3_600_000, challenger: false, log: (l) => logs.push(l) })
    methods = dev.node.server.methods
    const signer = new FastSigner(dev.state.genesis.chainId)
    const key = dev.state.keys.traders[0]! as Hex
    const oracleKey = dev.state.keys.oracle as Hex
    // Valid-looking signed requests that the node must still refuse: the nonce is far ahead (or,
    // for an oracle price, the timestamp is in the past), so even an unchanged one is rejected.
    const far = 1_000_000n
    const signed = (k: Hex, tx: TxMessage): Json => ({
      message: Object.fromEntries(Object.entries(tx.message).map(([n, v]) => [n, typeof v === 'bigint' ? v.toString() : v])) as Json,
      signature: signer.sign(hexToBytes(k), tx),
    })
    templates = {
      vdx_placeOrder: [signed(key, { kind: 'Order', message: { market: BTC_PERP.id, isBuy: true, price: 59_000_000_000n, size: 10n, nonce: far } })],
      vdx_cancelOrder: [signed(key, { kind: 'Cancel', message: { orderId: 1n, nonce: far } })],
      vdx_transfer: [signed(key, { kind: 'Transfer', message: { to: ADDRESS, asset: 0, amount: 1_000_000n, nonce: far } })],
      vdx_withdraw: [signed(key, { kind: 'Withdraw', message: { to: ADDRESS, asset: 0, amount: 1_000_000n, nonce: far } })],
      vdx_submitOraclePrice: [signed(oracleKey, { kind: 'OraclePrice', message: { market: BTC_PERP.id, price: 60_000_000_000n, timestamp: 1n } })],
      vdx_getNonce: [[ADDRESS], { address: ADDRESS }],
      vdx_getAccount: [[ADDRESS], { address: ADDRESS }],
      vdx_getWithdrawals: [[ADDRESS]],
      vdx_getOrder: [['1'], [1], { orderId: '1' }],
      vdx_getOrderBook: [[BTC_PERP.id, 20], { market: BTC_PERP.id, depth: 5 }],
      vdx_getBatch: [[0], ['0'], { index: 0 }],
      vdx_getWithdrawalProof: [[{ index: '0' }], [{ index: '0', assertionId: '1' }]],
      vdx_subscribe: [['fills'], ['batches']],
      vdx_unsubscribe: [['0x' + '00'.repeat(16)]],
      vdx_chainId: [[]],
      vdx_getMarkets: [[]],
      vdx_getStatus: [[]],
    }
    for (const m of ['vdx_placeOrder', 'vdx_cancelOrder', 'vdx_transfer', 'vdx_withdraw', 'vdx_submitOraclePrice']) templates[m]!.push([templates[m]![0]!])
  })

  after(async () => {
    await dev?.stop()
  })

  /** The params of case `i`: random, a mutated template, or (rarely) an unchanged template. */
  function params(r: Rng, method: string): Json | undefined {
    const t: Json[] = templates[method] ?? [[], {}] // a method added later: fuzzed from empty params
    switch (r.int(11)) {
      case 0: return undefined
      case 1: return Array.from({ length: r.int(4) }, () => randomValue(r))
      case 9: {
        const v = r.pick(t)
        const signed = Array.isArray(v) ? v[0] : v
        return signed && typeof signed === 'object' && 'signature' in signed ? [typedMutate(r, typedMutate(r, signed))] : mutate(r, v)
      }
      case 2: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(KEYS), randomValue(r)]))
      case 3: {
        const v = r.pick(t)
        const signed = Array.isArray(v) ? v[0] : v
        if (signed && typeof signed === 'object' && 'signature' in signed && r.chance(0.8)) return typedMutate(r, signed)
        return v
      }
      case 4: return nest(r, 20 + r.int(20), r.pick(t))
      default: {
        let v: Json = r.pick(t)
        for (let n = 1 + r.int(3); n > 0; n--) v = mutate(r, v)
        return Array.isArray(v) || (v !== null && typeof v === 'object') ? v : [v]
      }
    }
  }

  function cases(seed: number, n: number): { id: number; method: string; body: string }[] {
    const r = rng(seed)
    return Array.from({ length: n }, (_, i) => {
      // Every method gets its share, then some unknown and odd names.
      const method = i < methods.length * 4 ? methods[i % methods.length]! : r.chance(0.97) ? r.pick(methods) : r.pick(['vdx_nope', '', 'VDX_CHAINID', 'vdx_chainId ', '__proto__', 'vdx_' + 'x'.repeat(300)])
      const p = params(r, method)
      const body = JSON.stringify({ jsonrpc: '2.0', id: i, method, ...(p === undefined ? {} : { params: p }) })
      return { id: i, method, body }
    })
  }

  function check(reply: any, c: { id: number; method: string; body: string }, transport: string, tally: Map<string, number>) {
    const ref = reply?.error?.data?.ref
    const logged = ref ? `; node log: ${logs.find((l) => l.includes(ref))?.slice(0, 1500)}` : ''
    const what = `${transport} case ${c.id} ${c.method} ${c.body.slice(0, 300)}${logged}`
    expectWellFormed(reply, what)
    // Too deep or too large: refused before parsing, so the id cannot be read (JSON-RPC says null).
    if ([-32090, -32091].includes(reply.error?.code)) expect(reply.id, what).to.equal(null)
    else expect(reply.id, what).to.equal(c.id)
    const key = `${c.method} ${reply.error ? reply.error.code : 'result'}`
    tally.set(key, (tally.get(key) ?? 0) + 1)
    // A state-changing method must never succeed on fuzzed input.
    if (/^vdx_(placeOrder|cancelOrder|transfer|withdraw|submitOraclePrice)$/.test(c.method)) expect(reply.error, `${what} was accepted`).to.not.equal(undefined)
  }

  it(`fuzzes every method with ${CASES} cases over HTTP and ${CASES} over WebSocket (seed ${SEED}); nothing crashes, nothing changes`, async () => {
    const seq = dev.node.sequencer
    const before = snapshot(seq)
    const tally = new Map<string, number>()

    const httpCases = cases(SEED, CASES)
    const agent = agentFrom('127.0.0.1', 8)
    for (let i = 0; i < httpCases.length; i += 8) {
      await Promise.all(
        httpCases.slice(i, i + 8).map(async (c) => {
          const res = await post(dev.node.url, c.body, { agent })
          expect([200, 413], `http case ${c.id} status`).to.include(res.status)
          check(res.json, c, 'http', tally)
        }),
      )
      if (i % 1000 === 0) expect(await health(dev.node.url), `health after ${i} http cases`).to.equal(true)
    }
    agent.destroy()

    const wsCases = cases(SEED + 1, CASES)
    let ws = await WsPeer.open(dev.node.wsUrl)
    for (let i = 0; i < wsCases.length; i += 32) {
      const chunk = wsCases.slice(i, i + 32)
      // Replies refused before parsing carry id null: send those cases alone.
      const deep = chunk.filter((c) => jsonDepthExceeds(Buffer.from(c.body), 32))
      const replies = await Promise.all(chunk.map((c) => (deep.includes(c) ? undefined : ws.send(c.body, c.id))))
      for (const c of deep) replies[chunk.indexOf(c)] = await ws.send(c.body, null)
      chunk.forEach((c, j) => check(replies[j], c, 'ws', tally))
      if (ws.unmatched.some((m) => m.method !== 'vdx_subscription')) expect.fail(`unmatched ws replies: ${JSON.stringify(ws.unmatched).slice(0, 500)}`)
      if (i % 1024 === 0) {
        // A fresh socket now and then, so subscriptions made by fuzzed vdx_subscribe calls do not pile up.
        await ws.close()
        ws = await WsPeer.open(dev.node.wsUrl)
      }
    }
    await ws.close()

    expect(await health(dev.node.url)).to.equal(true)
    expect(snapshot(seq), 'journal and engine state unchanged by fuzzed requests').to.deep.equal(before)
    expect(logs.filter((l) => /internal error|unexpected error/.test(l)), 'internal errors logged').to.deep.equal([])
    // Every method the server lists was reached, and got past parameter checking at least once in a while.
    for (const m of methods) expect([...tally.keys()].some((k) => k.startsWith(`${m} `)), `${m} fuzzed`).to.equal(true)
    if (process.env.FUZZ_VERBOSE) console.log([...tally].sort().map(([k, v]) => `${k}: ${v}`).join('\n'))
  })
})
