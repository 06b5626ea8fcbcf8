/**
 * Hostile clients against a real devnet (anvil, Redis, SQLite journal): oversized bodies, deep
 * nesting, malformed JSON, huge batches, a flood from one key, thousands of invalid signatures, a
 * request flood from one IP, and slow-loris sockets. Attackers use their own loopback source
 * addresses (127.0.0.2, .3, …), so the server sees distinct client IPs, and no IP is exempt
 * from the limits here. After each attack: /health answers, honest clients' orders are all
 * accepted, and rejected input left no trace (journal rows and engine memory unchanged, or the
 * journal replayed from scratch equals the live engine). Speed is not asserted here (bench/hostile.ts).
 */
import { connect, type Socket } from 'node:net'
import http from 'node:http'
import { expect } from 'chai'
import { type Address, type Hex, bytesToHex, hexToBytes, parseUnits } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import WebSocket from 'ws'
import type { Devnet } from '../cli/devnet.js'
import { BTC_PERP } from '../cli/config.js'
import { depositCollateral } from '../bridge/client.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { ASSET_COLLATERAL, type TxMessage } from '../sdk/protocol.js'
import { VeridexClient } from '../sdk/client.js'
import type { RateLimitOptions } from '../sequencer/rpc/rateLimit.js'
import { FastSigner } from '../bench/signer.js'
import { testDevnet, until } from './helpers/devnet.js'
import { WsPeer, agentFrom, expectReplayMatches, expectWellFormed, health, post, rpcBody, snapshot } from './helpers/hostile.js'
import { rng } from './helpers/rng.js'

const LIMITS = {
  exempt: [],
  ip: { perSecond: 1_000, burst: 5_000 },
  signer: { perSecond: 20, burst: 100 },
  invalidSignature: { perSecond: 5, burst: 25 },
  invalidSignatureTotal: { perSecond: 20, burst: 100 },
  maxConnectionsPerIp: 64,
} satisfies RateLimitOptions
const REQUEST_TIMEOUT_MS = 2_000
const RATE_LIMITED = -32092
const BID = 50_000_000_000n // far below the oracle price: honest orders rest, never cross
const MAX_BODY = 64 * 1024

/** A funded account that places resting orders and tracks its own nonce. */
class Trader {
  readonly address: Address
  nonce = 0n
  constructor(
    readonly key: Hex,
    private readonly signer: FastSigner,
  ) {
    this.address = privateKeyToAccount(key).address
  }
  /** The JSON-RPC body of the next order (nonce not consumed until accepted). */
  orderBody(nonce = this.nonce, id: number | string = 1, isBuy = true): string {
    const message = { market: BTC_PERP.id, isBuy, price: isBuy ? BID : BID * 2n, size: 10n, nonce }
    const signature = this.signer.sign(hexToBytes(this.key), { kind: 'Order', message } as TxMessage)
    return rpcBody('vdx_placeOrder', { message: { ...message, price: message.price.toString(), size: '10', nonce: nonce.toString() }, signature }, id)
  }
}

describe('hostile clients (devnet)', function () {
  this.timeout(180_000)
  let dev: Devnet
  let url: string
  let wsUrl: string
  let traders: Trader[]
  let logs: string[]

  /** An honest client from `ip` places `n` orders one after another; every one must be accepted. */
  async function honest(t: Trader, n: number, ip = '127.0.0.1'): Promise<number> {
    const agent = agentFrom(ip, 1)
    try {
      for (let i = 0; i < n; i++) {
        const r = await post(url, t.orderBody(), { agent })
        expect(r.json?.result?.status, `honest order ${i} of ${t.address} from ${ip}: ${r.text.slice(0, 300)}`).to.equal('accepted')
        t.nonce++
      }
      return n
    } finally {
      agent.destroy()
    }
  }

  /**
   * Each address sends 19 requests, under a per-address burst of 25: one, then two batches of 9,
   * every address at once; `body(n)` is request n (unique per address and entry). The replies, flat.
   */
  async function nineteenFromEach(ips: string[], body: (n: number) => string): Promise<any[]> {
    const replies: any[] = []
    for (const size of [1, 9, 9]) {
      const res = await Promise.all(ips.map((ip, k) => post(url, size === 1 ? body(k) : `[${Array.from({ length: size }, (_, i) => body(k * 100 + i)).join(',')}]`, { localAddress: ip })))
      for (const r of res) replies.push(...(Array.isArray(r.json) ? r.json : [r.json]))
    }
    return replies
  }

  /** Service up and honest clients served. */
  async function stillServes() {
    expect(await health(url), '/health').to.equal(true)
    await honest(traders[0]!, 3)
  }

  before(async () => {
    logs = []
    dev = await testDevnet({
      batchMaxAgeMs: 3_600_000, // batches close by size only: nothing else moves state between snapshots
      challenger: false,
      rpc: { requestTimeoutMs: REQUEST_TIMEOUT_MS, heartbeatMs: 1_000 },
      rateLimits: LIMITS,
      log: (l) => logs.push(l),
    })
    url = dev.node.url
    wsUrl = dev.node.wsUrl
    const signer = new FastSigner(dev.state.genesis.chainId)
    await signer.crossCheckWithViem([{ key: dev.state.keys.traders[0]!, tx: { kind: 'Order', message: { market: 1, isBuy: true, price: BID, size: 10n, nonce: 0n } } }])
    traders = dev.state.keys.traders.slice(0, 3).map((k) => new Trader(k, signer))
    const l1 = l1Public(dev.state.l1)
    for (const t of traders) await depositCollateral(l1, l1Wallet(dev.state.l1, t.key), dev.state.deployment, t.address, parseUnits('10000', 6))
    await until('the deposits seen by the sequencer', () => (dev.node.sequencer.delayedCount >= traders.length ? true : undefined))
    dev.node.sequencer.closeBatch()
    const client = new VeridexClient(url)
    for (const t of traders) await until('deposit credited', async () => ((await client.account(t.address)).balances[ASSET_COLLATERAL] !== '0' ? true : undefined))
    // An open batch holding an item, so the replay check compares like with like.
    await honest(traders[0]!, 1)
  })

  after(async () => {
    await dev?.stop()
  })

  afterEach(function () {
    const internal = logs.filter((l) => /internal error|unexpected error/.test(l))
    expect(internal, 'no internal errors logged').to.deep.equal([])
  })

  it('oversized bodies over HTTP (declared and streamed) and WebSocket: -32090 / close 1009, no trace', async () => {
    const before = snapshot(dev.node.sequencer)
    const big = Buffer.alloc(1024 * 1024, 0x20)
    const declared = await post(url, big, { localAddress: '127.0.0.6' })
    expect(declared.status).to.equal(413)
    expect(declared.json.error.code).to.equal(-32090)
    expect(declared.json.error.data.limit).to.equal(MAX_BODY)
    expect(declared.json.error.message).to.match(/limit is 65536 bytes/)
    // Streamed without a Content-Length: the server counts while reading.
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(url).port, method: 'POST', path: '/', localAddress: '127.0.0.6', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode!, text }))
      })
      req.on('error', reject)
      let sent = 0
      const pump = () => {
        while (sent < 512 * 1024) {
          sent += 16 * 1024
          if (!req.write(Buffer.alloc(16 * 1024, 0x5b))) return void req.once('drain', pump)
        }
        req.end()
      }
      pump()
    })
    expect(streamed.status).to.equal(413)
    expect(JSON.parse(streamed.text).error.code).to.equal(-32090)
    // Many at once.
    const many = await Promise.all(Array.from({ length: 16 }, () => post(url, big, { localAddress: '127.0.0.6' }).catch((e: Error) => ({ status: 0, text: e.message }))))
    for (const r of many) expect([413, 0]).to.include(r.status)
    expect(many.filter((r) => r.status === 413).length).to.be.greaterThan(0)
    // WebSocket: a frame over the limit closes that socket (1009); a new one works.
    const ws = await WsPeer.open(wsUrl, '127.0.0.6')
    ws.ws.send('['.repeat(MAX_BODY + 1))
    expect(await ws.closed()).to.equal(1009)
    const ws2 = await WsPeer.open(wsUrl, '127.0.0.6')
    expect((await ws2.send(rpcBody('vdx_chainId', [], 7), 7)).result).to.equal(dev.state.genesis.chainId)
    await ws2.close()
    expect(snapshot(dev.node.sequencer)).to.deep.equal(before)
    await stillServes()
  })

  it('deeply nested JSON over HTTP and WebSocket: -32091 before parsing, no trace', async () => {
    const before = snapshot(dev.node.sequencer)
    const nest = (d: number, leaf = '1') => '['.repeat(d) + leaf + ']'.repeat(d)
    const deep = [
      nest(30_000),
      '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
      '['.repeat(60_000), // never closed
      rpcBody('vdx_placeOrder', { message: JSON.parse(nest(40)), signature: '0x' }),
      `[${Array.from({ length: 50 }, () => rpcBody('vdx_getNonce', JSON.parse(nest(35)))).join(',')}]`,
    ]
    const ws = await WsPeer.open(wsUrl, '127.0.0.7')
    for (const body of deep) {
      const r = await post(url, body, { localAddress: '127.0.0.7' })
      expect(r.status).to.equal(200)
      expectWellFormed(r.json, 'deep http')
      expect(r.json.error.code).to.equal(-32091)
      expect(r.json.error.message).to.match(/nest at most 32 levels/)
      const w = await ws.send(body, null)
      expectWellFormed(w, 'deep ws')
      expect(w.error.code).to.equal(-32091)
    }
    // Within the depth limit but nonsense where an object belongs: a params error naming the field.
    const r = await post(url, rpcBody('vdx_placeOrder', { message: JSON.parse(nest(25)), signature: '0x' + '00'.repeat(65) }), { localAddress: '127.0.0.7' })
    expectWellFormed(r.json, 'nested params')
    expect(r.json.error.code).to.equal(-32602)
    expect(r.json.error.message).to.match(/message/)
    await ws.close()
    expect(snapshot(dev.node.sequencer)).to.deep.equal(before)
    await stillServes()
  })

  it('malformed JSON and invalid request shapes: a well-formed error for each, no trace', async () => {
    const before = snapshot(dev.node.sequencer)
    const r = rng(6)
    const payloads: (string | Buffer)[] = [
      '',
      '{',
      '}',
      'null',
      'true',
      '12',
      '"vdx_chainId"',
      '[1',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_chainId"',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_chainId",}',
      "{'jsonrpc':'2.0','id':1,'method':'vdx_chainId'}",
      'NaN',
      '\ufeff' + rpcBody('vdx_chainId', []),
      rpcBody('vdx_chainId', []).replace('2.0', '1.0'),
      '{"jsonrpc":"2.0","id":{"a":1},"method":"vdx_chainId"}',
      '{"jsonrpc":"2.0","id":1,"method":12}',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_chainId","params":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"__proto__"}',
      '{"jsonrpc":"2.0","id":1,"method":"constructor"}',
      '{"jsonrpc":"2.0","id":1,"method":"toString"}',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_getNonce","params":{"__proto__":{"address":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}}}',
      '{"jsonrpc":"2.0","id":1e999,"method":"vdx_chainId"}',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_getOrder","params":[1e999]}',
      '{"jsonrpc":"2.0","id":1,"method":"vdx_placeOrder","params":{"message":{"market":1,"isBuy":true,"price":"1e30","size":"-1","nonce":"0x"},"signature":"0xzz"}}',
      '"\\ud800"',
      Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]),
      ...Array.from({ length: 30 }, () => Buffer.from(r.bytes(1 + r.int(400)))),
      ...Array.from({ length: 30 }, () => {
        const s = rpcBody('vdx_placeOrder', { message: { market: 1, isBuy: true, price: '1', size: '1', nonce: '0' }, signature: '0x' })
        const cut = r.int(s.length)
        return s.slice(0, cut) + String.fromCharCode(r.int(128)) + s.slice(cut + 1)
      }),
    ]
    const ws = await WsPeer.open(wsUrl, '127.0.0.7')
    for (const [i, p] of payloads.entries()) {
      const h = await post(url, p, { localAddress: '127.0.0.7' })
      expect([200, 204], `payload ${i}`).to.include(h.status)
      if (h.status === 200) {
        for (const m of [h.json].flat()) expectWellFormed(m, `malformed http payload ${i} ${JSON.stringify(String(p).slice(0, 80))}`)
        if (!Array.isArray(h.json) && h.json.id === null && h.json.error) {
          const w = await ws.send(p as string, null)
          expectWellFormed(w, `malformed ws payload ${i}`)
          expect(w.error.code).to.equal(h.json.error.code)
        }
      }
    }
    expect(ws.ws.readyState).to.equal(WebSocket.OPEN)
    await ws.close()
    expect(snapshot(dev.node.sequencer)).to.deep.equal(before)
    await stillServes()
  })

  it('huge batches: over the limit refused whole with the limit stated, full ones answered in order, no trace', async () => {
    const before = snapshot(dev.node.sequencer)
    const ip = '127.0.0.7'
    const over = await post(url, `[${Array.from({ length: 101 }, (_, i) => rpcBody('vdx_chainId', [], i)).join(',')}]`, { localAddress: ip })
    expectWellFormed(over.json, 'batch of 101')
    expect(over.json.error.code).to.equal(-32600)
    expect(over.json.error.data.limit).to.equal(100)
    expect(over.json.error.message).to.match(/exceeds the limit of 100; split it/)
    const tiny = await post(url, `[${Array(15_000).fill('{}').join(',')}]`, { localAddress: ip })
    expect(tiny.json.error.code).to.equal(-32600)
    const full = await post(url, `[${Array.from({ length: 100 }, (_, i) => rpcBody(i % 2 ? 'vdx_getNonce' : 'vdx_chainId', i % 2 ? [traders[0]!.address] : [], i)).join(',')}]`, { localAddress: ip })
    expect(full.json).to.have.length(100)
    full.json.forEach((m: any, i: number) => {
      expectWellFormed(m, `batch entry ${i}`)
      expect(m.id).to.equal(i)
      expect(m.result).to.not.equal(undefined)
    })
    // A full batch of signed orders that all fail (fresh keys: no account, no collateral). Such
    // signers spend the IP's invalid-signature budget: past its burst they are rate limited.
    const signer = new FastSigner(dev.state.genesis.chainId)
    const orders = Array.from({ length: 100 }, (_, i) => {
      const message = { market: BTC_PERP.id, isBuy: true, price: BID, size: 10n, nonce: 0n }
      const signature = signer.sign(hexToBytes(generatePrivateKey()), { kind: 'Order', message })
      return rpcBody('vdx_placeOrder', { message: { ...message, price: BID.toString(), size: '10', nonce: '0' }, signature }, i)
    })
    const refused = await post(url, `[${orders.join(',')}]`, { localAddress: ip })
    const codes = refused.json.map((m: any) => {
      expectWellFormed(m, 'unfunded order in a batch')
      return m.error.code
    })
    const engine = codes.filter((c: number) => c === -32006).length
    expect(engine).to.be.within(LIMITS.invalidSignature.burst, LIMITS.invalidSignature.burst + 2)
    expect(codes, 'refused by the engine up to the burst, then rate limited, in order').to.deep.equal([...Array(engine).fill(-32006), ...Array(100 - engine).fill(RATE_LIMITED)])
    expect(refused.json.at(-1).error.data).to.deep.include({ scope: 'invalidSignature', key: ip })
    const notes = await post(url, `[${Array(100).fill('{"jsonrpc":"2.0","method":"vdx_chainId"}').join(',')}]`, { localAddress: ip })
    expect(notes.status).to.equal(204)
    expect(snapshot(dev.node.sequencer)).to.deep.equal(before)
    await stillServes()
  })

  it('a flood from one key is rate-limited with a clear error, while honest accounts on the same IP are all accepted', async () => {
    const ip = '127.0.0.2'
    const [h0, h1, flooder] = traders as [Trader, Trader, Trader]
    const items0 = snapshot(dev.node.sequencer).items
    const flood = 400
    const ws = await WsPeer.open(wsUrl, ip)
    const t0 = Date.now()
    // Pipelined on one socket, nonces in order: without the limit every one would be accepted.
    const floodReplies = Promise.all(Array.from({ length: flood }, (_, i) => ws.send(flooder.orderBody(flooder.nonce + BigInt(i), `f${i}`), `f${i}`)))
    const honestDone = Promise.all([honest(h0, 15, ip), honest(h1, 15, ip)])
    const replies = await floodReplies
    const elapsedS = (Date.now() - t0) / 1000
    const honestAccepted = (await honestDone).reduce((a, b) => a + b, 0)
    await ws.close()

    const accepted = replies.filter((m) => m.result?.status === 'accepted').length
    const limited = replies.filter((m) => m.error?.code === RATE_LIMITED)
    for (const m of replies) {
      expectWellFormed(m, 'flood reply')
      // Accepted, rate-limited, or a later nonce after a refused one (a refused order consumes no nonce).
      if (m.error) expect([RATE_LIMITED, -32002], JSON.stringify(m.error)).to.include(m.error.code)
    }
    expect(accepted).to.be.at.least(LIMITS.signer.burst)
    expect(accepted).to.be.at.most(LIMITS.signer.burst + Math.ceil(LIMITS.signer.perSecond * elapsedS) + 1)
    expect(limited.length).to.be.greaterThan(0)
    const e = limited[0].error
    expect(e.message).to.match(/^rate limited: too many signed transactions from this signer \(limit 20\/s, burst 100\); retry after \d+ ms/)
    expect(e.data).to.deep.include({ scope: 'signer', key: flooder.address, perSecond: 20, burst: 100, cost: 1 })
    expect(e.data.retryAfterMs).to.be.a('number').greaterThan(0)

    // The accepted ones, and only they, are in the journal; the flooder's nonce counts exactly them.
    flooder.nonce += BigInt(accepted)
    expect(BigInt(await new VeridexClient(url).request<string>('vdx_getNonce', [flooder.address]))).to.equal(flooder.nonce)
    expect(snapshot(dev.node.sequencer).items).to.equal(items0 + accepted + honestAccepted)
    await expectReplayMatches(dev.node.sequencer)

    // The limit lifts after the advertised wait.
    await new Promise((r) => setTimeout(r, Math.max(...limited.map((m) => m.error.data.retryAfterMs)) + 100))
    const again = await post(url, flooder.orderBody(), { localAddress: ip })
    expect(again.json.result?.status, again.text).to.equal('accepted')
    flooder.nonce++
    await stillServes()
  })

  it('thousands of invalid signatures are refused, before recovery once the IP has spent its budget; honest clients keep trading', async () => {
    const ip = '127.0.0.3'
    const items0 = snapshot(dev.node.sequencer).items
    const r = rng(3)
    const t = traders[0]!
    const good = JSON.parse(t.orderBody(t.nonce + 1000n)).params as { message: unknown; signature: Hex }
    const sig = hexToBytes(good.signature)
    /** Signatures that recover no signer: v not 27/28, s above n/2 or zero, r zero. */
    const invalidSignature = (i: number): Hex => {
      const s = sig.slice()
      switch (i % 4) {
        case 0: s[64] = 29 + r.int(200); break
        case 1: s.fill(0xff, 32, 64); break
        case 2: s.fill(0, 32, 64); break
        default: s.fill(0, 0, 32)
      }
      return bytesToHex(s)
    }
    const body = (i: number) => rpcBody('vdx_placeOrder', { message: good.message, signature: invalidSignature(i) }, i)
    const t0 = Date.now()
    const honestDone = honest(t, 20)
    const replies: any[] = []
    const agent = agentFrom(ip, 4)
    const ws = await WsPeer.open(wsUrl, ip)
    const viaWs = Promise.all(Array.from({ length: 1000 }, (_, i) => ws.send(body(2000 + i), 2000 + i)))
    for (let b = 0; b < 20; b++) {
      const res = await post(url, `[${Array.from({ length: 100 }, (_, i) => body(b * 100 + i)).join(',')}]`, { agent })
      replies.push(...res.json)
    }
    replies.push(...(await viaWs))
    const elapsedS = (Date.now() - t0) / 1000
    agent.destroy()
    await ws.close()
    const honestAccepted = await honestDone

    expect(replies).to.have.length(3000)
    const bad = replies.filter((m) => m.error?.code === -32001)
    const limited = replies.filter((m) => m.error?.code === RATE_LIMITED)
    for (const m of replies) expectWellFormed(m, 'invalid signature reply')
    expect(bad.length + limited.length).to.equal(3000)
    expect(bad.length).to.be.at.least(LIMITS.invalidSignature.burst)
    expect(bad.length).to.be.at.most(LIMITS.invalidSignature.burst + Math.ceil(LIMITS.invalidSignature.perSecond * elapsedS) + 1)
    expect(limited[0].error.data).to.deep.include({ scope: 'invalidSignature', key: ip })
    expect(limited[0].error.message).to.match(/too many invalid signatures from this client IP .*retry after \d+ ms/)

    // Forged signatures that do recover (to some other key): refused by nonce or margin, never accepted.
    const forged = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const s = sig.slice()
        s[1 + (i % 32)]! ^= 1 + r.int(255)
        return post(url, rpcBody('vdx_placeOrder', { message: good.message, signature: bytesToHex(s) }, i), { localAddress: '127.0.0.8' })
      }),
    )
    for (const f of forged) {
      expectWellFormed(f.json, 'forged')
      expect([-32001, -32002, -32006, RATE_LIMITED]).to.include(f.json.error.code)
    }
    expect(snapshot(dev.node.sequencer).items).to.equal(items0 + honestAccepted)
    await expectReplayMatches(dev.node.sequencer)
    await stillServes()
  })

  it('a request flood from one IP gets 429 + Retry-After with ids kept; other IPs are served', async () => {
    const ip = '127.0.0.5'
    const before = snapshot(dev.node.sequencer)
    const agent = agentFrom(ip, 8)
    const batch = (b: number) => `[${Array.from({ length: 100 }, (_, i) => rpcBody('vdx_chainId', [], b * 100 + i)).join(',')}]`
    const honestDone = honest(traders[1]!, 10, '127.0.0.1')
    const ws = await WsPeer.open(wsUrl, ip)
    const wsReplies: Promise<any>[] = []
    const res = await Promise.all(
      Array.from({ length: 100 }, async (_, b) => {
        const r = await post(url, batch(b), { agent })
        // Over WebSocket from the same IP, while the flood goes on (a batch costs 100 too).
        wsReplies.push(ws.send(`[${Array.from({ length: 100 }, (_, i) => rpcBody('vdx_chainId', [], `w${b}_${i}`)).join(',')}]`, `w${b}_0`))
        return r
      }),
    )
    const refused = res.filter((r) => r.status === 429)
    expect(refused.length).to.be.greaterThan(0)
    for (const one of refused) {
      expect(Number(one.headers['retry-after'])).to.be.at.least(1)
      if (Array.isArray(one.json)) {
        // Parsed, then over budget: every entry answered, ids kept.
        expect(one.json).to.have.length(100)
        for (const m of one.json) {
          expectWellFormed(m, '429 entry')
          expect(m.error.code).to.equal(RATE_LIMITED)
          expect(m.error.data).to.deep.include({ scope: 'ip', key: ip, cost: 100 })
        }
        expect(one.json.map((m: any) => m.id % 100)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i))
      } else {
        // No budget left at all: refused before the body was read, so the id is unknown (null).
        expectWellFormed(one.json, '429 before reading')
        expect(one.json.id).to.equal(null)
        expect(one.json.error.code).to.equal(RATE_LIMITED)
        expect(one.json.error.data).to.deep.include({ scope: 'ip', key: ip })
      }
    }
    // Over WebSocket the same error, for that request's id.
    const ws2 = (await Promise.all(wsReplies)).flat()
    for (const m of ws2) expectWellFormed(m, 'ws during the flood')
    const w = ws2.find((m) => m.error)
    expect(w, 'some ws request refused during the flood').to.not.equal(undefined)
    expect(w.error.code).to.equal(RATE_LIMITED)
    expect(w.id).to.match(/^w\d+_\d+$/)
    expect(w.error.message).to.match(/too many requests from this client IP \(limit 1000\/s, burst 5000\); retry after \d+ ms/)
    await ws.close()
    agent.destroy()
    expect(await honestDone).to.equal(10)
    // Limited queries changed nothing but the honest orders.
    expect(snapshot(dev.node.sequencer).items).to.equal(before.items + 10)
    await stillServes()
  })

  it('slow-loris sockets are timed out or refused over the connection cap, and honest clients are served meanwhile', async () => {
    const before = snapshot(dev.node.sequencer).items
    const port = Number(new URL(url).port)
    const ip = '127.0.0.4'
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, localAddress: ip }, () => resolve(s))
        s.on('error', () => {})
        s.once('error', reject)
      })
    const closedBy = (s: Socket) => new Promise<string>((resolve) => {
      let text = ''
      s.on('data', (d) => (text += d))
      s.once('close', () => resolve(text))
    })
    const socks: Socket[] = []
    const closed: Promise<string>[] = []
    const timers: NodeJS.Timeout[] = []
    for (let i = 0; i < LIMITS.maxConnectionsPerIp; i++) {
      const s = await open()
      socks.push(s)
      closed.push(closedBy(s))
      if (i % 2 === 0) {
        s.write('POST / HTTP/1.1\r\nHost: x\r\n')
        timers.push(setInterval(() => s.writable && s.write(`X-${i}: y\r\n`), 300))
      } else {
        s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[`)
        timers.push(setInterval(() => s.writable && s.write(' '), 300))
      }
    }
    // Over the cap: answered 429 at once, and closed.
    const extra = await Promise.all(Array.from({ length: 8 }, async () => closedBy(await open())))
    for (const text of extra) {
      expect(text).to.match(/^HTTP\/1.1 429/)
      expect(text).to.match(/too many open connections from this client IP \(limit 64\)/)
    }
    // WebSockets that go quiet mid-frame and never answer pings.
    const quietWs = await Promise.all(Array.from({ length: 8 }, () => WsPeer.open(wsUrl, '127.0.0.9', { autoPong: false })))
    for (const q of quietWs) (q.ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x81, 0xfe, 0x10]))

    // Honest clients while all of that hangs.
    await honest(traders[2]!, 10, '127.0.0.1')
    expect(await health(url)).to.equal(true)

    // Every trickling socket is cut by the server: HTTP by the request timeout, ws by the heartbeat.
    const texts = await Promise.all(closed)
    timers.forEach(clearInterval)
    for (const text of texts) expect(text === '' || /^HTTP\/1.1 408/.test(text), text).to.equal(true)
    for (const q of quietWs) expect(await q.closed()).to.equal(1006)
    // The cap counted them down again: the same IP is served.
    const r = await post(url, rpcBody('vdx_chainId', []), { localAddress: ip })
    expect(r.json.result).to.equal(dev.state.genesis.chainId)
    expect(snapshot(dev.node.sequencer).items).to.equal(before + 10)
    await expectReplayMatches(dev.node.sequencer)
    await stillServes()
  })

  // Last: it leaves the shared invalid-signature budget spent and 100 addresses suspect for a minute.
  it('invalid signatures from 100 addresses at once, each within its own budget: the shared budget bounds them, honest clients keep trading', async () => {
    const items0 = snapshot(dev.node.sequencer).items
    const t = traders[1]!
    const good = JSON.parse(t.orderBody(t.nonce + 1000n)).params as { message: unknown; signature: Hex }
    const sig = hexToBytes(good.signature)
    /** v outside 27/28: recovers no signer. */
    const garbage = (i: number) => {
      const s = sig.slice()
      s[64] = 29 + (i % 200)
      return rpcBody('vdx_placeOrder', { message: good.message, signature: bytesToHex(s) }, i)
    }
    const ips = Array.from({ length: 100 }, (_, i) => `127.0.2.${i + 1}`)
    const t0 = Date.now()
    const honestDone = honest(traders[2]!, 20, '127.0.0.10')
    const replies = await nineteenFromEach(ips, garbage)
    const elapsedS = (Date.now() - t0) / 1000
    const honestAccepted = await honestDone

    expect(replies).to.have.length(1900)
    for (const m of replies) expectWellFormed(m, 'invalid signature reply')
    const bad = replies.filter((m) => m.error?.code === -32001)
    const limited = replies.filter((m) => m.error?.code === RATE_LIMITED)
    expect(bad.length + limited.length).to.equal(1900)
    // Per-IP budgets alone would have let all 1,900 through to recovery.
    const total = LIMITS.invalidSignatureTotal
    expect(bad.length, `${bad.length} invalid signatures answered BAD_SIGNATURE in ${elapsedS.toFixed(1)} s`).to.be.at.most(total.burst + Math.ceil(total.perSecond * elapsedS) + 10)
    expect(limited.every((m) => m.error.data.scope === 'invalidSignatureTotal')).to.equal(true)
    expect(limited[0].error.message).to.match(/invalid signatures from all clients together, and this client IP sent one in the last minute .*retry after \d+ ms/)
    expect(honestAccepted).to.equal(20)
    expect(snapshot(dev.node.sequencer).items).to.equal(items0 + honestAccepted)
    await expectReplayMatches(dev.node.sequencer)
    await stillServes()
  })

  it('valid signatures from fresh keys with no account, 100 addresses at once: refused by the engine, then bounded by the shared budget like invalid ones', async () => {
    const items0 = snapshot(dev.node.sequencer).items
    const signer = new FastSigner(dev.state.genesis.chainId)
    // A botnet's keys: well signed, so every one recovers, but none ever deposited.
    const fresh = (i: number) => new Trader(generatePrivateKey(), signer).orderBody(0n, i)
    const ips = Array.from({ length: 100 }, (_, i) => `127.0.3.${i + 1}`)
    const t0 = Date.now()
    const honestDone = honest(traders[2]!, 20, '127.0.0.11')
    const replies = await nineteenFromEach(ips, fresh)
    const elapsedS = (Date.now() - t0) / 1000
    const honestAccepted = await honestDone

    expect(replies).to.have.length(1900)
    for (const m of replies) expectWellFormed(m, 'fresh-key reply')
    const refused = replies.filter((m) => m.error?.code === -32006)
    const limited = replies.filter((m) => m.error?.code === RATE_LIMITED)
    expect(refused.length + limited.length, 'each refused by the engine (no margin) or rate limited').to.equal(1900)
    // Valid signatures do not escape the budgets: without counting them, all 1,900 would have been
    // recovered and run. Each fresh address gets its first one through (it is not suspect yet).
    const total = LIMITS.invalidSignatureTotal
    expect(refused.length, `${refused.length} reached the engine in ${elapsedS.toFixed(1)} s`).to.be.at.most(total.burst + Math.ceil(total.perSecond * elapsedS) + ips.length)
    expect(limited.every((m) => ['invalidSignature', 'invalidSignatureTotal'].includes(m.error.data.scope))).to.equal(true)
    expect(limited.at(-1).error.message).to.match(/and that the key has deposited/)
    expect(honestAccepted).to.equal(20)
    expect(snapshot(dev.node.sequencer).items).to.equal(items0 + honestAccepted)
    await expectReplayMatches(dev.node.sequencer)
    await stillServes()
  })
})
