/**
 * A JSON-RPC proxy between the node and anvil that misbehaves like a flaky L1 endpoint: it drops
 * requests (closes the socket without a reply), delays them, answers with a JSON-RPC error, and
 * forwards a transaction but loses the reply the first time each raw transaction is sent, so
 * the sender cannot know whether it went out. Faults are drawn from a seeded PRNG and counted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { keccak256, type Hex } from 'viem'
import { rng } from './rng.js'

export interface FaultPlan {
  /** Share of requests dropped before reaching L1 (socket closed, no reply). */
  drop: number
  /** Share of requests delayed by up to maxDelayMs before being forwarded. */
  delay: number
  maxDelayMs: number
  /** Share of requests answered with a JSON-RPC internal error instead of being forwarded. */
  error: number
  /** Forward each distinct raw transaction, but lose the reply the first time it is sent. */
  loseFirstSendReply: boolean
}

export const NO_FAULTS: FaultPlan = { drop: 0, delay: 0, maxDelayMs: 0, error: 0, loseFirstSendReply: false }

export interface FaultStats {
  requests: number
  dropped: number
  delayed: number
  errored: number
  /** eth_sendRawTransaction calls forwarded to L1. */
  sends: number
  /** Of those, replies lost after L1 accepted the transaction. */
  lostSendReplies: number
  /** JSON-RPC calls by method; an eth_call also under `eth_call <4-byte selector>`. */
  calls: Record<string, number>
}

interface RpcRequest { jsonrpc: '2.0'; id: unknown; method: string; params?: unknown[] }

export class L1FaultProxy {
  readonly stats: FaultStats = { requests: 0, dropped: 0, delayed: 0, errored: 0, sends: 0, lostSendReplies: 0, calls: {} }
  private readonly sent = new Set<Hex>()
  private readonly random

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly target: string,
    public plan: FaultPlan,
    seed: number,
  ) {
    this.random = rng(seed)
    server.on('request', (req, res) => void this.handle(req, res))
  }

  static async start(target: string, plan: FaultPlan = NO_FAULTS, seed = 1): Promise<L1FaultProxy> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return new L1FaultProxy(server, `http://127.0.0.1:${port}`, target, plan, seed)
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    let parsed: RpcRequest | RpcRequest[]
    try {
      parsed = JSON.parse(body) as RpcRequest | RpcRequest[]
    } catch {
      res.writeHead(400).end('not JSON')
      return
    }
    const calls = Array.isArray(parsed) ? parsed : [parsed]
    this.stats.requests++
    for (const c of calls) {
      const count = (k: string) => (this.stats.calls[k] = (this.stats.calls[k] ?? 0) + 1)
      count(c.method)
      const data = c.method === 'eth_call' ? (c.params?.[0] as { data?: string; input?: string } | undefined) : undefined
      if (data) count(`eth_call ${(data.data ?? data.input ?? '').slice(0, 10)}`)
    }
    const p = this.plan
    // Test-control methods (anvil_*, evm_*) are never faulted: only the node's traffic is.
    const faultable = calls.every((c) => c.method.startsWith('eth_') || c.method.startsWith('net_'))
    if (faultable && this.random.chance(p.drop)) {
      this.stats.dropped++
      req.socket.destroy()
      return
    }
    if (faultable && this.random.chance(p.error)) {
      this.stats.errored++
      const err = (c: RpcRequest) => ({ jsonrpc: '2.0', id: c.id, error: { code: -32603, message: 'injected fault: L1 endpoint failed' } })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.isArray(parsed) ? calls.map(err) : err(calls[0]!)))
      return
    }
    if (faultable && this.random.chance(p.delay)) {
      this.stats.delayed++
      await new Promise((r) => setTimeout(r, this.random.int(p.maxDelayMs + 1)))
    }
    const raws = calls.filter((c) => c.method === 'eth_sendRawTransaction').map((c) => keccak256((c.params as Hex[])[0]!))
    this.stats.sends += raws.length
    let upstream: Response
    try {
      upstream = await fetch(this.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    } catch {
      req.socket.destroy()
      return
    }
    const reply = await upstream.text()
    const fresh = raws.filter((h) => !this.sent.has(h))
    for (const h of raws) this.sent.add(h)
    if (p.loseFirstSendReply && fresh.length > 0) {
      // L1 has the transaction; the sender never hears so.
      this.stats.lostSendReplies += fresh.length
      req.socket.destroy()
      return
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(reply)
  }

  async stop() {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
