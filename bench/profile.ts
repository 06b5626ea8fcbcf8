/**
 * A sampling CPU profile of this process (node:inspector) around some work, summarised by self
 * time per function and per area of the code, so a bench can say where the time goes.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }

/** Areas of the code, first match wins (matched against the frame's url, then its name). */
const AREAS: [string, RegExp][] = [
  ['engine.wasm (native WebAssembly)', /^wasm:/],
  // V8 names native-addon time after one function template of the addon (publicKeyVerify here),
  // whichever binding function actually ran (ecdsaRecover in this process).
  ['secp256k1 binding (ecrecover)', /secp256k1|^(publicKeyVerify|Secp256k1Addon|ecdsaRecover)$/],
  ['hash-wasm keccak', /hash-wasm/],
  ['viem / noble (EIP-712 hashing, getAddress)', /\/(viem|@noble|ox|abitype)\//],
  ['better-sqlite3 (journal, verifier db)', /better-sqlite3|^(run|get|all|exec|transaction)$/],
  ['bullmq / ioredis (poster)', /\/(bullmq|ioredis|msgpackr|cron-parser|luxon)\//],
  ['ws (WebSocket)', /\/node_modules\/ws\//],
  ['sequencer/rpc (JSON-RPC server)', /\/sequencer\/rpc\//],
  ['sequencer core, validation, api', /\/sequencer\//],
  ['executor (host, verifier, state root, inbox reader)', /\/executor\//],
  ['sdk/protocol', /\/sdk\//],
  ['node http/net/streams', /^node:(internal\/)?(_http|http|net|stream|internal\/streams|internal\/http|events|buffer|internal\/stream_base)/],
  ['other node internals', /^node:/],
  ['garbage collector', /^\(garbage collector\)$/],
  ['idle', /^\((idle|program)\)$/],
]

export interface ProfileSummary {
  totalMs: number
  areas: { area: string; ms: number; share: number }[]
  top: { frame: string; ms: number; share: number }[]
  /**
   * The longest stretches in which the thread never went idle (a request arriving then waits at
   * least that long), each with the areas its samples fell in: where the latency tail comes from.
   */
  busiest: { ms: number; areas: { area: string; share: number }[] }[]
}

/** Busy stretches at least this long are reported (ProfileSummary.busiest). */
const BUSY_STRETCH_MS = 10

export async function profiled<T>(work: () => Promise<T>, intervalUs = 500): Promise<{ result: T; summary: ProfileSummary }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs })
  await session.post('Profiler.start')
  // BENCH_HEAPPROFILE=file.heapprofile: also where the allocations come from (every one sampled,
  // collected or not: garbage is what costs here), for Chrome DevTools' memory tab. With
  // BENCH_HEAPPROFILE_PROMOTED=1, only those that outlived the young generation: what each
  // scavenge copies and promotes, the length of its pause.
  const promotedOnly = process.env.BENCH_HEAPPROFILE_PROMOTED === '1'
  if (process.env.BENCH_HEAPPROFILE) await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !promotedOnly } as never)
  type Profile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }
  const stop = async () => {
    if (process.env.BENCH_HEAPPROFILE) {
      const h = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: unknown }
      writeFileSync(process.env.BENCH_HEAPPROFILE, JSON.stringify(h.profile))
    }
    const r = (await session.post('Profiler.stop')) as unknown as { profile: Profile }
    session.disconnect()
    return r.profile
  }
  let result: T
  try {
    result = await work()
  } catch (e) {
    await stop()
    throw e
  }
  const profile = await stop()
  // For a closer look (callers, not just self time): BENCH_CPUPROFILE=file.cpuprofile, opens in Chrome DevTools.
  if (process.env.BENCH_CPUPROFILE) writeFileSync(process.env.BENCH_CPUPROFILE, JSON.stringify(profile))
  const totalMs = (profile.endTime - profile.startTime) / 1000
  const perSample = totalMs / Math.max(1, profile.samples.length)
  const areas = new Map<string, number>()
  const frames = new Map<string, number>()
  const areaOf = new Map<number, string>()
  for (const n of profile.nodes) {
    const { functionName, url } = n.callFrame
    const name = functionName || '(anonymous)'
    const area = AREAS.find(([, re]) => re.test(url) || (!url && re.test(name)))?.[0] ?? (url ? 'other JS' : 'native / unattributed')
    areaOf.set(n.id, area)
    const ms = (n.hitCount ?? 0) * perSample
    if (!ms) continue
    areas.set(area, (areas.get(area) ?? 0) + ms)
    const short = url ? `${name} ${url.replace(/^.*\/(node_modules\/)?/, '').replace(/^file:\/\//, '')}:${n.callFrame.lineNumber + 1}` : name
    frames.set(short, (frames.get(short) ?? 0) + ms)
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1])
  // Stretches of consecutive non-idle samples (sample i ends timeDeltas[i] µs after sample i-1).
  const stretches: { ms: number; areas: Map<string, number>; n: number }[] = []
  let open: (typeof stretches)[number] | undefined
  profile.samples.forEach((id, i) => {
    const area = areaOf.get(id) ?? 'native / unattributed'
    if (area === 'idle') {
      if (open && open.ms >= BUSY_STRETCH_MS) stretches.push(open)
      open = undefined
      return
    }
    open ??= { ms: 0, areas: new Map(), n: 0 }
    open.ms += (profile.timeDeltas[i] ?? 0) / 1000
    open.n++
    open.areas.set(area, (open.areas.get(area) ?? 0) + 1)
  })
  if (open && open.ms >= BUSY_STRETCH_MS) stretches.push(open)
  const busiest = stretches
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 8)
    .map((b) => ({ ms: b.ms, areas: sorted(b.areas).slice(0, 4).map(([area, c]) => ({ area, share: c / b.n })) }))
  return {
    result: result!,
    summary: {
      totalMs,
      areas: sorted(areas).map(([area, ms]) => ({ area, ms, share: ms / totalMs })),
      top: sorted(frames).slice(0, 15).map(([frame, ms]) => ({ frame, ms, share: ms / totalMs })),
      busiest,
    },
  }
}
