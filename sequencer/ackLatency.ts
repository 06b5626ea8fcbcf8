/**
 * Acknowledgement latency inside the sequencer: from `submit` to the reply being released (signer
 * recovered, executed, committed). It leaves out HTTP parsing and the socket write, and time a
 * request waited in the kernel before the event loop read it. Comparing it with what clients see
 * tells whether a slow tail comes from the pipeline or from outside it (a busy machine, the
 * network). Wall-clock readings for operators only: nothing here feeds the engine or the journal.
 */

/** Bucket width, ms; readings are reported as the upper edge of their bucket. */
const BUCKET_MS = 0.1
/** Buckets up to 1 s; slower readings share the last one (and `maxMs` keeps the worst). */
const BUCKETS = 10_000
/** Readings are kept for the current and the previous window of this length. */
const WINDOW_MS = 60_000

export interface LatencySummary {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** Counts per bucket, with the count and the largest reading. */
export class LatencyHistogram {
  readonly buckets = new Uint32Array(BUCKETS)
  count = 0
  maxMs = 0

  record(ms: number) {
    const i = Math.min(BUCKETS - 1, Math.max(0, Math.floor(ms / BUCKET_MS)))
    this.buckets[i]!++
    this.count++
    if (ms > this.maxMs) this.maxMs = ms
  }

  copy(): LatencyHistogram {
    const h = new LatencyHistogram()
    h.buckets.set(this.buckets)
    h.count = this.count
    h.maxMs = this.maxMs
    return h
  }

  /** Readings recorded since `earlier` (a copy of this histogram); `maxMs` is then this one's. */
  since(earlier: LatencyHistogram): LatencyHistogram {
    const h = new LatencyHistogram()
    for (let i = 0; i < BUCKETS; i++) h.buckets[i] = this.buckets[i]! - earlier.buckets[i]!
    h.count = this.count - earlier.count
    h.maxMs = this.maxMs
    return h
  }

  add(other: LatencyHistogram): LatencyHistogram {
    const h = this.copy()
    for (let i = 0; i < BUCKETS; i++) h.buckets[i]! += other.buckets[i]!
    h.count += other.count
    h.maxMs = Math.max(h.maxMs, other.maxMs)
    return h
  }

  /** The upper edge of the bucket holding the q-quantile reading, at most the largest reading (0 when empty). */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.buckets[i]!
      if (seen >= rank) return i === BUCKETS - 1 ? this.maxMs : Math.min((i + 1) * BUCKET_MS, this.maxMs)
    }
    return this.maxMs
  }

  /** Quantiles and the maximum, rounded alike to the bucket width (so p99 never shows above max). */
  summary(): LatencySummary {
    const r = (ms: number) => Number(ms.toFixed(1))
    return { count: this.count, p50Ms: r(this.quantile(0.5)), p99Ms: r(this.quantile(0.99)), maxMs: r(this.maxMs) }
  }
}

/**
 * The sequencer's acknowledgement latencies: since start (`total`, for benchmarks that take
 * differences) and over the last one to two minutes (`recent()`, for vdx_getStatus).
 */
export class AckLatency {
  readonly total = new LatencyHistogram()
  /** Since start, the part of each reading spent until the signer was known and the turn came (recovery, arrival order). */
  readonly toAdmission = new LatencyHistogram()
  /** Since start, the part spent after execution, waiting for the group commit. */
  readonly toDurable = new LatencyHistogram()
  private current = new LatencyHistogram()
  private previous = new LatencyHistogram()
  private windowStart: number

  constructor(private readonly now: () => number = () => performance.now()) {
    this.windowStart = now()
  }

  /** @param ms submit to durable reply; `admissionMs` and `durableMs` its first and last part */
  record(ms: number, admissionMs?: number, durableMs?: number) {
    this.roll()
    this.total.record(ms)
    this.current.record(ms)
    if (admissionMs !== undefined) this.toAdmission.record(admissionMs)
    if (durableMs !== undefined) this.toDurable.record(durableMs)
  }

  /** Readings of the current and the previous minute. */
  recent(): LatencySummary {
    this.roll()
    return this.current.add(this.previous).summary()
  }

  private roll() {
    const t = this.now()
    if (t - this.windowStart < WINDOW_MS) return
    // Two windows or more without a reading leave nothing recent.
    this.previous = t - this.windowStart >= 2 * WINDOW_MS ? new LatencyHistogram() : this.current
    this.current = new LatencyHistogram()
    this.windowStart = t
  }
}
