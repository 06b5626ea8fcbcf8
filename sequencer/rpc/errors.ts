/**
 * JSON-RPC 2.0 errors for the sequencer's RPC server.
 *
 * Every error carries a `shortMessage` (what went wrong) and optional `details` (what the caller
 * should change); the wire `message` is `shortMessage: details`. Handlers throw `RpcError` (or a
 * subclass) for anything the caller should see; any other thrown value becomes `InternalError`,
 * whose wire form never includes the original message or stack.
 *
 * Application errors use `-32000 - resultCode` (docs/protocol.md §8, result codes); see
 * `applicationErrorCode`.
 */

export const RpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Body or frame larger than the server's limit. */
  REQUEST_TOO_LARGE: -32090,
  /** JSON nested deeper than the server's limit. */
  TOO_DEEP: -32091,
  /** A rate limit (per client IP, per signer, or invalid signatures per IP) is used up. */
  RATE_LIMITED: -32092,
} as const
export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode]

/** The `error` member of a JSON-RPC 2.0 response. */
export interface RpcErrorObject {
  code: number
  message: string
  data?: unknown
}

export interface RpcErrorOptions {
  /** What the caller should change; appended to the wire message as `shortMessage: details`. */
  details?: string | undefined
  /** Local cause, kept for logs only (never sent). */
  cause?: unknown
}

export class RpcError extends Error {
  override name = 'RpcError'
  readonly code: number
  readonly shortMessage: string
  readonly details: string | undefined
  /** Structured, JSON-serializable detail sent as `error.data` (omitted when undefined). */
  readonly data?: unknown

  constructor(code: number, shortMessage: string, data?: unknown, options: RpcErrorOptions = {}) {
    super(options.details ? `${shortMessage}: ${options.details}` : shortMessage, { cause: options.cause })
    if (!Number.isInteger(code)) throw new TypeError(`RpcError code must be an integer, got ${String(code)}`)
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details
    if (data !== undefined) this.data = data
  }

  /** The wire form: `{ code, message, data? }`. */
  toJSON(): RpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data }
  }
}

export class ParseError extends RpcError {
  static readonly code = RpcErrorCode.PARSE_ERROR
  override name = 'ParseError'
  constructor(details = 'the request body is not valid JSON') {
    super(RpcErrorCode.PARSE_ERROR, 'parse error', undefined, { details })
  }
}

export class InvalidRequestError extends RpcError {
  static readonly code = RpcErrorCode.INVALID_REQUEST
  override name = 'InvalidRequestError'
  constructor(details: string, data?: unknown) {
    super(RpcErrorCode.INVALID_REQUEST, 'invalid request', data, { details })
  }
}

export class MethodNotFoundError extends RpcError {
  static readonly code = RpcErrorCode.METHOD_NOT_FOUND
  override name = 'MethodNotFoundError'
  constructor(method: string, available: readonly string[]) {
    super(
      RpcErrorCode.METHOD_NOT_FOUND,
      `method ${JSON.stringify(clip(method, 64))} not found`,
      { method: clip(method, 64), available },
      { details: `available methods: ${available.join(', ')}` },
    )
  }
}

export class InvalidParamsError extends RpcError {
  static readonly code = RpcErrorCode.INVALID_PARAMS
  override name = 'InvalidParamsError'
  /**
   * @param param    which parameter, e.g. `'params[0] (topic)'` or `'params.market'`
   * @param expected what it must be, e.g. `'a 0x-prefixed 20-byte address'`
   * @param received the offending value, if any; summarized in the message
   */
  constructor(param: string, expected: string, ...received: [] | [unknown]) {
    const got = received.length ? `, got ${describe(received[0])}` : ''
    super(RpcErrorCode.INVALID_PARAMS, 'invalid params', { param, expected }, { details: `${param} must be ${expected}${got}` })
  }
}

export class InternalError extends RpcError {
  static readonly code = RpcErrorCode.INTERNAL_ERROR
  override name = 'InternalError'
  /** @param ref an opaque id that also appears in the server log line, for correlation */
  constructor(ref?: string, cause?: unknown) {
    super(RpcErrorCode.INTERNAL_ERROR, 'internal error', ref === undefined ? undefined : { ref }, { cause })
  }
}

export class RequestTooLargeError extends RpcError {
  static readonly code = RpcErrorCode.REQUEST_TOO_LARGE
  override name = 'RequestTooLargeError'
  constructor(limitBytes: number) {
    super(
      RpcErrorCode.REQUEST_TOO_LARGE,
      'request too large',
      { limit: limitBytes },
      { details: `the limit is ${limitBytes} bytes; split the batch or send smaller requests` },
    )
  }
}

export class TooDeepError extends RpcError {
  static readonly code = RpcErrorCode.TOO_DEEP
  override name = 'TooDeepError'
  constructor(maxDepth: number) {
    super(
      RpcErrorCode.TOO_DEEP,
      'request nested too deeply',
      { limit: maxDepth },
      { details: `JSON arrays and objects may nest at most ${maxDepth} levels` },
    )
  }
}

/** Which budget a rate-limited request ran out of (sequencer/rpc/rateLimit.ts). */
export type RateLimitScope = 'ip' | 'signer' | 'invalidSignature' | 'invalidSignatureTotal'

export interface RateLimitData {
  scope: RateLimitScope
  /** The client IP or the signer address the budget belongs to. */
  key: string
  perSecond: number
  burst: number
  /** Tokens this request needed (a batch needs one per entry). */
  cost: number
  /** Earliest time, in ms, at which the same request can succeed (null: never, split the batch). */
  retryAfterMs: number | null
}

const SCOPE_TEXT: Record<RateLimitScope, string> = {
  ip: 'requests from this client IP',
  signer: 'signed transactions from this signer',
  invalidSignature: 'invalid signatures from this client IP (signatures that recover no signer, or a signer with no account: deposit first)',
  invalidSignatureTotal: 'invalid signatures from all clients together, and this client IP sent one in the last minute (check your EIP-712 domain, chain id and key, and that the key has deposited)',
}

export class RateLimitedError extends RpcError {
  static readonly code = RpcErrorCode.RATE_LIMITED
  override name = 'RateLimitedError'
  readonly retryAfterMs: number | null
  constructor(d: RateLimitData) {
    const limit = `limit ${d.perSecond}/s, burst ${d.burst}`
    const details =
      d.retryAfterMs !== null
        ? `too many ${SCOPE_TEXT[d.scope]} (${limit}); retry after ${d.retryAfterMs} ms and slow down`
        : `a batch of ${d.cost} exceeds the burst for ${SCOPE_TEXT[d.scope]} (${limit}); split it`
    super(RpcErrorCode.RATE_LIMITED, 'rate limited', d, { details })
    this.retryAfterMs = d.retryAfterMs
  }
}

/** JSON-RPC error code for an engine result code: `-32000 - resultCode`. */
export const applicationErrorCode = (resultCode: number): number => -32000 - resultCode

/** Short, log- and message-safe rendering of an arbitrary value. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array of length ${value.length}`
  switch (typeof value) {
    case 'string':
      return JSON.stringify(clip(value, 40))
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value)
    case 'undefined':
      return 'nothing'
    case 'object':
      return 'an object'
    default:
      return `a ${typeof value}`
  }
}

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s)
