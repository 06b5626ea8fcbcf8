/**
 * A service's polling loop: run one round, wait, run the next, until stopped. A failed round is
 * reported and retried on the next tick (L1 and Redis may be briefly unreachable), and `stop`
 * waits for the round in flight, so a service never stops halfway through writing.
 */
export class PollLoop {
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private stopped = false

  constructor(
    private readonly round: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (e: Error) => void,
  ) {}

  start(): void {
    this.stopped = false
    const tick = async () => {
      if (this.stopped) return
      this.running = this.round().then(() => undefined, (e: Error) => this.onError(e))
      await this.running
      if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs)
    }
    void tick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }
}
