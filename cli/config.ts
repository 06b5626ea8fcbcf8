/**
 * Devnet defaults and the devnet state file that lets `veridex` commands find a running devnet.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { Deployment } from '../contracts/deploy.js'
import type { GenesisConfig, MarketConfig } from '../sdk/protocol.js'

export const DEFAULT_L2_CHAIN_ID = 424242

/** BTC-PERP: $1 ticks, 0.0001 BTC steps, up to 100 BTC per order, 10% initial / 5% maintenance margin. */
export const BTC_PERP: MarketConfig = {
  id: 1,
  symbol: 'BTC-PERP',
  tickSize: 1_000_000n,
  stepSize: 1n,
  minSize: 1n,
  maxSize: 1_000_000n,
  maxPrice: 1_000_000_000_000n,
  sizeDecimals: 4,
  initialMarginPpm: 100_000,
  maintenanceMarginPpm: 50_000,
}

export function devnetGenesis(oracle: Address, chainId = DEFAULT_L2_CHAIN_ID): GenesisConfig {
  return { chainId, oracle, markets: [BTC_PERP] }
}

/** How the devnet uses anvil's dev accounts (index into its mnemonic). */
export const DEVNET_ROLES = { deployer: 0, sequencer: 1, proposer: 2, oracle: 9, traders: [3, 4, 5, 6, 7, 8], challenger: 10, validator: 11 } as const
/** anvil accounts the devnet funds: every role above. */
export const DEVNET_ACCOUNTS = 12

export interface DevnetState {
  l1: { rpcUrl: string; chainId: number }
  sequencerUrl: string
  sequencerWsUrl: string
  deployment: Deployment
  genesis: GenesisConfig
  keys: { deployer: Hex; sequencer: Hex; proposer: Hex; oracle: Hex; traders: Hex[]; challenger: Hex; validator: Hex }
  challengePeriodSeconds: number
  pid: number
}

export const STATE_DIR = path.resolve(process.env.VERIDEX_HOME ?? '.veridex')
export const DEVNET_STATE = path.join(STATE_DIR, 'devnet.json')

const replacer = (_: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)
const reviver = (_: string, v: unknown) => (typeof v === 'string' && /^-?[0-9]+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)

export function writeDevnetState(s: DevnetState, file = DEVNET_STATE) {
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(s, replacer, 2))
}

/** The running devnet's state, or undefined if there is none (or its process is gone). */
export function readDevnetState(file = DEVNET_STATE): DevnetState | undefined {
  if (!existsSync(file)) return undefined
  const s = JSON.parse(readFileSync(file, 'utf8'), reviver) as DevnetState
  try {
    process.kill(s.pid, 0)
  } catch {
    return undefined
  }
  return s
}

export const addressOf = (key: Hex): Address => privateKeyToAccount(key).address

/**
 * A deployment file as `veridex deploy` writes it: the addresses (contracts/deploy.ts format)
 * plus the genesis config the services need to rebuild the same state.
 */
export function writeDeploymentFile(file: string, d: Deployment, genesis: GenesisConfig) {
  writeFileSync(file, JSON.stringify({ ...d, deployBlock: d.deployBlock.toString(), genesis }, replacer, 2) + "\n")
}

export function readGenesisFromDeploymentFile(file: string): GenesisConfig {
  const raw = JSON.parse(readFileSync(file, 'utf8'), reviver) as { genesis?: GenesisConfig }
  if (!raw.genesis) throw new Error(`${file} has no genesis config: it was not written by \`veridex deploy\`; redeploy with it`)
  return raw.genesis
}
