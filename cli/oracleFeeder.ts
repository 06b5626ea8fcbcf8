/**
 * The devnet's oracle: publishes a price for every perpetual through the sequencer's public API
 * every few seconds, so the index stays fresh (maxOracleAgeSeconds), funding samples premiums
 * and the liquidation keeper sees price moves. Prices follow a small deterministic random walk
 * (a seeded xorshift, at most ±`stepPpm` a tick, snapped to the market's tick size), so two runs
 * of the devnet publish the same sequence.
 */
import type { LocalAccount } from 'viem'
import { VeridexClient, VeridexRpcError } from '../sdk/client.js'
import { MarketKind, type MarketConfig } from '../sdk/protocol.js'

export interface OracleFeederOptions {
  client: VeridexClient
  oracle: LocalAccount
  markets: MarketConfig[]
  /** Starting price per market id (collateral quantums per whole unit). */
  opening: Record<number, bigint>
  intervalMs: number
  /** Largest move per update, parts per million (default 500 = 0.05%; 0 = constant prices). */
  stepPpm?: number
  seed?: number
  log?: (line: string) => void
}

export class OracleFeeder {
  readonly prices = new Map<number, bigint>()
  private state: number
  private timer?: NodeJS.Timeout
  private busy?: Promise<void>
  private lastTimestamp = 0n
  published = 0

  constructor(private readonly o: OracleFeederOptions) {
    this.state = (o.seed ?? 0x5eed) >>> 0 || 1
    for (const m of o.markets) if ((m.kind ?? MarketKind.PERPETUAL) === MarketKind.PERPETUAL && o.opening[m.id]) this.prices.set(m.id, o.opening[m.id]!)
  }

  private random(): number {
    // xorshift32
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state / 0x1_0000_0000
  }

  /** Publishes the current prices once (the opening prices on the first call), then moves them. */
  async publish(): Promise<void> {
    // Oracle timestamps must rise per key and stay within maxOracleAge of the batch clock.
    let ts = BigInt(Math.floor(Date.now() / 1000))
    if (ts <= this.lastTimestamp) ts = this.lastTimestamp + 1n
    this.lastTimestamp = ts
    for (const m of this.o.markets) {
      const price = this.prices.get(m.id)
      if (price === undefined) continue
      try {
        await this.o.client.submitOraclePrice(this.o.oracle, { market: m.id, price, timestamp: ts })
        this.published++
      } catch (e) {
        this.o.log?.(`oracle feeder: ${m.symbol} at ${price} refused: ${e instanceof VeridexRpcError ? `${e.code} ${e.message}` : (e as Error).message}`)
      }
      const step = this.o.stepPpm ?? 500
      const moved = price + (price * BigInt(Math.round((this.random() * 2 - 1) * step))) / 1_000_000n
      const snapped = (moved / m.tickSize) * m.tickSize
      this.prices.set(m.id, snapped > 0n && snapped <= m.maxPrice ? snapped : price)
    }
  }

  start(): this {
    this.timer = setInterval(() => {
      if (!this.busy) this.busy = this.publish().finally(() => (this.busy = undefined))
    }, this.o.intervalMs)
    return this
  }

  async stop() {
    clearInterval(this.timer)
    await this.busy
  }
}
