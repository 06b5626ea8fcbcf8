/**
 * Shared pieces of `npm run bench`: the section interface, the figure store, progress lines and
 * small timing helpers. Every figure is recorded with its unit and, where it has one, the ratio
 * to a reference measured in the same run (see bench/main.ts).
 */

export interface Figure {
  /** Flat JSON key, e.g. `sequencer_orders_per_s`. */
  key: string
  value: number
  unit: string
  /** What the ratio column compares against (a key of another figure), if anything. */
  reference?: string
  /** value / reference value, computed when the figure is recorded. */
  ratio?: number
  note?: string
}

export interface BenchOptions {
  quick: boolean
  only?: string[]
  json?: string
  /** Trace sizes (VM steps) of the dispute section; default 1e6,1e7,1e8 (--quick: 1e6,1e7). */
  disputeSizes?: number[]
}

export interface BenchContext {
  readonly opts: BenchOptions
  /** Records a figure; `reference` names an earlier figure of this run. */
  figure(f: Omit<Figure, 'ratio'>): Figure
  /** A figure recorded earlier in this run, if any. */
  get(key: string): number | undefined
  /** Runs another section first unless it already ran (used for same-run references). */
  ensure(section: string): Promise<void>
  /** Prints a progress line prefixed with the section name and the elapsed time. */
  progress(line: string): void
}

export interface BenchSection {
  name: string
  /** One line for `--help` and the docs. */
  description: string
  run(ctx: BenchContext): Promise<void>
}

export const now = () => performance.now()

/** Runs `f` repeatedly for at least `ms` milliseconds (in chunks of `chunk` calls); returns calls/s. */
export function rate(ms: number, chunk: number, f: (i: number) => void): { perSecond: number; calls: number; elapsedMs: number } {
  let calls = 0
  const start = now()
  let elapsed = 0
  do {
    for (let j = 0; j < chunk; j++) f(calls++)
    elapsed = now() - start
  } while (elapsed < ms)
  return { perSecond: (calls / elapsed) * 1000, calls, elapsedMs: elapsed }
}

/** Async variant of {@link rate} for functions that return promises (awaited one at a time). */
export async function rateAsync(ms: number, f: (i: number) => Promise<unknown>): Promise<{ perSecond: number; calls: number; elapsedMs: number }> {
  let calls = 0
  const start = now()
  let elapsed = 0
  do {
    await f(calls++)
    elapsed = now() - start
  } while (elapsed < ms)
  return { perSecond: (calls / elapsed) * 1000, calls, elapsedMs: elapsed }
}

/** The q-quantile (0..1) of `xs` (sorted in place), nearest-rank. */
export function quantile(xs: number[] | Float64Array, q: number): number {
  if (xs.length === 0) return NaN
  xs.sort((a, b) => a - b)
  const i = Math.min(xs.length - 1, Math.max(0, Math.ceil(q * xs.length) - 1))
  return xs[i]!
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Formats a number for the table: integers with thousands separators, small values with 2-3 significant decimals. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (Number.isInteger(v) || a >= 1000) return Math.round(v).toLocaleString('en-US')
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  return v.toPrecision(3)
}

/** Deterministic bench private keys (never anvil's, so they start with nothing). */
export function benchKey(tag: string, i: number): `0x${string}` {
  // 32 bytes: a tag hash would need keccak; a fixed pattern keeps keys valid (< n) and distinct.
  const tagCode = [...tag].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
  return `0x${'b0'.repeat(8)}${tagCode.toString(16).padStart(8, '0')}${(i + 1).toString(16).padStart(40, '0')}` as `0x${string}`
}
