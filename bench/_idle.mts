import { startDevnet } from '../cli/devnet.ts'
import { readFileSync, readdirSync } from 'node:fs'
const dn = await startDevnet({ port: 0, writeState: false, dataDir: '/tmp/exp/idle-data', batchMaxAgeMs: 1000, log: () => {} })
const tick = () => {
  const out: Record<string, number> = {}
  for (const t of readdirSync(`/proc/${process.pid}/task`)) {
    const comm = readFileSync(`/proc/${process.pid}/task/${t}/comm`, 'utf8').trim()
    const run = Number(readFileSync(`/proc/${process.pid}/task/${t}/schedstat`, 'utf8').split(' ')[0])
    out[`${t}:${comm}`] = run
  }
  return out
}
await new Promise(r => setTimeout(r, 5000))
const a = tick(); const t0 = Date.now()
await new Promise(r => setTimeout(r, 10000))
const b = tick(); const dt = (Date.now() - t0) * 1e6
for (const k of Object.keys(b)) { const d = (b[k] - (a[k] ?? 0)) / dt; if (d > 0.002) console.log(k, d.toFixed(3)) }
await dn.stop?.()
process.exit(0)
