/**
 * Tools for hostile-client and fuzz tests against a real node: raw HTTP and WebSocket clients
 * that can pick their source address on loopback (127.0.0.2, 127.0.0.3, … are distinct client
 * IPs to the server), a JSON-RPC reply checker, and the "no trace" checks (journal rows, engine
 * memory, and a replay of the journal matching the live engine).
 */
import http from 'node:http'
import path from 'node:path'
import { rmSync } from 'node:fs'
import { keccak256 } from 'viem'
import WebSocket from 'ws'
import { expect } from 'chai'
import type { Sequencer } from '../../sequencer/sequencer.js'
import { Sequencer as SequencerClass } from '../../sequencer/sequencer.js'
import { tempDir } from './devnet.js'

export interface RawReply {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
  json: any
}

/** POSTs `body` from `localAddress` (default 127.0.0.1) on a fresh connection. */
export function post(url: string, body: string | Buffer, o: { localAddress?: string; agent?: http.Agent; headers?: Record<string, string> } = {}): Promise<RawReply> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: '/',
        method: 'POST',
        localAddress: o.agent ? undefined : o.localAddress,
        agent: o.agent ?? false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...o.headers },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = text ? JSON.parse(text) : undefined
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** A keep-alive agent whose sockets all come from `localAddress`. */
export const agentFrom = (localAddress: string, maxSockets = 8) => new http.Agent({ keepAlive: true, maxSockets, localAddress } as http.AgentOptions)

export const rpcBody = (method: string, params?: unknown, id: unknown = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })

/** GET /health. */
export async function health(url: string): Promise<boolean> {
  const res = await fetch(new URL('/health', url)).catch(() => undefined)
  return res?.status === 200 && (await res.json()).ok === true
}

/** A WebSocket from `localAddress` whose replies are matched to requests by id. */
export class WsPeer {
  readonly replies = new Map<unknown, (msg: any) => void>()
  readonly unmatched: any[] = []
  #closed?: Promise<number>
  private constructor(readonly ws: WebSocket) {
    this.#closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)))
    ws.on('message', (data) => {
      let msg: any
      try {
        msg = JSON.parse(String(data))
      } catch {
        msg = { unparsable: String(data) }
      }
      const key = Array.isArray(msg) ? msg[0]?.id : msg?.id
      const cb = this.replies.get(key)
      if (cb) {
        this.replies.delete(key)
        cb(msg)
      } else this.unmatched.push(msg)
    })
  }
  static open(url: string, localAddress = '127.0.0.1', opts: WebSocket.ClientOptions = {}): Promise<WsPeer> {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, ...opts })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsPeer(ws)))
      ws.once('error', reject)
    })
  }
  /** Sends `text` and resolves with the reply whose id (or first entry's id) is `id`. */
  send(text: string, id: unknown, timeoutMs = 30_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.replies.delete(id)
        reject(new Error(`no ws reply for id ${JSON.stringify(id)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.replies.set(id, (m) => {
        clearTimeout(t)
        resolve(m)
      })
      this.ws.send(text)
    })
  }
  closed(): Promise<number> {
    return this.#closed!
  }
  close(): Promise<number> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close()
    return this.closed()
  }
}

/**
 * Asserts `msg` is a well-formed JSON-RPC 2.0 response: `jsonrpc: "2.0"`, an id, and exactly one
 * of result or error {integer code, string message}; never an internal error, and no stack trace
 * or file path in the message.
 */
export function expectWellFormed(msg: any, what: string): void {
  expect(msg, `${what}: reply is an object`).to.be.an('object')
  expect(msg.jsonrpc, `${what}: jsonrpc`).to.equal('2.0')
  expect(Object.hasOwn(msg, 'id'), `${what}: has an id`).to.equal(true)
  expect(['string', 'number', 'object'].includes(typeof msg.id), `${what}: id type`).to.equal(true)
  expect(Object.hasOwn(msg, 'result') !== Object.hasOwn(msg, 'error'), `${what}: exactly one of result/error in ${JSON.stringify(msg).slice(0, 300)}`).to.equal(true)
  if (msg.error) {
    expect(Number.isInteger(msg.error.code), `${what}: integer error code`).to.equal(true)
    expect(msg.error.message, `${what}: string message`).to.be.a('string').and.not.equal('')
    expect(msg.error.code, `${what}: internal error ${JSON.stringify(msg.error)}`).to.not.equal(-32603)
    expect(msg.error.message, `${what}: stack trace leaked`).to.not.match(/\n\s+at |\.ts:\d+|node:internal|\/work\//)
  }
}

/** Journal rows and engine memory outside the scratch region: equal before and after means no trace. */
export function snapshot(seq: Sequencer): { rows: number; items: number; memory: string } {
  const r = seq.journal.db.prepare('SELECT (SELECT COUNT(*) FROM items) AS items, (SELECT COUNT(*) FROM batches) AS batches').get() as { items: number; batches: number }
  const memory = new Uint8Array(seq.engine.memory.buffer).slice()
  memory.fill(0, seq.engine.scratchPtr, seq.engine.scratchPtr + seq.engine.scratchLen)
  return { rows: r.items + r.batches, items: r.items, memory: keccak256(memory) }
}

/**
 * The journal, replayed from scratch into a fresh engine, gives exactly the live engine's memory:
 * nothing the live engine saw (rejected, rate-limited, malformed input) changed state without
 * being journaled. Needs an open batch holding an item (the live engine's batch header is then
 * the journaled one).
 */
export async function expectReplayMatches(seq: Sequencer): Promise<void> {
  seq.flush()
  const dir = tempDir('replay')
  const file = path.join(dir, 'journal.sqlite')
  try {
    await seq.journal.db.backup(file)
    const copy = await SequencerClass.open({ journalPath: file, genesis: seq.genesis })
    try {
      expect(snapshot(copy), 'journal replay equals the live engine').to.deep.equal(snapshot(seq))
    } finally {
      copy.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
