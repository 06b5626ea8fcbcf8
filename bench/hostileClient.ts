/**
 * The attacker process of the `hostile` bench (forked by bench/hostile.ts, so attackers never
 * share the node's event loop). Each attack comes from its own loopback source address, so the
 * node sees distinct client IPs, and is sent at a fixed offered rate (open loop, so the attack's
 * strength does not depend on how fast the node answers or how much CPU this process gets):
 *
 *   flood    one key, well-signed orders (8,192 distinct, so the recovery memo does not help),
 *            2,000 requests/s over keep-alive HTTP (twice the per-IP limit, 20x the signer's);
 *   badsig   100 batches/s of 100 orders whose signatures recover no signer (10,000 signatures/s);
 *   loris    sockets that send a request's headers one byte every 500 ms, reopened when cut
 *            (128 per address over 4 addresses: the per-IP cap, 512 in all);
 *   garbage  50 requests/s cycling through 1 MiB bodies, 60,000-deep JSON, truncated JSON,
 *            binary bytes and 15,000-entry batches;
 *   botnet   256 addresses, each sending 8 well-signed orders/s (2,048/s in all) from fresh keys
 *            that never deposited (8,192 distinct orders): every address stays inside its own
 *            request, signer and invalid-signature budgets, so only the shared budget bounds it.
 *
 * A request that would exceed `MAX_IN_FLIGHT` for its attack is counted as `dropped`, not sent.
 */
import http from 'node:http'
import { type Socket, connect } from 'node:net'
import { type Hex, bytesToHex, hexToBytes } from 'viem'
import { BTC_PERP } from '../cli/config.js'
import { FastSigner } from './signer.js'

export type Attack = 'flood' | 'badsig' | 'loris' | 'garbage' | 'botnet'

export type ToAttacker =
  | { type: 'start'; attacks: Attack[]; url: string; chainId: number; floodKey: Hex }
  | { type: 'stop' }
  | { type: 'exit' }

export interface AttackReport {
  type: 'report'
  /** Requests (or sockets, for loris) per attack, and replies by JSON-RPC error code or HTTP status. */
  sent: Record<string, number>
  outcomes: Record<string, Record<string, number>>
  seconds: number
}

const send = (m: AttackReport | { type: 'started' }) => process.send!(m)
const MID = 60_000n * 1_000_000n

let running = false
let stops: (() => void)[] = []
const sent: Record<string, number> = {}
const outcomes: Record<string, Record<string, number>> = {}
const count = (attack: string, outcome: string) => {
  if (!running) return
  const o = (outcomes[attack] ??= {})
  o[outcome] = (o[outcome] ?? 0) + 1
}

function request(target: URL, agent: http.Agent | undefined, localAddress: string, body: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: '/', method: 'POST', agent: agent ?? false, localAddress: agent ? undefined : localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text.length < 4096 ? (text += c) : undefined))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        res.on('error', () => resolve({ status: -1, text: '' }))
      },
    )
    req.on('error', (e) => resolve({ status: -1, text: (e as NodeJS.ErrnoException).code ?? 'error' }))
    req.end(body)
  })
}

/** The first JSON-RPC error code in a reply, 'result' for a success, or the HTTP status. */
function outcome(r: { status: number; text: string }): string {
  if (r.status === -1) return `net:${r.text}`
  const m = /"code":(-?\d+)/.exec(r.text)
  if (m) return m[1]!
  return r.text.includes('"result"') ? 'result' : `http${r.status}`
}

const MAX_IN_FLIGHT = 256

/** Starts `fire` `perSecond` times a second (open loop) until stopped. */
function paced(attack: string, perSecond: number, fire: () => Promise<void>) {
  sent[attack] = 0
  let fired = 0
  let inFlight = 0
  const t0 = performance.now()
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * perSecond)
    for (; fired < due; fired++) {
      if (inFlight >= MAX_IN_FLIGHT) {
        count(attack, 'dropped')
        continue
      }
      inFlight++
      void fire().finally(() => inFlight--)
    }
  }, 10)
  stops.push(() => clearInterval(timer))
}

function flood(target: URL, chainId: number, key: Hex) {
  const signer = new FastSigner(chainId)
  const k = hexToBytes(key)
  const bodies = Array.from({ length: 8192 }, (_, i) => {
    const message = { market: BTC_PERP.id, isBuy: i % 2 === 0, price: MID + BigInt((i % 200) - 100) * BTC_PERP.tickSize, size: BigInt(1 + (i % 7)), nonce: 0n }
    const signature = signer.sign(k, { kind: 'Order', message })
    return `{"jsonrpc":"2.0","id":${i},"method":"vdx_placeOrder","params":{"message":{"market":${message.market},"isBuy":${message.isBuy},"price":"${message.price}","size":"${message.size}","nonce":"0"},"signature":"${signature}"}}`
  })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, localAddress: '127.0.0.2' } as http.AgentOptions)
  stops.push(() => agent.destroy())
  let i = 0
  paced('flood', 2_000, async () => {
    sent.flood!++
    count('flood', outcome(await request(target, agent, '', bodies[i++ % bodies.length]!)))
  })
}

function badsig(target: URL, chainId: number) {
  const signer = new FastSigner(chainId)
  const message = { market: BTC_PERP.id, isBuy: true, price: MID, size: 1n, nonce: 0n }
  const good = hexToBytes(signer.sign(new Uint8Array(32).fill(7), { kind: 'Order', message }))
  let n = 0
  // Built before the attack starts: its cost is not this process's CPU during the measurement.
  const bodies = Array.from({ length: 64 }, () =>
    `[${Array.from({ length: 100 }, () => {
      const s = good.slice()
      s[64] = 29 + (n++ % 200) // v not 27/28: recovers no signer
      return `{"jsonrpc":"2.0","id":${n},"method":"vdx_placeOrder","params":{"message":{"market":${message.market},"isBuy":true,"price":"${MID}","size":"1","nonce":"0"},"signature":"${bytesToHex(s)}"}}`
    }).join(',')}]`)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8, localAddress: '127.0.0.3' } as http.AgentOptions)
  stops.push(() => agent.destroy())
  let i = 0
  paced('badsig', 100, async () => {
    sent.badsig! += 100
    const r = await request(target, agent, '', bodies[i++ % bodies.length]!)
    for (const m of r.text.matchAll(/"code":(-?\d+)/g)) count('badsig', m[1]!)
    if (r.status !== 200 && r.status !== 429) count('badsig', `http${r.status}`)
  })
}

function loris(target: URL) {
  const sockets = new Set<Socket>()
  const timer = setInterval(() => {
    for (const s of sockets) if (s.writable) s.write('X')
  }, 500)
  stops.push(() => {
    clearInterval(timer)
    for (const s of sockets) s.destroy()
  })
  sent.loris = 0
  const open = (ip: string) => {
    if (!running) return
    const s = connect({ host: target.hostname, port: Number(target.port), localAddress: ip })
    sent.loris!++
    sockets.add(s)
    let first = ''
    s.on('data', (d) => (first ||= d.toString('latin1', 0, 12)))
    s.on('error', () => {})
    s.on('connect', () => s.write('POST / HTTP/1.1\r\nHost: x\r\nX-Slow: '))
    s.on('close', () => {
      sockets.delete(s)
      if (!running) return
      count('loris', first ? first.trim() : 'closed')
      // Reopen, after a pause so a refused socket is not retried in a tight loop.
      setTimeout(() => open(ip), 200)
    })
  }
  for (const ip of ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13']) for (let i = 0; i < 128; i++) open(ip)
}

function garbage(target: URL) {
  const bodies: (string | Buffer)[] = [Buffer.alloc(1024 * 1024, 0x20), '['.repeat(60_000), '{"jsonrpc":"2.0","id":1,"method":', Buffer.from([0xff, 0xfe, 0x00]), `[${Array(15_000).fill('{}').join(',')}]`]
  let i = 0
  paced('garbage', 50, async () => {
    sent.garbage!++
    count('garbage', outcome(await request(target, undefined, '127.0.0.5', bodies[i++ % bodies.length]!)))
  })
}

function botnet(target: URL, chainId: number) {
  const signer = new FastSigner(chainId)
  const bodies = Array.from({ length: 8192 }, (_, i) => {
    const key = new Uint8Array(32)
    new DataView(key.buffer).setUint32(28, 0xb07_0000 + i)
    const message = { market: BTC_PERP.id, isBuy: i % 2 === 0, price: MID + BigInt((i % 200) - 100) * BTC_PERP.tickSize, size: BigInt(1 + (i % 7)), nonce: 0n }
    const signature = signer.sign(key, { kind: 'Order', message })
    return `{"jsonrpc":"2.0","id":${i},"method":"vdx_placeOrder","params":{"message":{"market":${message.market},"isBuy":${message.isBuy},"price":"${message.price}","size":"${message.size}","nonce":"0"},"signature":"${signature}"}}`
  })
  const ips = Array.from({ length: 256 }, (_, i) => `127.0.${4 + (i >> 7)}.${1 + (i & 127)}`)
  const agents = ips.map((ip) => new http.Agent({ keepAlive: true, maxSockets: 2, localAddress: ip } as http.AgentOptions))
  stops.push(() => agents.forEach((a) => a.destroy()))
  let i = 0
  paced('botnet', 8 * ips.length, async () => {
    sent.botnet!++
    const k = i++
    count('botnet', outcome(await request(target, agents[k % agents.length], '', bodies[k % bodies.length]!)))
  })
}

let started = 0
process.on('disconnect', () => process.exit(0))
process.on('message', (m: ToAttacker) => {
  if (m.type === 'start') {
    running = true
    started = performance.now()
    for (const k of Object.keys(sent)) delete sent[k]
    for (const k of Object.keys(outcomes)) delete outcomes[k]
    const target = new URL(m.url)
    for (const a of m.attacks) {
      if (a === 'flood') flood(target, m.chainId, m.floodKey)
      else if (a === 'badsig') badsig(target, m.chainId)
      else if (a === 'loris') loris(target)
      else if (a === 'botnet') botnet(target, m.chainId)
      else garbage(target)
    }
    send({ type: 'started' })
  } else if (m.type === 'stop') {
    running = false
    for (const s of stops) s()
    stops = []
    send({ type: 'report', sent: { ...sent }, outcomes: structuredClone(outcomes), seconds: (performance.now() - started) / 1000 })
  } else process.exit(0)
})
