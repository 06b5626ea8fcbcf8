/**
 * Trace work for disputes (prover/dispute): a task built from a real engine state and real signed
 * batches, re-executed on the VM; its end equals the native engine's state root; the task survives
 * its wire encoding; BullMQ workers on a real Redis return exactly the hashes a local trace
 * computes, for points inside the trace and far past its end (the padding).
 */
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { bytesToHex } from 'viem'
import { ensureRedis, type RedisHandle } from '../cli/redis.js'
import { buildEngine } from '../executor/engine/build.js'
import { NativeEngine, engineWasmPath } from '../executor/engine/host.js'
import { loadEngineProgram } from '../executor/vm/engine.js'
import type { Program } from '../executor/vm/program.js'
import { AssertionTrace } from '../prover/dispute/assertionTrace.js'
import { bisectionPoints, firstDisagreement, roundsFor } from '../prover/dispute/segments.js'
import { TraceQueue, TraceWorker } from '../prover/dispute/traceQueue.js'
import { type TraceTask, decodeTraceTask, encodeTraceTask } from '../prover/dispute/traceTask.js'
import { type Workload, buildSignedWorkload } from '../bench/workload.js'

describe('dispute trace work', function () {
  this.timeout(300_000)
  let program: Program
  let w: Workload
  let task: TraceTask
  let redis: RedisHandle

  before(async () => {
    await buildEngine()
    const wasm = new Uint8Array(readFileSync(engineWasmPath()))
    program = loadEngineProgram(wasm)
    w = await buildSignedWorkload({ batches: 2, itemsPerBatch: 30 })
    const native = await NativeEngine.load({ delayed: (i) => w.delayed[Number(i)]!, wasm })
    native.init(w.genesis)
    native.runBatch(w.setup)
    task = {
      moduleRoot: native.moduleRoot,
      inboxPosition: 1n,
      batchLimit: 1n + BigInt(w.batches.length),
      memory: new Uint8Array(native.memory.buffer).slice(),
      globals: native.globals(),
      messages: w.batches,
      delayed: w.delayed.map((bytes, i) => ({ index: BigInt(i), bytes })),
    }
    redis = await ensureRedis()
  })
  after(async () => { await redis?.stop() })

  it('re-executes the batches on the VM to the native state root, then stays there', () => {
    const t = new AssertionTrace(program, task, 1 << 14)
    const n = t.length()
    expect(Number(n)).to.be.greaterThan(10_000)
    expect(t.hashAt(n)).to.equal(w.finalRoot)
    expect(t.hashAt(n - 1n)).to.not.equal(w.finalRoot)
    expect(t.hashAt(n + 1n)).to.equal(w.finalRoot)
    expect(t.hashAt(1n << 40n)).to.equal(w.finalRoot)
    expect(t.hashAt(0n)).to.not.equal(t.hashAt(1n))
  })

  it('round-trips the task encoding; the key names the content', () => {
    const a = encodeTraceTask(task)
    const back = decodeTraceTask(a.bytes)
    expect(encodeTraceTask(back).key).to.equal(a.key)
    expect(back.globals).to.deep.equal(task.globals)
    expect(bytesToHex(back.messages[1]!)).to.equal(bytesToHex(task.messages[1]!))
    const other = encodeTraceTask({ ...task, batchLimit: task.batchLimit - 1n, messages: task.messages.slice(0, -1) })
    expect(other.key).to.not.equal(a.key)
    expect(() => encodeTraceTask({ ...task, messages: task.messages.slice(1) })).to.throw(/needs 2 batch messages/)
  })

  it('refuses a task for another engine module, naming the fix', () => {
    expect(() => new AssertionTrace(program, { ...task, moduleRoot: `0x${'11'.repeat(32)}` })).to.throw(/npm run build/)
  })

  it('BullMQ workers return the hashes a local trace computes, past the end included', async () => {
    const local = new AssertionTrace(program, task)
    const n = local.length()
    const points = [...bisectionPoints(0n, n + 1000n, 16n), (1n << 33n) + 7n]
    const queue = new TraceQueue({ redisUrl: redis.url, parallelism: 3 })
    const workers = [0, 1].map((i) => new TraceWorker({ redisUrl: redis.url, program, name: `test-worker-${i}` }))
    try {
      const key = await queue.put(task)
      const progress: number[] = []
      const got = await queue.hashes(key, points, (done) => progress.push(done))
      expect(got).to.deep.equal(points.map((p) => local.hashAt(p)))
      expect(progress[progress.length - 1]).to.equal(points.length)
      expect(got[got.length - 1]).to.equal(w.finalRoot)
    } finally {
      await queue.close()
      await Promise.all(workers.map((x) => x.close()))
    }
  })

  it('segments: points, disagreement and rounds', () => {
    expect(bisectionPoints(0n, 10n, 4n)).to.deep.equal([0n, 2n, 5n, 7n, 10n])
    expect(bisectionPoints(5n, 3n, 16n)).to.deep.equal([5n, 6n, 7n, 8n])
    expect(roundsFor(1n << 32n, 16n)).to.equal(8)
    expect(roundsFor(10_000_000n, 16n)).to.equal(6)
    expect(roundsFor(1n, 16n)).to.equal(0)
    const h = (x: number) => `0x${x.toString(16).padStart(64, '0')}` as const
    expect(firstDisagreement([h(1), h(2), h(3)], [h(1), h(2), h(4)])).to.equal(1)
    expect(() => firstDisagreement([h(1), h(2)], [h(1), h(2)])).to.throw(/nothing to dispute/)
  })
})
