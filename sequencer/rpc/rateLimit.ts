/**
 * Token-bucket rate limits that keep one hostile client from taking the sequencer from everyone
 * else (docs/api.md, "Rate limits"):
 *
 *   ip        every JSON-RPC request from one client IP (a batch counts each entry), checked by
 *             the RPC server before the payload is parsed;
 *   signer    signed transactions per recovered signer, checked right after signature recovery
 *             (the key is only known then) and before the nonce check, the engine or the journal;
 *   invalid   signatures that recover no signer, or a signer the exchange holds no account for
 *             (the engine could only refuse its transactions; counted by sequencer/api.ts), per
 *             client IP: once a client has spent this budget, its signed transactions are refused
 *             before any recovery is attempted, so a stream of garbage signatures, or of valid
 *             ones from fresh keys, costs the server almost nothing;
 *   invalid, all IPs together: many addresses each within their own budget (a botnet) could
 *             still keep the recovery threads busy, so once this shared budget is spent, every
 *             client IP that sent an invalid signature in the last minute is refused before
 *             recovery too, until the budget refills. Clients that sent none are not affected.
 *
 * Plus a cap on concurrent connections per IP (slow-loris sockets pile up otherwise until the
 * request timeout cuts them). Clients in `exempt` (default: loopback) skip all of these: a local
 * process is trusted, and a reverse proxy in front of the node would otherwise share one budget.
 * A refused request gets RateLimitedError (-32092) and leaves no trace anywhere.
 */
import { RateLimitedError, type RateLimitScope } from './errors.js'

export interface BucketRate {
  /** Tokens added per second. */
  perSecond: number
  /** Bucket size: the most that can be spent at once after a quiet period. */
  burst: number
}

export interface RateLimitOptions {
  /** Requests per client IP. Default 1,000/s, burst 2,000. The burst must cover a full batch. */
  ip?: BucketRate
  /** Signed transactions per signer. Default 100/s, burst 200. */
  signer?: BucketRate
  /** Signatures that recover no signer, per client IP. Default 10/s, burst 50. */
  invalidSignature?: BucketRate
  /** Signatures that recover no signer, all client IPs together. Default 200/s, burst 1,000. */
  invalidSignatureTotal?: BucketRate
  /** Concurrent TCP connections (HTTP and WebSocket) per client IP. Default 128. */
  maxConnectionsPerIp?: number
  /** Client IPs that skip every limit. Default `['127.0.0.1', '::1']`; `[]` limits loopback too. */
  exempt?: readonly string[]
  /** Most keys tracked per limit before idle ones are dropped (bounds memory). Default 100,000. */
  maxKeys?: number
  /** Clock in ms (tests). Default `performance.now`. */
  now?: () => number
}

/**
 * How long a client IP that sent an invalid signature stays suspect for the shared budget (one
 * token per SUSPECT_SECONDS, burst 1: spent by each invalid signature).
 */
const SUSPECT_SECONDS = 60
const ALL_IPS = '*'

/** Requests an upload refused as too large (413) counts for in its IP's budget. */
export const OVERSIZED_COST = 10

export const DEFAULT_RATE_LIMITS = {
  ip: { perSecond: 1_000, burst: 2_000 },
  signer: { perSecond: 100, burst: 200 },
  invalidSignature: { perSecond: 10, burst: 50 },
  invalidSignatureTotal: { perSecond: 200, burst: 1_000 },
  maxConnectionsPerIp: 128,
  exempt: ['127.0.0.1', '::1'],
} as const

interface Bucket {
  tokens: number
  at: number
}

/** Token buckets keyed by string; memory stays bounded by sweeping buckets that refilled. */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()
  readonly #perMs: number

  constructor(
    readonly rate: BucketRate,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {
    if (!(rate.perSecond > 0) || !Number.isFinite(rate.perSecond)) throw new TypeError(`rate limit: perSecond must be a positive number, got ${rate.perSecond}`)
    if (!Number.isSafeInteger(rate.burst) || rate.burst < 1) throw new TypeError(`rate limit: burst must be a positive integer, got ${rate.burst}`)
    this.#perMs = rate.perSecond / 1000
  }

  #refill(key: string, t: number): Bucket {
    let b = this.#buckets.get(key)
    if (!b) {
      if (this.#buckets.size >= this.maxKeys) this.#evict(t)
      b = { tokens: this.rate.burst, at: t }
      this.#buckets.set(key, b)
      return b
    }
    b.tokens = Math.min(this.rate.burst, b.tokens + (t - b.at) * this.#perMs)
    b.at = t
    return b
  }

  /** Spends `cost` tokens and returns 0, or spends nothing and returns the ms until it could. */
  take(key: string, cost = 1): number {
    const t = this.now()
    const b = this.#refill(key, t)
    if (b.tokens >= cost) {
      b.tokens -= cost
      return 0
    }
    return this.#wait(b, cost)
  }

  /** Spends up to `cost` tokens, leaving at least none (for charges that cannot be refused). */
  spend(key: string, cost: number): void {
    const b = this.#refill(key, this.now())
    b.tokens = Math.max(0, b.tokens - cost)
  }

  /** The ms until `cost` tokens are there (0 if now), spending nothing. */
  wait(key: string, cost = 1): number {
    const b = this.#buckets.get(key)
    if (!b) return 0
    const tokens = Math.min(this.rate.burst, b.tokens + (this.now() - b.at) * this.#perMs)
    return tokens >= cost ? 0 : this.#wait({ tokens, at: 0 }, cost)
  }

  #wait(b: Bucket, cost: number): number {
    if (cost > this.rate.burst) return Infinity
    return Math.max(1, Math.ceil((cost - b.tokens) / this.#perMs))
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.#buckets.size
  }

  /** Drops buckets that have refilled (a fresh one is identical), then the oldest if still full. */
  #evict(t: number): void {
    for (const [k, b] of this.#buckets) if (b.tokens + (t - b.at) * this.#perMs >= this.rate.burst) this.#buckets.delete(k)
    // Still full of busy keys: forget the oldest tenth. Those clients get a fresh budget, which
    // the per-IP limit still bounds.
    if (this.#buckets.size >= this.maxKeys) {
      let drop = Math.max(1, Math.floor(this.maxKeys / 10))
      for (const k of this.#buckets.keys()) {
        if (drop-- <= 0) break
        this.#buckets.delete(k)
      }
    }
  }
}

/** Resolved limits; `undefined` members are switched off. */
export class RateLimits {
  readonly ip: TokenBuckets
  readonly signer: TokenBuckets
  readonly invalidSignature: TokenBuckets
  /** One bucket (all IPs) for invalid signatures, and the IPs that sent one lately. */
  readonly invalidSignatureTotal: TokenBuckets
  readonly #suspects: TokenBuckets
  readonly maxConnectionsPerIp: number
  readonly exempt: ReadonlySet<string>
  readonly #connections = new Map<string, number>()

  constructor(o: RateLimitOptions = {}) {
    const maxKeys = o.maxKeys ?? 100_000
    const now = o.now ?? (() => performance.now())
    this.ip = new TokenBuckets(o.ip ?? DEFAULT_RATE_LIMITS.ip, maxKeys, now)
    this.signer = new TokenBuckets(o.signer ?? DEFAULT_RATE_LIMITS.signer, maxKeys, now)
    this.invalidSignature = new TokenBuckets(o.invalidSignature ?? DEFAULT_RATE_LIMITS.invalidSignature, maxKeys, now)
    this.invalidSignatureTotal = new TokenBuckets(o.invalidSignatureTotal ?? DEFAULT_RATE_LIMITS.invalidSignatureTotal, 1, now)
    this.#suspects = new TokenBuckets({ perSecond: 1 / SUSPECT_SECONDS, burst: 1 }, maxKeys, now)
    this.maxConnectionsPerIp = o.maxConnectionsPerIp ?? DEFAULT_RATE_LIMITS.maxConnectionsPerIp
    if (!Number.isSafeInteger(this.maxConnectionsPerIp) || this.maxConnectionsPerIp < 1)
      throw new TypeError(`rate limit: maxConnectionsPerIp must be a positive integer, got ${this.maxConnectionsPerIp}`)
    this.exempt = new Set((o.exempt ?? DEFAULT_RATE_LIMITS.exempt).map(normalizeIp))
  }

  isExempt(ip: string): boolean {
    return this.exempt.has(normalizeIp(ip))
  }

  /** Charges `count` requests to a client IP; throws RateLimitedError when over its budget. */
  chargeRequests(ip: string, count: number): void {
    const key = normalizeIp(ip)
    if (this.exempt.has(key)) return
    const wait = this.ip.take(key, count)
    if (wait) throw limited('ip', key, this.ip, wait, count)
  }

  /**
   * Charges an upload refused as too large against the IP's request budget (never throws: the
   * answer is already 413), so a stream of oversized bodies runs out of budget like any flood.
   */
  chargeOversized(ip: string): void {
    const key = normalizeIp(ip)
    if (!this.exempt.has(key)) this.ip.spend(key, OVERSIZED_COST)
  }

  /** Ms until the IP has budget for one request (0: now), spending nothing; checked before parsing. */
  ipWait(ip: string): number {
    const key = normalizeIp(ip)
    return this.exempt.has(key) ? 0 : this.ip.wait(key, 1)
  }

  /** The error for a client IP with no request budget left at all (spending nothing), else undefined. */
  ipRefusal(ip: string): RateLimitedError | undefined {
    const wait = this.ipWait(ip)
    return wait ? limited('ip', normalizeIp(ip), this.ip, wait, 1) : undefined
  }

  /**
   * Throws if the client IP has used up its invalid-signature budget, or if every client's
   * together is used up and this IP sent an invalid signature lately (before recovery).
   */
  checkInvalidSignatures(ip: string): void {
    const key = normalizeIp(ip)
    if (this.exempt.has(key)) return
    const wait = this.invalidSignature.wait(key, 1)
    if (wait) throw limited('invalidSignature', key, this.invalidSignature, wait, 1)
    const total = this.invalidSignatureTotal.wait(ALL_IPS, 1)
    if (total && this.#suspects.wait(key, 1)) throw limited('invalidSignatureTotal', key, this.invalidSignatureTotal, total, 1)
  }

  /** Counts one signature that recovered no signer against the client IP and the shared budget. */
  noteInvalidSignature(ip: string): void {
    const key = normalizeIp(ip)
    if (this.exempt.has(key)) return
    this.invalidSignature.take(key, 1)
    this.invalidSignatureTotal.spend(ALL_IPS, 1)
    this.#suspects.spend(key, 1)
  }

  /** Charges one signed transaction to its signer; throws RateLimitedError when over budget. */
  chargeSigner(signer: string, ip: string): void {
    if (this.exempt.has(normalizeIp(ip))) return
    const wait = this.signer.take(signer, 1)
    if (wait) throw limited('signer', signer, this.signer, wait, 1)
  }

  /** Registers a new connection; false (and nothing registered) when the IP is at its cap. */
  openConnection(ip: string): boolean {
    const key = normalizeIp(ip)
    if (this.exempt.has(key)) return true
    const n = this.#connections.get(key) ?? 0
    if (n >= this.maxConnectionsPerIp) return false
    this.#connections.set(key, n + 1)
    return true
  }

  closeConnection(ip: string): void {
    const key = normalizeIp(ip)
    const n = this.#connections.get(key)
    if (n === undefined) return
    if (n <= 1) this.#connections.delete(key)
    else this.#connections.set(key, n - 1)
  }

  /** Open connections counted for an IP (tests, status). */
  connections(ip: string): number {
    return this.#connections.get(normalizeIp(ip)) ?? 0
  }
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`. */
export const normalizeIp = (ip: string): string => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip)

function limited(scope: RateLimitScope, key: string, buckets: TokenBuckets, retryAfterMs: number, cost: number): RateLimitedError {
  const after = Number.isFinite(retryAfterMs) ? retryAfterMs : null
  // A flood makes thousands of these a second and their stack is never shown (the RPC server
  // sends code, message and data only): skip capturing it, which was most of their cost.
  const depth = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new RateLimitedError({ scope, key, perSecond: buckets.rate.perSecond, burst: buckets.rate.burst, cost, retryAfterMs: after })
  } finally {
    Error.stackTraceLimit = depth
  }
}
