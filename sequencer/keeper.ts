/**
 * The liquidation keeper: whenever something may have pushed accounts under maintenance margin
 * (an accepted oracle price, an ADMIN market change, funding at a batch close), it asks the engine
 * which accounts are liquidatable and executes LIQUIDATE for each through the sequencer's normal
 * path, so every liquidation is journaled, batched, posted and replayed like any transaction.
 *
 * LIQUIDATE is permissionless: anyone may send it through L1 too. The keeper only makes sure the
 * sequencer does it promptly; the engine decides whether an account really is liquidatable.
 */
import type { Address } from 'viem'
import { ResultCode, resultCodeName } from '../sdk/protocol.js'
import type { Sequencer } from './sequencer.js'

export interface KeeperStats {
  /** Sweeps run (each asks the engine once, and again while liquidations keep succeeding). */
  sweeps: number
  liquidations: number
  /** LIQUIDATE items the engine refused (e.g. a stale index), by result code name. */
  refused: Record<string, number>
  lastLiquidation?: { account: Address; batch: number }
}

export interface KeeperOptions {
  log?: (line: string) => void
  /** Most LIQUIDATE items per sweep round (a sweep repeats rounds while some succeed). */
  maxPerRound?: number
}

export class LiquidationKeeper {
  readonly stats: KeeperStats = { sweeps: 0, liquidations: 0, refused: {} }
  private running?: Promise<void>
  private again = false
  private stopped = false
  private readonly log: (line: string) => void
  private readonly maxPerRound: number
  private readonly onAccepted = (a: { tx: { kind: string } }) => {
    if (a.tx.kind === 'OraclePrice' || a.tx.kind === 'AdminAction') this.schedule()
  }
  private readonly onBatchClosed = () => this.schedule()

  constructor(private readonly seq: Sequencer, o: KeeperOptions = {}) {
    this.log = o.log ?? (() => {})
    this.maxPerRound = o.maxPerRound ?? 256
  }

  start(): this {
    this.seq.on('accepted', this.onAccepted)
    this.seq.on('batchClosed', this.onBatchClosed)
    return this
  }

  async stop() {
    this.stopped = true
    this.seq.off('accepted', this.onAccepted)
    this.seq.off('batchClosed', this.onBatchClosed)
    await this.running
  }

  /**
   * Runs a sweep soon (never inside the caller's stack: batchClosed can fire in the middle of a
   * submit). A request during a sweep runs one more sweep after it.
   */
  schedule() {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop()).finally(() => {
      this.running = undefined
    })
  }

  /** Sweeps now and resolves when done (tests, and callers that want the result). */
  async sweepNow(): Promise<Address[]> {
    await this.running
    return this.sweep()
  }

  private async loop() {
    do {
      this.again = false
      try {
        await this.sweep()
      } catch (e) {
        this.log(`keeper: sweep failed: ${(e as Error).message}`)
      }
    } while (this.again && !this.stopped)
  }

  private async sweep(): Promise<Address[]> {
    this.stats.sweeps++
    const done: Address[] = []
    const refusedNow = new Set<Address>()
    // A liquidation that could not close everything (deleveraging visits at most 16 holders)
    // leaves the account liquidatable: the next round continues it. The bound keeps a sweep short.
    for (let round = 0; round < 16; round++) {
      // Each liquidation changes the book and other accounts' equity: ask again after each round.
      const candidates = this.seq.engine.liquidatable().filter((a) => !refusedNow.has(a)).slice(0, this.maxPerRound)
      if (candidates.length === 0 || this.stopped) return done
      const waits: Promise<unknown>[] = []
      for (const account of candidates) {
        // execution is synchronous inside liquidate(); only durability is awaited
        waits.push(this.seq.liquidate(account).then(({ result, batch }) => {
          if (result.code === ResultCode.OK) {
            this.stats.liquidations++
            this.stats.lastLiquidation = { account, batch: batch! }
            done.push(account)
            this.log(`keeper: liquidated ${account} in batch ${batch}`)
          } else {
            const name = resultCodeName(result.code)
            this.stats.refused[name] = (this.stats.refused[name] ?? 0) + 1
            refusedNow.add(account)
          }
        }))
      }
      await Promise.all(waits)
    }
    return done
  }
}
