/**
 * Starts a real anvil (from the npm package @foundry-rs/anvil) on loopback, for the devnet and
 * the tests. Never used against a public network: there, services take an RPC URL instead.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import path from 'node:path'
import { existsSync } from 'node:fs'
import { toHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

export interface Anvil {
  rpcUrl: string
  port: number
  chainId: number
  /** The deterministic dev mnemonic's private keys, index 0 first. */
  privateKeys: readonly `0x${string}`[]
  stop(): Promise<void>
}

export interface AnvilOptions {
  chainId?: number
  port?: number
  /** Seconds between blocks; omit for automine (a block per transaction). */
  blockTime?: number
  accounts?: number
  /** Extra CLI flags passed through to anvil. */
  args?: string[]
}

/** Anvil's default dev mnemonic; anvil funds the first accounts derived from it. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

/** The private keys anvil derives from its default mnemonic, index 0 first. */
export function anvilKeys(count = 10): `0x${string}`[] {
  return Array.from({ length: count }, (_, i) => {
    const key = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }).getHdKey().privateKey
    if (!key) throw new Error('HD derivation returned no private key')
    return toHex(key)
  })
}

/** Path of the anvil binary shipped by @foundry-rs/anvil for this platform. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url)
  const platform = `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`
  const pkg = `@foundry-rs/anvil-${platform}`
  let dir: string
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`))
  } catch {
    throw new Error(`anvil binary package ${pkg} is not installed: run \`npm install\` (or \`npm ci\`) in the repository root`)
  }
  for (const candidate of [path.join(dir, 'bin', 'anvil'), path.join(dir, 'anvil')]) {
    if (existsSync(candidate)) return candidate
  }
  throw new Error(`no anvil executable inside ${dir}: reinstall with \`npm ci\``)
}

/** Asks the OS for a free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

async function waitForRpc(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`anvil exited with code ${child.exitCode}: ${log()}`)
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      })
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`anvil did not answer on ${url} within 20 s: ${log()}`)
}

/** Spawns anvil on 127.0.0.1 and resolves once it answers JSON-RPC. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const port = opts.port ?? (await freePort())
  const chainId = opts.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--accounts', String(opts.accounts ?? 10), '--silent']
  if (opts.blockTime) args.push('--block-time', String(opts.blockTime))
  args.push(...(opts.args ?? []))
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000)
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const rpcUrl = `http://127.0.0.1:${port}`
  try {
    await waitForRpc(rpcUrl, child, () => output)
  } catch (e) {
    child.kill('SIGKILL')
    throw e
  }
  return {
    rpcUrl,
    port,
    chainId,
    privateKeys: anvilKeys(opts.accounts ?? 10),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 2000).unref()
      }),
  }
}
