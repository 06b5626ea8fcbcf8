/** A private devnet per test file: real anvil, real Redis, real SQLite files in a temp dir. */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startDevnet, type Devnet, type DevnetOptions } from '../../cli/devnet.js'

export const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), `veridex-${prefix}-`))

export async function testDevnet(o: DevnetOptions = {}): Promise<Devnet> {
  const lines: string[] = []
  return startDevnet({
    port: 0,
    writeState: false,
    challengePeriodSeconds: 2,
    batchMaxAgeMs: 300,
    dataDir: tempDir('devnet'),
    log: (l) => {
      lines.push(l)
      if (process.env.VERIDEX_TEST_LOG) console.log(l)
    },
    ...o,
  })
}

/** Polls `f` until it returns something other than undefined. */
export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
