import { expect } from 'chai'
import { connect } from 'node:net'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { RpcServer, type RpcContext, type RpcServerAddress, jsonDepthExceeds } from '../sequencer/rpc/server.js'
import { InvalidParamsError, RpcError, RpcErrorCode, applicationErrorCode } from '../sequencer/rpc/errors.js'

interface Reply {
  status: number
  text: string
  json: any
}

async function post(url: string, body: unknown): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined }
}

const req = (method: string, params?: unknown, id: unknown = 1) => ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A ws client that routes replies by id and collects notifications. */
class WsClient {
  readonly notifications: any[] = []
  readonly #pending = new Map<unknown, (msg: any) => void>()
  readonly #waiters: (() => void)[] = []
  #nextId = 1
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data))
      if (Array.isArray(msg)) return this.#pending.get('batch')?.(msg)
      if (msg.method === 'vdx_subscription') {
        this.notifications.push(msg)
        for (const w of this.#waiters.splice(0)) w()
        return
      }
      this.#pending.get(msg.id)?.(msg)
    })
  }
  static open(url: string, opts?: ConstructorParameters<typeof WebSocket>[2]): Promise<WsClient> {
    const ws = new WebSocket(url, opts)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)))
      ws.once('error', reject)
    })
  }
  call(method: string, params?: unknown): Promise<any> {
    const id = this.#nextId++
    return this.send(req(method, params, id), id)
  }
  send(payload: unknown, key: unknown): Promise<any> {
    return new Promise((resolve) => {
      this.#pending.set(key, resolve)
      this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload))
    })
  }
  async nextNotification(timeoutMs = 2000): Promise<any> {
    if (this.notifications.length) return this.notifications.shift()
    await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(timeoutMs)])
    return this.notifications.shift()
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve()
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

describe('RpcServer (JSON-RPC 2.0 over HTTP and WebSocket)', () => {
  let server: RpcServer
  let addr: RpcServerAddress
  const logs: string[] = []
  let notified = 0
  let lastCtx: RpcContext | undefined

  before(async () => {
    server = new RpcServer(
      {
        vdx_echo: (params) => params,
        vdx_add: (params) => {
          if (!Array.isArray(params) || params.length !== 2 || !params.every((x) => typeof x === 'number'))
            throw new InvalidParamsError('params', '[a, b] with two numbers', params)
          return (params[0] as number) + (params[1] as number)
        },
        vdx_sleep: async (params) => {
          const [ms, tag] = params as [number, string]
          await sleep(ms)
          return tag
        },
        vdx_nothing: () => undefined,
        vdx_notify: () => {
          notified++
        },
        vdx_ctx: (_params, ctx) => {
          lastCtx = ctx
          return { transport: ctx.transport, remoteAddress: ctx.remoteAddress, canSubscribe: typeof ctx.subscribe === 'function' }
        },
        vdx_watchAccount: (params, ctx) => {
          if (!ctx.subscribe) throw new RpcError(-32000, 'WebSocket only')
          return ctx.subscribe(`account:${(params as string[])[0]}`)
        },
        vdx_rejected: () => {
          throw new RpcError(applicationErrorCode(6), 'INSUFFICIENT_MARGIN: deposit collateral or reduce size', { reason: 'INSUFFICIENT_MARGIN', need: '100' })
        },
        vdx_crash: () => {
          throw new Error('secret internal detail')
        },
        vdx_bigint: () => 1n,
      },
      { topics: ['trades', 'book'], log: (line) => logs.push(line) },
    )
    addr = await server.listen()
  })

  after(() => server.close())

  describe('HTTP', () => {
    it('returns a method result, passing array and object params through', async () => {
      expect((await post(addr.url, req('vdx_echo', [1, 'a', { b: true }], 7))).json).to.deep.equal({ jsonrpc: '2.0', id: 7, result: [1, 'a', { b: true }] })
      expect((await post(addr.url, req('vdx_echo', { market: 1 }, 'x'))).json).to.deep.equal({ jsonrpc: '2.0', id: 'x', result: { market: 1 } })
      expect((await post(addr.url, req('vdx_add', [2, 3]))).json.result).to.equal(5)
      // absent params reach the handler as undefined; an undefined result is sent as null
      expect((await post(addr.url, req('vdx_echo'))).json).to.deep.equal({ jsonrpc: '2.0', id: 1, result: null })
      expect((await post(addr.url, req('vdx_nothing'))).json.result).to.equal(null)
      // id null is a request (not a notification) and gets a reply
      expect((await post(addr.url, req('vdx_add', [1, 1], null))).json).to.deep.equal({ jsonrpc: '2.0', id: null, result: 2 })
    })

    it('gives handlers the transport and remote address', async () => {
      const { json } = await post(addr.url, req('vdx_ctx'))
      expect(json.result).to.deep.equal({ transport: 'http', remoteAddress: '127.0.0.1', canSubscribe: false })
      expect(lastCtx?.subscribe).to.equal(undefined)
    })

    it('answers an unknown method with -32601 naming it and listing the available ones', async () => {
      const { json } = await post(addr.url, req('vdx_nope', [], 3))
      expect(json.id).to.equal(3)
      expect(json.error.code).to.equal(-32601)
      expect(json.error.message).to.include('"vdx_nope"').and.include('vdx_echo').and.include('vdx_subscribe')
      expect(json.error.data.available).to.include('vdx_add')
      for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        expect((await post(addr.url, req(name))).json.error.code, name).to.equal(-32601)
      }
    })

    it('answers malformed JSON with -32700 and id null', async () => {
      for (const body of ['{"jsonrpc":"2.0","id":1,"method":"vdx_echo"', 'not json', '', '[1,]']) {
        const { status, json } = await post(addr.url, body)
        expect(status).to.equal(200)
        expect(json.id, body).to.equal(null)
        expect(json.error.code, body).to.equal(-32700)
      }
    })

    it('answers invalid request shapes with -32600, keeping a readable id', async () => {
      const cases: [unknown, unknown, string][] = [
        [1, null, 'request object'],
        ['"x"', null, 'request object'], // raw JSON text: a bare string
        [null, null, 'request object'],
        [{}, null, '"jsonrpc" must be "2.0"'],
        [{ jsonrpc: '1.0', id: 4, method: 'vdx_echo' }, 4, '"jsonrpc" must be "2.0"'],
        [{ jsonrpc: '2.0', id: 5 }, 5, '"method" must be a string'],
        [{ jsonrpc: '2.0', id: 6, method: 42 }, 6, '"method" must be a string'],
        [{ jsonrpc: '2.0', id: 7, method: 'vdx_echo', params: 'x' }, 7, '"params" must be an array or an object'],
        [{ jsonrpc: '2.0', id: 8, method: 'vdx_echo', params: 5 }, 8, '"params"'],
        [{ jsonrpc: '2.0', id: 9, method: 'vdx_echo', params: null }, 9, '"params"'],
        [{ jsonrpc: '2.0', id: { a: 1 }, method: 'vdx_echo' }, null, '"id" must be'],
        [{ jsonrpc: '2.0', id: true, method: 'vdx_echo' }, null, '"id" must be'],
        // an invalid request without an id is still answered (we cannot know it was a notification)
        [{ jsonrpc: '2.0', method: 7 }, null, '"method"'],
      ]
      for (const [body, id, text] of cases) {
        const { status, json } = await post(addr.url, body)
        expect(status).to.equal(200)
        expect(json.id, JSON.stringify(body)).to.equal(id)
        expect(json.error.code, JSON.stringify(body)).to.equal(-32600)
        expect(json.error.message, JSON.stringify(body)).to.include(text)
      }
    })

    it('handles a batch of mixed valid and invalid requests, in request order, skipping notifications', async () => {
      const before = notified
      const { json } = await post(addr.url, [
        req('vdx_sleep', [60, 'slow'], 'a'),
        req('vdx_sleep', [0, 'fast'], 'b'),
        1,
        req('vdx_missing', [], 'c'),
        { jsonrpc: '2.0', method: 'vdx_notify' },
        req('vdx_add', ['x'], 'd'),
        req('vdx_add', [20, 22], 'e'),
      ])
      expect(json).to.have.length(6)
      expect(json[0]).to.deep.equal({ jsonrpc: '2.0', id: 'a', result: 'slow' })
      expect(json[1]).to.deep.equal({ jsonrpc: '2.0', id: 'b', result: 'fast' })
      expect(json[2].id).to.equal(null)
      expect(json[2].error.code).to.equal(-32600)
      expect(json[3].error.code).to.equal(-32601)
      expect(json[4].error.code).to.equal(-32602)
      expect(json[4].error.message).to.include('params must be [a, b] with two numbers')
      expect(json[5].result).to.equal(42)
      expect(notified).to.equal(before + 1)
    })

    it('runs batch entries concurrently', async () => {
      const t = Date.now()
      const { json } = await post(addr.url, Array.from({ length: 10 }, (_, i) => req('vdx_sleep', [100, `t${i}`], i)))
      expect(json.map((r: any) => r.result)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `t${i}`))
      expect(Date.now() - t).to.be.below(600)
    })

    it('rejects an empty batch and a batch over maxBatch with -32600', async () => {
      const empty = await post(addr.url, [])
      expect(empty.json).to.deep.include({ jsonrpc: '2.0', id: null })
      expect(empty.json.error.code).to.equal(-32600)
      expect(empty.json.error.message).to.include('empty batch')

      const big = await post(addr.url, Array.from({ length: 101 }, (_, i) => req('vdx_echo', [], i)))
      expect(Array.isArray(big.json)).to.equal(false)
      expect(big.json.error.code).to.equal(-32600)
      expect(big.json.error.message).to.include('101').and.include('100')

      const max = await post(addr.url, Array.from({ length: 100 }, (_, i) => req('vdx_echo', [i], i)))
      expect(max.json).to.have.length(100)
    })

    it('sends no response body for notifications (204), but runs them', async () => {
      const before = notified
      const one = await post(addr.url, { jsonrpc: '2.0', method: 'vdx_notify' })
      expect(one.status).to.equal(204)
      expect(one.text).to.equal('')
      const batch = await post(addr.url, [
        { jsonrpc: '2.0', method: 'vdx_notify' },
        { jsonrpc: '2.0', method: 'vdx_notify', params: [] },
        { jsonrpc: '2.0', method: 'vdx_unknown' }, // errors for notifications are not reported
        { jsonrpc: '2.0', method: 'vdx_crash' },
      ])
      expect(batch.status).to.equal(204)
      expect(batch.text).to.equal('')
      expect(notified).to.equal(before + 3)
    })

    it('rejects an oversized body with 413 / -32090 and stays healthy', async () => {
      const big = JSON.stringify(req('vdx_echo', ['x'.repeat(70 * 1024)]))
      const { status, json } = await post(addr.url, big)
      expect(status).to.equal(413)
      expect(json.error.code).to.equal(RpcErrorCode.REQUEST_TOO_LARGE)
      expect(json.error.message).to.include('65536 bytes')
      expect(json.error.data).to.deep.equal({ limit: 65536 })

      // a much larger upload, and one streamed without a Content-Length
      expect((await post(addr.url, 'x'.repeat(8 * 1024 * 1024))).status).to.equal(413)
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = request(addr.url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve({ status: res.statusCode!, body }))
        })
        r.on('error', reject)
        for (let i = 0; i < 10; i++) r.write('y'.repeat(10 * 1024))
        r.end()
      })
      expect(chunked.status).to.equal(413)
      expect(JSON.parse(chunked.body).error.code).to.equal(-32090)

      const health = await fetch(new URL('/health', addr.url))
      expect(health.status).to.equal(200)
      expect(await health.json()).to.deep.equal({ ok: true })
      expect((await post(addr.url, req('vdx_add', [1, 2]))).json.result).to.equal(3)
      // just under the limit is fine
      const fits = JSON.stringify(req('vdx_echo', ['x'.repeat(60 * 1024)]))
      expect((await post(addr.url, fits)).status).to.equal(200)
    })

    it('rejects 10,000-deep nesting with -32091 before parsing, quickly', async () => {
      for (const body of ['['.repeat(10_000) + ']'.repeat(10_000), '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)]) {
        const t = Date.now()
        const { status, json } = await post(addr.url, body)
        expect(Date.now() - t).to.be.below(500)
        expect(status).to.equal(200)
        expect(json.id).to.equal(null)
        expect(json.error.code).to.equal(RpcErrorCode.TOO_DEEP)
        expect(json.error.message).to.include('32 levels')
      }
      // nesting within the limit, and brackets inside strings, are fine
      const nested = JSON.parse('['.repeat(20) + ']'.repeat(20))
      expect((await post(addr.url, req('vdx_echo', nested))).json.result).to.deep.equal(nested)
      expect((await post(addr.url, req('vdx_echo', ['[[[[{{{{'.repeat(100) + '\\"[[[']))).json.result).to.have.length(1)
    })

    it('preserves code, message and data of an RpcError thrown by a handler', async () => {
      const { json } = await post(addr.url, req('vdx_rejected', [], 11))
      expect(json).to.deep.equal({
        jsonrpc: '2.0',
        id: 11,
        error: { code: -32006, message: 'INSUFFICIENT_MARGIN: deposit collateral or reduce size', data: { reason: 'INSUFFICIENT_MARGIN', need: '100' } },
      })
    })

    it('turns a plain Error into -32603 "internal error" without leaking it, and logs the stack', async () => {
      logs.length = 0
      const { text, json } = await post(addr.url, req('vdx_crash', [], 12))
      expect(json.id).to.equal(12)
      expect(json.error.code).to.equal(-32603)
      expect(json.error.message).to.equal('internal error')
      expect(text).not.to.include('secret').and.not.to.include('.ts:')
      const ref = json.error.data.ref
      expect(ref).to.match(/^[0-9a-f]{12}$/)
      const line = logs.find((l) => l.includes(ref))
      expect(line).to.include('vdx_crash').and.include('secret internal detail').and.include('at ')
    })

    it('turns a result that cannot be serialized into -32603', async () => {
      logs.length = 0
      const { json } = await post(addr.url, req('vdx_bigint'))
      expect(json.error.code).to.equal(-32603)
      expect(logs.join('\n')).to.include('not JSON-serializable')
    })

    it('serves GET /health and answers other HTTP methods with 405 and a JSON-RPC error', async () => {
      const health = await fetch(new URL('/health', addr.url))
      expect(health.status).to.equal(200)
      expect(await health.json()).to.deep.equal({ ok: true })
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await fetch(addr.url, { method })
        expect(res.status, method).to.equal(405)
        expect(res.headers.get('allow')).to.equal('POST')
        const json: any = await res.json()
        expect(json.error.code).to.equal(-32600)
        expect(json.error.message).to.include('POST')
      }
    })

    it('tells HTTP callers of vdx_subscribe / vdx_unsubscribe to use the WebSocket endpoint', async () => {
      for (const m of ['vdx_subscribe', 'vdx_unsubscribe']) {
        const { json } = await post(addr.url, req(m, ['trades']))
        expect(json.error.code).to.equal(-32601)
        expect(json.error.message).to.include('WebSocket').and.include(addr.wsUrl)
        expect(json.error.data.wsUrl).to.equal(addr.wsUrl)
      }
    })
  })

  describe('WebSocket', () => {
    it('answers requests, batches, and framing errors', async () => {
      const c = await WsClient.open(addr.wsUrl)
      try {
        expect(await c.call('vdx_add', [40, 2])).to.deep.equal({ jsonrpc: '2.0', id: 1, result: 42 })
        expect((await c.call('vdx_ctx')).result).to.deep.equal({ transport: 'ws', remoteAddress: '127.0.0.1', canSubscribe: true })
        expect((await c.call('vdx_nope')).error.code).to.equal(-32601)
        expect((await c.call('vdx_crash')).error).to.deep.include({ code: -32603, message: 'internal error' })
        const batch = await c.send([req('vdx_echo', [1], 'p'), req('vdx_echo', [2], 'q'), { jsonrpc: '2.0', method: 'vdx_notify' }], 'batch')
        expect(batch.map((r: any) => r.result)).to.deep.equal([[1], [2]])
        expect((await c.send('{oops', null)).error.code).to.equal(-32700)
        expect((await c.send('['.repeat(5000), null)).error.code).to.equal(-32091)
      } finally {
        await c.close()
      }
    })

    it('also accepts upgrades on /, and refuses other paths', async () => {
      const c = await WsClient.open(addr.url.replace('http', 'ws'))
      expect((await c.call('vdx_add', [1, 2])).result).to.equal(3)
      await c.close()
      let failed = false
      await WsClient.open(new URL('/nope', addr.wsUrl).href).catch(() => (failed = true))
      expect(failed).to.equal(true)
    })

    it('handles messages on one connection concurrently', async () => {
      const c = await WsClient.open(addr.wsUrl)
      const order: string[] = []
      await Promise.all([c.call('vdx_sleep', [80, 'slow']).then((r) => order.push(r.result)), c.call('vdx_sleep', [0, 'fast']).then((r) => order.push(r.result))])
      expect(order).to.deep.equal(['fast', 'slow'])
      await c.close()
    })

    it('delivers published results to subscribers and stops after vdx_unsubscribe', async () => {
      const a = await WsClient.open(addr.wsUrl)
      const b = await WsClient.open(addr.wsUrl)
      try {
        const subA = (await a.call('vdx_subscribe', ['trades'])).result
        const subB = (await b.call('vdx_subscribe', ['book'])).result
        expect(subA).to.match(/^0x[0-9a-f]{32}$/)
        expect(subB).to.not.equal(subA)

        server.publish('trades', { price: '100', size: 2 })
        expect(await a.nextNotification()).to.deep.equal({
          jsonrpc: '2.0',
          method: 'vdx_subscription',
          params: { subscription: subA, result: { price: '100', size: 2 } },
        })
        server.publish('nobody-listens', 1)

        expect((await a.call('vdx_unsubscribe', [subA])).result).to.equal(true)
        expect((await a.call('vdx_unsubscribe', [subA])).result).to.equal(false)
        // b cannot cancel a's subscriptions
        const subA2 = (await a.call('vdx_subscribe', ['trades'])).result
        expect((await b.call('vdx_unsubscribe', [subA2])).result).to.equal(false)
        expect((await a.call('vdx_unsubscribe', [subA2])).result).to.equal(true)

        server.publish('trades', { price: '101' })
        server.publish('book', { bids: [] })
        expect((await b.nextNotification()).params).to.deep.equal({ subscription: subB, result: { bids: [] } })
        expect(await a.nextNotification(150)).to.equal(undefined)
      } finally {
        await a.close()
        await b.close()
      }
    })

    it('lets handlers subscribe to their own topics through ctx.subscribe', async () => {
      const c = await WsClient.open(addr.wsUrl)
      const sub = (await c.call('vdx_watchAccount', ['0xabc'])).result
      server.publish('account:0xabc', { nonce: 1 })
      expect((await c.nextNotification()).params).to.deep.equal({ subscription: sub, result: { nonce: 1 } })
      await c.close()
    })

    it('validates vdx_subscribe / vdx_unsubscribe params with -32602', async () => {
      const c = await WsClient.open(addr.wsUrl)
      const bad = await c.call('vdx_subscribe', ['candles'])
      expect(bad.error.code).to.equal(-32602)
      expect(bad.error.message).to.include('params[0] (topic)').and.include('"trades", "book"').and.include('"candles"')
      expect((await c.call('vdx_subscribe', [])).error.code).to.equal(-32602)
      expect((await c.call('vdx_subscribe', 'trades')).error.code).to.equal(-32600)
      expect((await c.call('vdx_unsubscribe', [1])).error.code).to.equal(-32602)
      await c.close()
    })

    it('cleans up subscriptions when a socket closes, and publish never throws on closing sockets', async () => {
      const c = await WsClient.open(addr.wsUrl)
      await c.call('vdx_subscribe', ['trades'])
      c.ws.close()
      expect(() => server.publish('trades', { during: 'close' })).not.to.throw()
      await new Promise((r) => c.ws.once('close', r))
      const d = await WsClient.open(addr.wsUrl)
      d.ws.terminate()
      for (let i = 0; i < 5; i++) expect(() => server.publish('trades', { i })).not.to.throw()
      await sleep(50)
      expect(() => server.publish('trades', { after: 'close' })).not.to.throw()
      expect(() => server.publish('trades', { bad: 1n })).not.to.throw()
    })

    it('closes the socket (1009) on a frame larger than maxBodyBytes', async () => {
      const c = await WsClient.open(addr.wsUrl)
      const code = await new Promise<number>((resolve) => {
        c.ws.once('close', (code) => resolve(code))
        c.ws.send('x'.repeat(65 * 1024))
      })
      expect(code).to.equal(1009)
      expect((await post(addr.url, req('vdx_add', [1, 2]))).json.result).to.equal(3)
    })
  })

  describe('limits and lifecycle', () => {
    it('terminates WebSockets that stop answering pings', async () => {
      const s = new RpcServer({}, { heartbeatMs: 40, log: () => {} })
      const { wsUrl } = await s.listen()
      try {
        const live = await WsClient.open(wsUrl)
        const dead = await WsClient.open(wsUrl, { autoPong: false })
        const closed = await Promise.race([new Promise((r) => dead.ws.once('close', () => r(true))), sleep(1000).then(() => false)])
        expect(closed).to.equal(true)
        expect(live.ws.readyState).to.equal(WebSocket.OPEN)
        await live.close()
      } finally {
        await s.close()
      }
    })

    it('drops connections that send headers too slowly', async () => {
      const s = new RpcServer({}, { requestTimeoutMs: 200, log: () => {} })
      const { port } = await s.listen()
      try {
        const t = Date.now()
        const sock = connect(port, '127.0.0.1')
        sock.on('data', () => {})
        sock.write('POST / HTTP/1.1\r\nHost: x\r\n')
        const t2 = setInterval(() => sock.write('X-a: b\r\n'), 50)
        await new Promise((r) => sock.once('close', r))
        clearInterval(t2)
        expect(Date.now() - t).to.be.below(1500)
      } finally {
        await s.close()
      }
    })

    it('refuses to replace built-in methods and validates options', () => {
      expect(() => new RpcServer({ vdx_subscribe: () => 1 })).to.throw(/built in/)
      expect(() => new RpcServer({}, { maxBodyBytes: 0 })).to.throw(/maxBodyBytes/)
    })

    it('closes promptly with open WebSockets and is idempotent', async () => {
      const s = new RpcServer({ vdx_x: () => 1 }, { topics: ['t'], log: () => {} })
      const { wsUrl } = await s.listen()
      const c = await WsClient.open(wsUrl)
      await c.call('vdx_subscribe', ['t'])
      const closed = new Promise<number>((r) => c.ws.once('close', (code) => r(code)))
      const t = Date.now()
      await Promise.all([s.close(), s.close()])
      expect(await closed).to.equal(1001)
      expect(Date.now() - t).to.be.below(1000)
      expect(() => s.publish('t', 1)).not.to.throw()
    })
  })

  describe('jsonDepthExceeds', () => {
    it('counts arrays and objects, ignoring brackets in strings and escaped quotes', () => {
      const b = (s: string) => Buffer.from(s)
      expect(jsonDepthExceeds(b('[[1]]'), 2)).to.equal(false)
      expect(jsonDepthExceeds(b('[[[1]]]'), 2)).to.equal(true)
      expect(jsonDepthExceeds(b('{"a":{"b":[]}}'), 2)).to.equal(true)
      expect(jsonDepthExceeds(b('[[],[],[],[]]'), 2)).to.equal(false)
      expect(jsonDepthExceeds(b('["[[[[[[", "\\"[[[[", "{{{{"]'), 1)).to.equal(false)
      expect(jsonDepthExceeds(b('["\\\\", [[]]]'), 2)).to.equal(true)
      expect(jsonDepthExceeds(b('"[[[[[[[[[["'), 1)).to.equal(false)
      // stray closers cannot buy extra depth
      expect(jsonDepthExceeds(b(']]]]][[['), 2)).to.equal(true)
    })
  })
})
