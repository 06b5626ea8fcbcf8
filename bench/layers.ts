/**
 * `layers`: the sequencer's request path built up one layer at a time, each loaded by the same
 * clients as the `sequencer` section (bench/loadClient.ts: 2 processes, 128 accounts each, a
 * closed loop over kept-alive HTTP/1.1, one pre-signed order per request), so each layer's cost
 * on this machine is the drop in rate from the one below it:
 *
 *   http       node:http, JSON.parse of the body, a reply the size of vdx_placeOrder's
 *   recovery   + the order decoded (parseSignedParams, encodeItem) and its signer recovered on the
 *              RecoveryPool, one thread per core, as the node does
 *   sequencer  + Sequencer.submit configured as the node's (recovery pool, root and journal
 *              threads; the reply waits for its group commit): ordering, engine, journal
 *   rpc        the node's JSON-RPC server and API (sequencer/rpc/server.ts, sequencer/api.ts, the
 *              default rate limits) in front of the same Sequencer
 *
 * None has L1: the full node (batches posted to anvil, the proposer, the node's own verifier) is
 * the `sequencer` section's `sequencer_orders_per_s`. Every layer starts from fresh accounts
 * (nonce 0) and runs in this process, on the two cores the clients share.
 */
import { availableParallelism } from 'node:os'
import http from 'node:http'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { hexToBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { BTC_PERP, DEFAULT_L2_CHAIN_ID, devnetGenesis } from '../cli/config.js'
import { ASSET_COLLATERAL, DELAYED_DEPOSIT, type TxMessage, encodeDelayedMessage, encodeDepositPayload, encodeItem } from '../sdk/protocol.js'
import { sequencerApi, TOPICS } from '../sequencer/api.js'
import { RecoveryPool } from '../sequencer/recoveryPool.js'
import { RateLimits } from '../sequencer/rpc/rateLimit.js'
import { RpcServer } from '../sequencer/rpc/server.js'
import { Sequencer } from '../sequencer/sequencer.js'
import { parseSignedParams } from '../sequencer/validate.js'
import { tempDir } from '../test/helpers/devnet.js'
import type { PhaseResult } from './loadClient.js'
import { type BenchSection, benchKey, sleep } from './lib.js'
import { LoadClient } from './sequencer.js'
import { FastSigner } from './signer.js'

const CLIENTS = 2
const ACCOUNTS_PER_CLIENT = 128
const BRIDGE = '0x00000000000000000000000000000000b1d6e000'

type Layer = 'http' | 'recovery' | 'sequencer' | 'rpc'
const LAYERS: { name: Layer; what: string }[] = [
  { name: 'http', what: 'node:http + JSON.parse + a JSON reply' },
  { name: 'recovery', what: '+ order decoding and signer recovery on the pool' },
  { name: 'sequencer', what: '+ Sequencer.submit as the node runs it (engine, journal commit), no L1' },
  { name: 'rpc', what: 'the node\'s JSON-RPC server and API in front of that Sequencer' },
]

/** A reply shaped like vdx_placeOrder's, for the layers that do not build one. */
const reply = (id: unknown, signer: string) =>
  JSON.stringify({ jsonrpc: '2.0', id, result: { status: 'accepted', signer, batch: 1, orderId: '1', filledSize: '0', remaining: '3', fills: [] } })

/** What one layer serves: a URL and how to stop it. */
interface Served { url: string; stop(): Promise<void> }

async function serve(layer: Layer, keys: `0x${string}`[], dir: string): Promise<Served> {
  if (layer === 'rpc' || layer === 'sequencer') {
    const oracleKey = benchKey('layers-oracle', 0)
    const seq = await Sequencer.open({
      journalPath: path.join(dir, `${layer}.sqlite`),
      genesis: devnetGenesis(privateKeyToAccount(oracleKey).address),
      recoveryThreads: availableParallelism(),
      rootThread: true,
      journalThread: true,
    })
    seq.addDelayed(keys.map((k, index) => ({
      index,
      bytes: encodeDelayedMessage({ kind: DELAYED_DEPOSIT, sender: BRIDGE, timestamp: 0n, payload: encodeDepositPayload(privateKeyToAccount(k).address, ASSET_COLLATERAL, 5_000_000_000n) }),
    })))
    const oracle: TxMessage = { kind: 'OraclePrice', message: { market: BTC_PERP.id, price: 60_000n * 1_000_000n, timestamp: BigInt(Math.floor(Date.now() / 1000)) } }
    await seq.submit(oracle, new FastSigner(DEFAULT_L2_CHAIN_ID).sign(hexToBytes(oracleKey), oracle))
    // batches close by age and size as in the node (cli/node.ts ticks the sequencer the same way)
    const ticker = setInterval(() => seq.tick(), 250)
    const close = async () => {
      clearInterval(ticker)
      seq.close()
      await sleep(300) // its threads exit before the next layer starts
    }
    if (layer === 'rpc') {
      const rateLimits = new RateLimits({})
      const server = new RpcServer(sequencerApi(seq, () => ({}), {}, { rateLimits }), { rateLimits, host: '127.0.0.1', port: 0, topics: [...TOPICS] })
      const { url } = await server.listen()
      return { url, stop: async () => { await server.close(); await close() } }
    }
    return listen(async (body) => {
      const { tx, signature } = parseSignedParams(body.method === 'vdx_cancelAll' ? 'CancelAll' : 'Order', body.params)
      try {
        return reply(body.id, (await seq.submit(tx, signature)).signer)
      } catch (e) {
        return JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: -32000, message: `REJECTED: ${(e as Error).message}` } })
      }
    }, close)
  }
  if (layer === 'recovery') {
    const pool = new RecoveryPool({ chainId: DEFAULT_L2_CHAIN_ID, threads: availableParallelism() })
    await pool.ready()
    return listen(async (body) => {
      const { tx, signature } = parseSignedParams(body.method === 'vdx_cancelAll' ? 'CancelAll' : 'Order', body.params)
      const r = await pool.recover(encodeItem(tx, signature))
      return reply(body.id, r?.signer ?? 'none')
    }, () => pool.close())
  }
  return listen(async (body) => reply(body.id, 'none'), async () => {})
}

/** A bare node:http server answering each POST body with `answer(JSON.parse(body))`. */
async function listen(answer: (body: { id: unknown; method: string; params: unknown }) => Promise<string>, onStop: () => Promise<void>): Promise<Served> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      // a failure is answered, and the load client counts it: the layer's figure is then refused
      const failed = (e: unknown) => JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: `FAILED: ${(e as Error).message}` } })
      void Promise.resolve()
        .then(() => answer(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
        .catch(failed)
        .then((out) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
          res.end(out)
        })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await onStop()
    },
  }
}

export const layersSection: BenchSection = {
  name: 'layers',
  description: 'the request path one layer at a time (bare HTTP, + signature recovery, + the Sequencer, + the JSON-RPC server and API), same clients as `sequencer`: what each layer costs',
  async run(ctx) {
    await ctx.ensure('sig')
    const C = ctx.opts.quick ? { warmMs: 1_000, runMs: 3_000 } : { warmMs: 3_000, runMs: 10_000 }
    const keys = Array.from({ length: CLIENTS * ACCOUNTS_PER_CLIENT }, (_, i) => benchKey('layers', i))
    const dir = tempDir('bench-layers')
    const clients = Array.from({ length: CLIENTS }, () => LoadClient.start())
    let below: number | undefined
    try {
      for (const { name, what } of LAYERS) {
        const served = await serve(name, keys, dir)
        try {
          // fresh accounts per layer: a new Sequencer expects nonce 0
          await Promise.all(clients.map((c, k) => c.request({ type: 'init', url: served.url, wsUrl: served.url, chainId: DEFAULT_L2_CHAIN_ID, keys: keys.slice(k * ACCOUNTS_PER_CLIENT, (k + 1) * ACCOUNTS_PER_CLIENT), seed: 2000 + k })))
          // enough signed orders for 20,000 /s through the warm-up and the measured loop
          const perAccount = Math.ceil((20_000 * (C.warmMs + C.runMs)) / 1000 / keys.length)
          await Promise.all(clients.map((c) => c.request({ type: 'prepare', perAccount })))
          const run = async (ms: number) => {
            const cpu0 = process.cpuUsage()
            const startAt = Date.now() + 200
            const results = await Promise.all(clients.map((c) => c.request<PhaseResult>({ type: 'run', mode: 'closed', transport: 'http', durationMs: ms, startAt })))
            const cpu = process.cpuUsage(cpu0)
            const errors: Record<string, number> = {}
            for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
            if (Object.keys(errors).length) throw new Error(`layer ${name}: requests failed: ${JSON.stringify(errors)}`)
            return {
              rate: (results.reduce((a, r) => a + r.acceptedInWindow, 0) / ms) * 1000,
              serverCores: (cpu.user + cpu.system) / 1000 / ms,
              clientCores: results.reduce((a, r) => a + r.cpuMs, 0) / ms,
            }
          }
          await run(C.warmMs)
          const m = await run(C.runMs)
          // 1/rate: the machine's wall time per order, its two cores shared by server and clients
          const per = (r: number) => 1e6 / r
          ctx.progress(`${name} (${what}): ${Math.round(m.rate)} orders/s, ${per(m.rate).toFixed(0)} µs per order${below ? ` (${(per(m.rate) - per(below)).toFixed(0)} µs more than the layer below)` : ''}; this process ${m.serverCores.toFixed(2)} cores, clients ${m.clientCores.toFixed(2)} cores`)
          ctx.figure({ key: `layers_${name}_orders_per_s`, value: m.rate, unit: 'orders/s', reference: 'sig_recover_per_s_one_core', note: what })
          ctx.figure({ key: `layers_${name}_cpu_cores`, value: m.serverCores, unit: 'cores', note: 'CPU of the serving process (threads included) during the measured loop' })
          below = m.rate
        } finally {
          await served.stop()
        }
      }
    } finally {
      for (const c of clients) {
        if (c.child.connected) c.child.send({ type: 'exit' })
        else c.child.kill()
        await new Promise((r) => (c.child.exitCode === null ? c.child.once('exit', r) : r(null)))
      }
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
