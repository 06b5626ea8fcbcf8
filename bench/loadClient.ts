/**
 * One load-generator process of the `sequencer` bench (forked by bench/sequencer.ts, so the
 * clients never share an event loop with the sequencer). It owns a set of trader accounts, and
 * each account has at most one request in flight, so its nonces arrive in order.
 *
 * Orders are signed before a phase starts (signing is the client's cost, not the server's), with
 * the bench signer whose signatures are byte-identical to viem's (bench/signer.ts, cross-checked
 * against viem at start). Phases:
 *   closed: every account sends its next order as soon as the previous one is acknowledged;
 *   open:   orders are scheduled at a fixed total rate regardless of replies (open loop); latency
 *           counts from the scheduled time, so a slow server cannot hide its queueing delay.
 */
import net from 'node:net'
import { type Hex, hexToBytes } from 'viem'
import WebSocket from 'ws'
import { BTC_PERP } from '../cli/config.js'
import { FastSigner } from './signer.js'
import { prng } from './prng.js'

export type ToClient =
  | { type: 'init'; url: string; wsUrl: string; chainId: number; keys: Hex[]; seed: number }
  | { type: 'prepare'; perAccount: number }
  /** batch: orders of one account per HTTP request, as one JSON-RPC batch (default 1: one order, no batch) */
  | { type: 'run'; mode: 'closed' | 'open'; transport: 'http' | 'ws'; durationMs: number; rate?: number; startAt: number; batch?: number }
  | { type: 'exit' }

export interface PhaseResult {
  type: 'result'
  accepted: number
  /** Acknowledgements that arrived before the phase's end (what throughput counts). */
  acceptedInWindow: number
  windowMs: number
  errors: Record<string, number>
  /** Per accepted order, ms from its scheduled (open) or send (closed) time to its reply. */
  latencies: number[]
  scheduled: number
  cpuMs: number
  brokenAccounts: number
}

export type FromClient = { type: 'ready' } | { type: 'prepared'; signed: number; ms: number } | PhaseResult | { type: 'error'; message: string }

const MID = 60_000n * 1_000_000n
const send = (m: FromClient) => process.send!(m)

interface Account {
  key: Uint8Array
  nonce: bigint
  queue: string[]
  busy: boolean
  broken: boolean
  pending: number[]
  side: boolean
  /** This account's connection (HTTP phases): one request in flight per account. */
  http?: RawHttpConnection
}

let cfg: Extract<ToClient, { type: 'init' }>
let signer: FastSigner
let accounts: Account[] = []
let rand = Math.random
let target: URL
let requestId = 0


/** An account's every CANCEL_ALL_EVERY-th transaction is a cancel-all, as a market maker re-quotes. */
const CANCEL_ALL_EVERY = 10

/**
 * The next JSON-RPC body of an account: alternate buys and sells near the oracle price, 1-5
 * steps, so some cross; every CANCEL_ALL_EVERY-th a cancel-all of the account's resting orders,
 * which keeps them well under the engine's 256 per account however long the run.
 */
function nextBody(a: Account): string {
  if (a.nonce % BigInt(CANCEL_ALL_EVERY) === BigInt(CANCEL_ALL_EVERY - 1)) {
    const message = { market: BTC_PERP.id, nonce: a.nonce++ }
    const signature = signer.sign(a.key, { kind: 'CancelAll', message })
    return `{"jsonrpc":"2.0","id":0,"method":"vdx_cancelAll","params":{"message":{"market":${message.market},"nonce":"${message.nonce}"},"signature":"${signature}"}}`
  }
  const isBuy = (a.side = !a.side)
  const ticks = BigInt(Math.floor(rand() * 9)) // buys at mid-6..mid+2, sells at mid-2..mid+6
  const price = isBuy ? MID + (ticks - 6n) * BTC_PERP.tickSize : MID + (6n - ticks) * BTC_PERP.tickSize
  const size = BigInt(1 + Math.floor(rand() * 5))
  const message = { market: BTC_PERP.id, isBuy, price, size, nonce: a.nonce++ }
  const signature = signer.sign(a.key, { kind: 'Order', message })
  return `{"jsonrpc":"2.0","id":0,"method":"vdx_placeOrder","params":{"message":{"market":${message.market},"isBuy":${isBuy},"price":"${price}","size":"${size}","nonce":"${message.nonce}"},"signature":"${signature}"}}`
}

/** ok: how many orders of the request were accepted (all of them, or the request failed). */
type Reply = (ok: number, errorCode?: string) => void

/**
 * A kept-alive HTTP/1.1 connection written and read directly on a TCP socket, one request at a
 * time: what wrk or autocannon do natively. With Node's own http client a load-client process
 * spent ~80 µs of CPU per request, on the same two cores as the server it loads; with this, ~45
 * µs (docs/performance.md). The server sees ordinary HTTP/1.1 requests. Replies are read by Content-Length (the sequencer's
 * replies always carry one); a reply that closes the connection makes the next request reconnect.
 */
class RawHttpConnection {
  private socket?: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private waiting?: (status: number, body: string) => void
  /** Whether the request in flight went out on a connection an earlier request had used. */
  reused = false

  constructor(private readonly host: string, private readonly port: number) {}

  private connect(): net.Socket {
    const s = net.connect({ host: this.host, port: this.port, noDelay: true })
    s.on('data', (chunk: Buffer) => {
      if (this.socket !== s) return
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
      this.parse()
    })
    // Once per connection ('close' follows 'error'): a later event of a connection already
    // replaced must not fail the request now in flight on its successor.
    const gone = (e?: Error) => {
      if (this.socket !== s) return
      this.socket = undefined
      this.buf = Buffer.alloc(0)
      const w = this.waiting
      this.waiting = undefined
      w?.(0, (e as NodeJS.ErrnoException | undefined)?.code ?? 'closed')
    }
    s.on('error', gone)
    s.on('close', () => gone())
    return s
  }

  private parse() {
    const head = this.buf.indexOf('\r\n\r\n')
    if (head < 0 || !this.waiting) return
    const headers = this.buf.toString('latin1', 0, head)
    const status = Number(headers.slice(9, 12))
    const m = /\r\ncontent-length: *(\d+)/i.exec(headers)
    const len = m ? Number(m[1]) : 0
    if (this.buf.length < head + 4 + len) return
    const body = this.buf.toString('utf8', head + 4, head + 4 + len)
    this.buf = this.buf.subarray(head + 4 + len)
    const w = this.waiting
    this.waiting = undefined
    w(status, body)
  }

  post(body: string, done: (status: number, body: string) => void) {
    this.reused = this.socket !== undefined
    this.socket ??= this.connect()
    this.waiting = done
    this.socket.write(`POST / HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }

  close() {
    this.socket?.destroy()
  }
}

function postHttp(a: Account, body: string, done: Reply, orders = 1, retried = false) {
  const conn = (a.http ??= new RawHttpConnection(target.hostname, Number(target.port)))
  conn.post(body, (status, text) => {
    if (status === 200 && countResults(text) === orders) return done(orders)
    // A kept-alive connection the server closed just as it was reused: the request never
    // reached the server, so send it again once (as Node's http docs recommend).
    if (status === 0 && conn.reused && !retried) return postHttp(a, body, done, orders, true)
    if (status === 0) return done(0, text)
    let code = `http${status}`
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string } } | { error?: { message?: string } }[]
      const failed = Array.isArray(parsed) ? parsed.find((r) => r.error) : parsed
      code = String(failed?.error?.message?.split(':')[0] ?? code)
    } catch {}
    done(0, code)
  })
}

function countResults(text: string): number {
  let n = 0
  for (let i = text.indexOf('"result"'); i >= 0; i = text.indexOf('"result"', i + 8)) n++
  return n
}

let sockets: WebSocket[] = []
const wsWaiting = new Map<number, Reply>()
async function openSockets(n: number) {
  if (sockets.length) return
  sockets = await Promise.all(
    Array.from({ length: n }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(cfg.wsUrl, { perMessageDeflate: false })
      ws.once('open', () => resolve(ws))
      ws.once('error', reject)
      ws.on('message', (data) => {
        const text = data.toString()
        const m = /"id":(\d+)/.exec(text)
        const cb = m && wsWaiting.get(Number(m[1]))
        if (!cb) return
        wsWaiting.delete(Number(m[1]))
        if (text.includes('"result"')) cb(1)
        else cb(0, /"message":"([A-Z_]+)/.exec(text)?.[1] ?? 'error')
      })
    })),
  )
}

function postWs(accountIndex: number, body: string, done: Reply) {
  const id = ++requestId
  wsWaiting.set(id, done)
  sockets[accountIndex % sockets.length]!.send(body.replace('"id":0', `"id":${id}`))
}

async function runPhase(p: Extract<ToClient, { type: 'run' }>): Promise<PhaseResult> {
  if (p.transport === 'ws') await openSockets(8)
  const errors: Record<string, number> = {}
  const latencies: number[] = []
  let accepted = 0
  let acceptedInWindow = 0
  let scheduled = 0
  let outstanding = 0
  const live = accounts.filter((a) => !a.broken)
  await new Promise((r) => setTimeout(r, Math.max(0, p.startAt - Date.now())))
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const end = start + p.durationMs
  let finish!: () => void
  const allDone = new Promise<void>((r) => (finish = r))
  let scheduling = true

  const batch = p.batch ?? 1
  /**
   * Sends the account's next orders, one per time in `times` (when each was due: its latency
   * counts from there), as one request: `batch` orders, all due at once (a market maker
   * re-quoting `batch` levels). In the open loop, such groups are what is scheduled.
   */
  const dispatch = (ai: number, a: Account, times: number[]) => {
    if (!a.queue.length) return false
    const bodies = a.queue.splice(0, times.length)
    // A batch's requests need distinct ids; the replies are counted, not matched.
    const body = bodies.length === 1 ? bodies[0]! : `[${bodies.map((b, i) => b.replace('"id":0', `"id":${i}`)).join(',')}]`
    a.busy = true
    outstanding++
    const reply: Reply = (ok, code) => {
      const at = performance.now()
      outstanding--
      a.busy = false
      if (ok) {
        accepted += ok
        if (at <= end) acceptedInWindow += ok
        for (let i = 0; i < ok; i++) latencies.push(at - times[i]!)
      } else {
        errors[code ?? 'error'] = (errors[code ?? 'error'] ?? 0) + 1
        // A rejected order does not consume its nonce, so this account's later orders are void.
        a.broken = true
        a.queue.length = 0
        a.pending.length = 0
      }
      if (p.mode === 'closed') {
        if (at < end && !a.broken) dispatch(ai, a, Array(batch).fill(at))
      } else if (a.pending.length) dispatch(ai, a, Array(batch).fill(a.pending.shift()!))
      if (outstanding === 0 && !scheduling) finish()
    }
    if (p.transport === 'http') postHttp(a, body, reply, bodies.length)
    else postWs(ai, body, reply)
    return true
  }

  if (p.mode === 'closed') {
    live.forEach((a, i) => dispatch(i, a, Array(batch).fill(performance.now())))
    scheduling = false
    if (outstanding === 0) finish()
  } else {
    const interval = (1000 * batch) / p.rate!
    let k = 0
    while (live.length) {
      const t = performance.now()
      while (start + k * interval <= t && start + k * interval < end) {
        const when = start + k * interval
        const ai = k % live.length
        const a = live[ai]!
        k++
        scheduled += batch
        if (a.broken) continue
        if (a.busy) a.pending.push(when)
        else if (!dispatch(ai, a, Array(batch).fill(when))) errors.unsigned = (errors.unsigned ?? 0) + 1
      }
      if (start + k * interval >= end) break
      await new Promise((r) => setTimeout(r, Math.max(0, start + k * interval - performance.now())))
    }
    scheduling = false
    if (outstanding === 0) finish()
  }
  const timeout = setTimeout(() => finish(), 30_000)
  await allDone
  clearTimeout(timeout)
  const cpu = process.cpuUsage(cpu0)
  return {
    type: 'result',
    accepted,
    acceptedInWindow,
    windowMs: p.durationMs,
    errors,
    latencies,
    scheduled,
    cpuMs: (cpu.user + cpu.system) / 1000,
    brokenAccounts: accounts.filter((a) => a.broken).length,
  }
}

// If the bench dies, do not linger.
process.on('disconnect', () => process.exit(0))

process.on('message', (m: ToClient) => {
  void (async () => {
    try {
      switch (m.type) {
        case 'init': {
          cfg = m
          signer = new FastSigner(m.chainId)
          rand = prng(m.seed)
          await signer.crossCheckWithViem([
            ...m.keys.slice(0, 2).map((key, i) => ({ key, tx: { kind: 'Order', message: { market: BTC_PERP.id, isBuy: i === 0, price: MID, size: 1n, nonce: 0n } } }) as const),
            { key: m.keys[0]!, tx: { kind: 'CancelAll', message: { market: BTC_PERP.id, nonce: 9n } } },
          ])
          accounts = m.keys.map((k) => ({ key: hexToBytes(k), nonce: 0n, queue: [], busy: false, broken: false, pending: [], side: rand() < 0.5 }))
          target = new URL(m.url)
          return send({ type: 'ready' })
        }
        case 'prepare': {
          const t0 = performance.now()
          let signed = 0
          for (const a of accounts) {
            if (a.broken) continue
            while (a.queue.length < m.perAccount) {
              a.queue.push(nextBody(a))
              signed++
            }
          }
          return send({ type: 'prepared', signed, ms: performance.now() - t0 })
        }
        case 'run':
          return send(await runPhase(m))
        case 'exit':
          for (const s of sockets) s.close()
          for (const a of accounts) a.http?.close()
          process.exit(0)
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error).stack ?? String(e) })
    }
  })()
})
