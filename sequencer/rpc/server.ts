/**
 * JSON-RPC 2.0 server for the sequencer: HTTP POST and WebSocket on one port, no business logic.
 *
 *   POST /            JSON-RPC request or batch           → 200 JSON, or 204 if only notifications
 *   GET  /health      liveness                            → 200 {"ok":true}
 *   GET  / or /ws     WebSocket upgrade; one request or batch per message, plus subscriptions
 *
 * Limits (all per request/message): body size (`maxBodyBytes`, checked while streaming),
 * batch length (`maxBatch`), JSON nesting (`maxDepth`, checked by a linear bracket scan before
 * `JSON.parse`). With `rateLimits`, each client IP has a request budget (a batch spends one token
 * per entry, charged after parsing so replies keep their ids; a refused payload gets -32092 and,
 * over HTTP, status 429 with Retry-After) and a cap on open connections. Handlers receive `params` unvalidated and must check them (throw
 * `InvalidParamsError`); results must be JSON-serializable (no bigint: encode amounts yourself).
 */
import { randomBytes } from 'node:crypto'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { Duplex } from 'node:stream'
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import {
  InternalError,
  InvalidParamsError,
  InvalidRequestError,
  MethodNotFoundError,
  ParseError,
  RateLimitedError,
  RequestTooLargeError,
  RpcError,
  RpcErrorCode,
  type RpcErrorObject,
  TooDeepError,
  describe,
} from './errors.js'
import type { RateLimits } from './rateLimit.js'

export type JsonRpcId = string | number | null

export interface JsonRpcRequest {
  jsonrpc: '2.0'
  method: string
  params?: unknown[] | Record<string, unknown>
  /** Absent for notifications. */
  id?: JsonRpcId
}

export type JsonRpcResponse =
  | { jsonrpc: '2.0'; id: JsonRpcId; result: unknown }
  | { jsonrpc: '2.0'; id: JsonRpcId; error: RpcErrorObject }

/** Server → client push over WebSocket. */
export interface JsonRpcSubscriptionNotification<T = unknown> {
  jsonrpc: '2.0'
  method: typeof SUBSCRIPTION_METHOD
  params: { subscription: string; result: T }
}

export interface RpcContext {
  transport: 'http' | 'ws'
  remoteAddress: string
  /** WebSocket only: subscribe this connection to `topic` (any string); returns the subscription id. */
  subscribe?: (topic: string) => string
  /** WebSocket only: drop one of this connection's subscriptions; false if it had no such id. */
  unsubscribe?: (subscriptionId: string) => boolean
}

export type RpcHandler = (params: unknown, ctx: RpcContext) => unknown | Promise<unknown>

export interface RpcServerOptions {
  /** Default `127.0.0.1`. */
  host?: string
  /** Default 0 (ephemeral). */
  port?: number
  /** Largest HTTP body or WebSocket message, in bytes. Default 64 KiB. */
  maxBodyBytes?: number
  /** Most requests in one batch. Default 100. */
  maxBatch?: number
  /** Deepest JSON nesting of arrays/objects (a batch counts as one level). Default 32. */
  maxDepth?: number
  /** Topics clients may pass to `vdx_subscribe`. Default none. */
  topics?: readonly string[]
  /** WebSocket ping interval; a socket that missed the previous pong is terminated. Default 30 s. */
  heartbeatMs?: number
  /** HTTP `headersTimeout` and `requestTimeout` (slow-loris guard). Default 10 s. */
  requestTimeoutMs?: number
  /** A WebSocket whose unsent backlog exceeds this is terminated as a slow consumer. Default 8 MiB. */
  wsMaxBufferedBytes?: number
  /** Per-IP request budget and connection cap (shared with the handlers' per-signer limits). Default none. */
  rateLimits?: RateLimits
  /** One line per event worth an operator's attention. Default: stderr. */
  log?: (line: string) => void
}

export interface RpcServerAddress {
  /** HTTP endpoint, e.g. `http://127.0.0.1:8545/`. */
  url: string
  /** WebSocket endpoint, e.g. `ws://127.0.0.1:8545/ws`. */
  wsUrl: string
  port: number
}

export const SUBSCRIPTION_METHOD = 'vdx_subscription'
export const SUBSCRIBE_METHOD = 'vdx_subscribe'
export const UNSUBSCRIBE_METHOD = 'vdx_unsubscribe'

const WS_PATHS = new Set(['/', '/ws'])
const HEALTH_PATH = '/health'
/** How long to keep draining an oversized upload after the 413 so the client can read it. */
const OVERSIZE_LINGER_MS = 1_000

interface Connection {
  ws: WebSocket
  alive: boolean
  /** subscription id → topic */
  subs: Map<string, string>
}

type Resolved = Required<Omit<RpcServerOptions, 'topics' | 'rateLimits'>> & { topics: ReadonlySet<string>; rateLimits: RateLimits | undefined }

export class RpcServer {
  readonly #methods: Map<string, RpcHandler>
  readonly #methodNames: readonly string[]
  readonly #opts: Resolved
  readonly #http: Server
  readonly #wss: WebSocketServer
  readonly #conns = new Set<Connection>()
  /** topic → subscription id → connection */
  readonly #topics = new Map<string, Map<string, Connection>>()
  #heartbeat: NodeJS.Timeout | undefined
  #address: RpcServerAddress | undefined
  #closing: Promise<void> | undefined
  /** Sockets over their IP's connection cap: already answered 429, never served. */
  readonly #refused = new WeakSet<object>()

  constructor(methods: Record<string, RpcHandler>, opts: RpcServerOptions = {}) {
    this.#opts = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      maxBodyBytes: positiveInt('maxBodyBytes', opts.maxBodyBytes ?? 64 * 1024),
      maxBatch: positiveInt('maxBatch', opts.maxBatch ?? 100),
      maxDepth: positiveInt('maxDepth', opts.maxDepth ?? 32),
      topics: new Set(opts.topics ?? []),
      heartbeatMs: positiveInt('heartbeatMs', opts.heartbeatMs ?? 30_000),
      requestTimeoutMs: positiveInt('requestTimeoutMs', opts.requestTimeoutMs ?? 10_000),
      wsMaxBufferedBytes: positiveInt('wsMaxBufferedBytes', opts.wsMaxBufferedBytes ?? 8 * 1024 * 1024),
      rateLimits: opts.rateLimits,
      log: opts.log ?? ((line) => process.stderr.write(`${line}\n`)),
    }

    this.#methods = new Map([
      [SUBSCRIBE_METHOD, this.#subscribeMethod],
      [UNSUBSCRIBE_METHOD, this.#unsubscribeMethod],
    ])
    for (const [name, handler] of Object.entries(methods)) {
      if (this.#methods.has(name)) throw new TypeError(`RpcServer: method ${name} is built in and cannot be replaced`)
      if (typeof handler !== 'function') throw new TypeError(`RpcServer: handler for ${name} is not a function`)
      this.#methods.set(name, handler)
    }
    this.#methodNames = Object.freeze([...this.#methods.keys()].sort())
    const limits = this.#opts.rateLimits
    if (limits && limits.ip.rate.burst < this.#opts.maxBatch)
      throw new TypeError(`RpcServer: the per-IP burst (${limits.ip.rate.burst}) must be at least maxBatch (${this.#opts.maxBatch}), or a full batch could never pass`)

    const timeout = this.#opts.requestTimeoutMs
    this.#http = createServer(
      // Node checks the timeouts below only every `connectionsCheckingInterval` (30 s by default).
      { connectionsCheckingInterval: Math.min(1_000, Math.ceil(timeout / 2)), headersTimeout: timeout, requestTimeout: timeout },
      (req, res) => this.#onHttpRequest(req, res),
    )
    this.#http.headersTimeout = timeout
    this.#http.requestTimeout = timeout
    if (limits) {
      // Counted per TCP connection (WebSockets included): many idle or trickling sockets from one
      // address would otherwise pile up until the request timeout cuts each of them.
      this.#http.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
        const ip = socket.remoteAddress ?? ''
        if (!limits.openConnection(ip)) {
          const body = JSON.stringify(
            errorResponse(null, new RpcError(RpcErrorCode.RATE_LIMITED, 'rate limited', { scope: 'connections', limit: limits.maxConnectionsPerIp }, {
              details: `too many open connections from this client IP (limit ${limits.maxConnectionsPerIp}); reuse connections (keep-alive) or close idle ones`,
            })),
          )
          // Answer at once, and ignore whatever the client sends on it (see #onHttpRequest).
          this.#refused.add(socket)
          socket.on('error', () => {})
          socket.end(`HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
          setTimeout(() => socket.destroy(), OVERSIZE_LINGER_MS).unref()
          return
        }
        socket.once('close', () => limits.closeConnection(ip))
      })
    }
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head))
    this.#http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (socket.writable && err.code !== 'ECONNRESET') {
        const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      }
      socket.destroy()
    })

    this.#wss = new WebSocketServer({ noServer: true, maxPayload: this.#opts.maxBodyBytes, perMessageDeflate: false })
  }

  /** Method names clients can call, sorted. */
  get methods(): readonly string[] {
    return this.#methodNames
  }

  async listen(): Promise<RpcServerAddress> {
    if (this.#address) return this.#address
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.#http.once('error', onError)
      this.#http.listen(this.#opts.port, this.#opts.host, () => {
        this.#http.off('error', onError)
        resolve()
      })
    })
    this.#http.on('error', (err) => this.#opts.log(`rpc: http server error: ${err.message}`))

    const addr = this.#http.address()
    if (addr === null || typeof addr === 'string') throw new Error('RpcServer: unexpected listen address')
    const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address
    this.#address = { url: `http://${host}:${addr.port}/`, wsUrl: `ws://${host}:${addr.port}/ws`, port: addr.port }

    this.#heartbeat = setInterval(() => this.#beat(), this.#opts.heartbeatMs)
    this.#heartbeat.unref()
    return this.#address
  }

  /** Sends `{jsonrpc, method: 'vdx_subscription', params: {subscription, result}}` to every subscriber of `topic`. Never throws. */
  publish(topic: string, result: unknown): void {
    const subs = this.#topics.get(topic)
    if (!subs || subs.size === 0) return
    let resultJson: string | undefined
    try {
      resultJson = JSON.stringify(result ?? null)
    } catch (err) {
      this.#opts.log(`rpc: publish(${topic}): result is not JSON-serializable: ${errorText(err)}`)
      return
    }
    const prefix = `{"jsonrpc":"2.0","method":"${SUBSCRIPTION_METHOD}","params":{"subscription":`
    for (const [id, conn] of subs) this.#send(conn, `${prefix}"${id}","result":${resultJson}}}`)
  }

  /** Stops accepting connections, closes every WebSocket (1001) and HTTP connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat)
      for (const conn of this.#conns) conn.ws.close(1001, 'server shutting down')
      const httpClosed = new Promise<void>((resolve) => (this.#http.listening ? this.#http.close(() => resolve()) : resolve()))
      this.#http.closeIdleConnections()
      // In-flight HTTP requests and WebSockets get a moment to finish their close, then are cut.
      const force = setTimeout(() => {
        this.#http.closeAllConnections()
        for (const conn of this.#conns) conn.ws.terminate()
      }, 1_000)
      const wsClosed = [...this.#conns].map(
        (conn) => new Promise<void>((resolve) => (conn.ws.readyState === WebSocket.CLOSED ? resolve() : conn.ws.once('close', () => resolve()))),
      )
      await Promise.all([httpClosed, ...wsClosed])
      clearTimeout(force)
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()))
    })()
    return this.#closing
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  #onHttpRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#refused.has(req.socket)) return void req.socket.destroy()
    const path = (req.url ?? '/').split('?', 1)[0]
    if (req.method === 'GET' && path === HEALTH_PATH) return void sendJson(res, 200, '{"ok":true}')
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      const err = new InvalidRequestError(
        `HTTP ${req.method ?? '?'} is not supported: POST JSON-RPC requests, GET ${HEALTH_PATH} for liveness, or open a WebSocket on /ws`,
      )
      return void sendJson(res, 405, errorResponse(null, err), true)
    }

    const limit = this.#opts.maxBodyBytes
    const chunks: Buffer[] = []
    let size = 0
    let rejected = false
    let drained = 0
    const ip = req.socket.remoteAddress ?? ''
    const reject = (status = 413, err: RpcError = new RequestTooLargeError(limit), headers: Record<string, number> = {}) => {
      rejected = true
      chunks.length = 0
      // Write the whole answer (it has a Content-Length, so the client can read it at once) but
      // hold back `end()`, which closes the socket: closing while the client is still uploading
      // would make the kernel answer with RST and the client could lose the response. So drain
      // the rest for a short while, discarding it (at most another `limit` bytes: past that,
      // stop reading, so a huge upload costs nothing more), then close.
      const body = JSON.stringify(errorResponse(null, err))
      res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' })
      res.write(body)
      const finish = () => {
        clearTimeout(timer)
        if (!res.writableEnded) res.end()
      }
      const timer = setTimeout(() => {
        finish()
        req.socket.destroy()
      }, OVERSIZE_LINGER_MS)
      req.once('end', finish)
      req.once('close', finish)
    }

    const limits = this.#opts.rateLimits
    const refused = limits?.ipRefusal(ip)
    if (refused) {
      // No budget left at all: refused before the body is read (the id is unknown, hence null).
      reject(429, refused, { 'retry-after': Math.max(1, Math.ceil((refused.retryAfterMs ?? 1000) / 1000)) })
    } else if (Number(req.headers['content-length']) > limit) {
      limits?.chargeOversized(ip)
      reject()
    }
    req.on('data', (chunk: Buffer) => {
      if (rejected) {
        drained += chunk.length
        if (drained > limit) req.pause()
        return
      }
      size += chunk.length
      if (size > limit) {
        limits?.chargeOversized(ip)
        reject()
      } else chunks.push(chunk)
    })
    req.on('error', () => {}) // aborted uploads: nothing to answer
    req.on('end', () => {
      if (rejected) return
      const ctx: RpcContext = { transport: 'http', remoteAddress: req.socket.remoteAddress ?? '' }
      this.#handlePayload(Buffer.concat(chunks, size), ctx).then(
        (out) => {
          if (out === undefined) return sendEmpty(res, 204)
          if (typeof out === 'string') return sendJson(res, 200, out)
          // The whole payload was over the client's budget: 429, and Retry-After in whole seconds.
          if (out.retryAfterMs !== null) res.setHeader('retry-after', Math.max(1, Math.ceil(out.retryAfterMs / 1000)))
          sendJson(res, 429, out.text)
        },
        (err: unknown) => {
          // #handlePayload catches handler errors itself; reaching this is a bug in this file.
          this.#opts.log(`rpc: unexpected error handling HTTP request: ${errorStack(err)}`)
          sendJson(res, 500, JSON.stringify(errorResponse(null, new InternalError())))
        },
      )
    })
  }

  // ---- WebSocket -----------------------------------------------------------------------------

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const onSocketError = () => socket.destroy()
    socket.on('error', onSocketError)
    if (this.#refused.has(socket)) return void socket.destroy()
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    if (!WS_PATHS.has(path) || this.#closing) {
      const status = this.#closing ? '503 Service Unavailable' : '404 Not Found'
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onSocketError)
      this.#onConnection(ws, req.socket.remoteAddress ?? '')
    })
  }

  #onConnection(ws: WebSocket, remoteAddress: string): void {
    const conn: Connection = { ws, alive: true, subs: new Map() }
    this.#conns.add(conn)
    const ctx: RpcContext = {
      transport: 'ws',
      remoteAddress,
      subscribe: (topic) => this.#addSubscription(conn, topic),
      unsubscribe: (id) => this.#removeSubscription(conn, id),
    }
    ws.on('pong', () => {
      conn.alive = true
    })
    ws.on('message', (data: RawData) => {
      // Messages are handled concurrently; each reply goes out when its handler finishes.
      this.#handlePayload(rawToBuffer(data), ctx).then(
        (out) => {
          if (out !== undefined) this.#send(conn, typeof out === 'string' ? out : out.text)
        },
        (err: unknown) => this.#opts.log(`rpc: unexpected error handling ws message: ${errorStack(err)}`),
      )
    })
    ws.on('error', (err) => this.#opts.log(`rpc: ws ${remoteAddress}: ${err.message}`))
    ws.on('close', () => {
      this.#conns.delete(conn)
      for (const id of [...conn.subs.keys()]) this.#removeSubscription(conn, id)
    })
  }

  #send(conn: Connection, text: string): void {
    const { ws } = conn
    if (ws.readyState !== WebSocket.OPEN) return
    if (ws.bufferedAmount > this.#opts.wsMaxBufferedBytes) {
      this.#opts.log(`rpc: terminating slow ws consumer (${ws.bufferedAmount} bytes unsent)`)
      ws.terminate()
      return
    }
    try {
      ws.send(text, () => {}) // errors surface through 'error'/'close'
    } catch (err) {
      this.#opts.log(`rpc: ws send failed: ${errorText(err)}`)
    }
  }

  #beat(): void {
    for (const conn of this.#conns) {
      if (!conn.alive) {
        conn.ws.terminate()
        continue
      }
      conn.alive = false
      try {
        conn.ws.ping()
      } catch {
        conn.ws.terminate()
      }
    }
  }

  #addSubscription(conn: Connection, topic: string): string {
    const id = `0x${randomBytes(16).toString('hex')}`
    conn.subs.set(id, topic)
    let subs = this.#topics.get(topic)
    if (!subs) this.#topics.set(topic, (subs = new Map()))
    subs.set(id, conn)
    return id
  }

  #removeSubscription(conn: Connection, id: string): boolean {
    const topic = conn.subs.get(id)
    if (topic === undefined) return false
    conn.subs.delete(id)
    const subs = this.#topics.get(topic)
    subs?.delete(id)
    if (subs?.size === 0) this.#topics.delete(topic)
    return true
  }

  // ---- Built-in methods ----------------------------------------------------------------------

  #wsOnly(method: string, ctx: RpcContext): void {
    if (ctx.transport === 'ws') return
    const wsUrl = this.#address?.wsUrl
    throw new RpcError(
      RpcErrorCode.METHOD_NOT_FOUND,
      `method ${method} is only available over WebSocket`,
      { method, transport: 'ws', wsUrl },
      { details: `connect to ${wsUrl ?? 'the /ws endpoint'} and call it there` },
    )
  }

  #subscribeMethod: RpcHandler = (params, ctx) => {
    this.#wsOnly(SUBSCRIBE_METHOD, ctx)
    const topics = [...this.#opts.topics]
    const expected = topics.length ? `one of ${topics.map((t) => JSON.stringify(t)).join(', ')}` : 'a topic, but this server has none'
    if (!Array.isArray(params) || params.length !== 1) throw new InvalidParamsError('params', `[topic] with topic ${expected}`, params)
    const topic: unknown = params[0]
    if (typeof topic !== 'string' || !this.#opts.topics.has(topic)) throw new InvalidParamsError('params[0] (topic)', expected, topic)
    return ctx.subscribe!(topic)
  }

  #unsubscribeMethod: RpcHandler = (params, ctx) => {
    this.#wsOnly(UNSUBSCRIBE_METHOD, ctx)
    if (!Array.isArray(params) || params.length !== 1) throw new InvalidParamsError('params', '[subscriptionId]', params)
    const id: unknown = params[0]
    if (typeof id !== 'string') throw new InvalidParamsError('params[0] (subscriptionId)', 'a subscription id string returned by vdx_subscribe', id)
    return ctx.unsubscribe!(id)
  }

  // ---- Framing -------------------------------------------------------------------------------

  /**
   * One HTTP body or ws message → the serialized reply, or undefined when nothing is owed, or a
   * refusal of the whole payload by the client's rate limit.
   */
  async #handlePayload(buf: Buffer, ctx: RpcContext): Promise<string | undefined | Refusal> {
    if (jsonDepthExceeds(buf, this.#opts.maxDepth)) return JSON.stringify(errorResponse(null, new TooDeepError(this.#opts.maxDepth)))
    let payload: unknown
    try {
      payload = JSON.parse(buf.toString('utf8'))
    } catch (err) {
      return JSON.stringify(errorResponse(null, new ParseError(`the request is not valid JSON (${errorText(err)})`)))
    }

    const limits = this.#opts.rateLimits
    if (limits) {
      try {
        limits.chargeRequests(ctx.remoteAddress, Array.isArray(payload) ? Math.max(1, Math.min(payload.length, this.#opts.maxBatch)) : 1)
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err
        return refusal(payload, err, this.#opts.maxBatch)
      }
    }

    if (!Array.isArray(payload)) return this.#handleOne(payload, ctx)
    if (payload.length === 0) return JSON.stringify(errorResponse(null, new InvalidRequestError('empty batch: send at least one request')))
    if (payload.length > this.#opts.maxBatch) {
      const err = new InvalidRequestError(`batch of ${payload.length} requests exceeds the limit of ${this.#opts.maxBatch}; split it`, {
        limit: this.#opts.maxBatch,
      })
      return JSON.stringify(errorResponse(null, err))
    }
    const replies = await Promise.all(payload.map((item) => this.#handleOne(item, ctx)))
    const present = replies.filter((r): r is string => r !== undefined)
    return present.length ? `[${present.join(',')}]` : undefined
  }

  /** One request object → its serialized response, or undefined for a notification. */
  async #handleOne(raw: unknown, ctx: RpcContext): Promise<string | undefined> {
    const checked = validateRequest(raw)
    if (checked instanceof RpcError) return JSON.stringify(errorResponse(validId(raw), checked))
    const { method, params } = checked
    const isNotification = !('id' in checked)
    const id = checked.id ?? null

    const handler = this.#methods.get(method)
    if (!handler) return isNotification ? undefined : JSON.stringify(errorResponse(id, new MethodNotFoundError(method, this.methods)))

    let response: JsonRpcResponse
    try {
      response = { jsonrpc: '2.0', id, result: (await handler(params, ctx)) ?? null }
    } catch (err) {
      response = errorResponse(id, this.#toRpcError(err, method, id))
    }
    if (isNotification) return undefined
    try {
      return JSON.stringify(response)
    } catch (err) {
      return JSON.stringify(errorResponse(id, this.#toRpcError(new Error(`result is not JSON-serializable: ${errorText(err)}`), method, id)))
    }
  }

  #toRpcError(err: unknown, method: string, id: JsonRpcId): RpcError {
    if (err instanceof RpcError) return err
    const ref = randomBytes(6).toString('hex')
    this.#opts.log(`rpc: internal error ref=${ref} method=${method} id=${JSON.stringify(id)}: ${errorStack(err)}`)
    return new InternalError(ref, err)
  }
}

// ---- Helpers (exported for tests and reuse) -------------------------------------------------

/**
 * True if the JSON text nests arrays/objects deeper than `maxDepth`. Linear, allocation-free,
 * and skips brackets inside strings; it does not validate the JSON (JSON.parse does that).
 */
export function jsonDepthExceeds(buf: Uint8Array, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!
    if (inString) {
      if (c === 0x5c /* \ */) i++
      else if (c === 0x22 /* " */) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true
    } else if ((c === 0x5d /* ] */ || c === 0x7d /* } */) && depth > 0) depth--
  }
  return false
}

/** Checks the JSON-RPC 2.0 request shape; returns the request or the error to send back. */
export function validateRequest(raw: unknown): JsonRpcRequest | InvalidRequestError {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return new InvalidRequestError(`expected a request object {"jsonrpc":"2.0","method":...}, got ${describe(raw)}`)
  const r = raw as Record<string, unknown>
  if (r.jsonrpc !== '2.0') return new InvalidRequestError(`"jsonrpc" must be "2.0", got ${describe(r.jsonrpc)}`)
  if (typeof r.method !== 'string') return new InvalidRequestError(`"method" must be a string, got ${describe(r.method)}`)
  if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null))
    return new InvalidRequestError(`"params" must be an array or an object when present, got ${describe(r.params)}`)
  const hasId = Object.hasOwn(r, 'id')
  if (hasId && !isId(r.id)) return new InvalidRequestError(`"id" must be a string, a number or null when present, got ${describe(r.id)}`)
  const req: JsonRpcRequest = { jsonrpc: '2.0', method: r.method }
  if (r.params !== undefined) req.params = r.params as JsonRpcRequest['params']
  if (hasId) req.id = r.id as JsonRpcId
  return req
}

const isId = (v: unknown): v is JsonRpcId => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))

/** The request's id if it is a usable one, else null (per spec, for requests we cannot read). */
const validId = (raw: unknown): JsonRpcId => {
  if (typeof raw !== 'object' || raw === null || !Object.hasOwn(raw, 'id')) return null
  const id = (raw as { id: unknown }).id
  return isId(id) ? id : null
}

const errorResponse = (id: JsonRpcId, err: RpcError): JsonRpcResponse => ({ jsonrpc: '2.0', id, error: err.toJSON() })

interface Refusal {
  text: string
  retryAfterMs: number | null
}

/**
 * The rate-limit error for every request of a refused payload that expects a reply, by its id;
 * one error (id null) for a batch the server would refuse anyway (empty or over `maxBatch`), so
 * the answer never grows with what the client sent.
 */
function refusal(payload: unknown, err: RateLimitedError, maxBatch: number): Refusal | undefined {
  // Serialized once: a flood is answered with many copies of the same error.
  const errJson = JSON.stringify(err.toJSON())
  const reply = (id: JsonRpcId) => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":${errJson}}`
  const isNotification = (item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item) && !Object.hasOwn(item, 'id') && (item as { jsonrpc?: unknown }).jsonrpc === '2.0' && typeof (item as { method?: unknown }).method === 'string'
  let text: string | undefined
  if (!Array.isArray(payload)) text = isNotification(payload) ? undefined : reply(validId(payload))
  else if (payload.length === 0 || payload.length > maxBatch) text = reply(null)
  else {
    const replies = payload.filter((item) => !isNotification(item)).map((item) => reply(validId(item)))
    text = replies.length ? `[${replies.join(',')}]` : undefined
  }
  return text === undefined ? undefined : { text, retryAfterMs: err.retryAfterMs }
}

function sendJson(res: ServerResponse, status: number, body: string | object, close = false): void {
  if (res.headersSent || res.destroyed) return
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
  if (close) headers.connection = 'close'
  res.writeHead(status, headers).end(text)
}

function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status).end()
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`RpcServer: ${name} must be a positive integer, got ${String(v)}`)
  return v
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))
/** The stack (or message) folded onto one line, so each log call stays a single line. */
const errorStack = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err)).replace(/\s*\n\s*/g, ' | ')
