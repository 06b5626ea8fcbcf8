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

/** The devnet perpetuals' fees, liquidation terms and funding (docs/protocol.md §10). */
const DEVNET_SCHEDULE = {
  makerFeePpm: 200,
  takerFeePpm: 500,
  liquidationFeePpm: 5_000,
  liquidationBandPpm: 30_000,
  impactNotional: 10_000_000_000n,
  maxFundingPpbPerHour: 1_000_000,
} as const satisfies Partial<MarketConfig>

/**
 * BTC-PERP: $1 ticks, 0.0001 BTC steps, up to 100 BTC per order; 10% initial / 5% maintenance
 * margin, +2% / +1% per further $5M of notional; 0.02% maker / 0.05% taker fees; liquidations
 * pay 0.5% to the insurance fund and fill within 3% of the index; funding from the $10k impact
 * prices, capped at 0.1% an hour; open interest capped at 500 BTC.
 */
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
  tierNotional: 5_000_000_000_000n,
  tierInitialMarginPpm: 20_000,
  tierMaintenanceMarginPpm: 10_000,
  maxOpenInterest: 5_000_000n,
  ...DEVNET_SCHEDULE,
}

/**
 * ETH-PERP: $0.01 ticks, 0.001 ETH steps, up to 1,000 ETH per order; the same margin, fee,
 * liquidation and funding schedule as BTC-PERP with $2.5M tiers; open interest capped at 20,000 ETH.
 */
export const ETH_PERP: MarketConfig = {
  id: 2,
  symbol: 'ETH-PERP',
  tickSize: 10_000n,
  stepSize: 1n,
  minSize: 1n,
  maxSize: 1_000_000n,
  maxPrice: 100_000_000_000n,
  sizeDecimals: 3,
  initialMarginPpm: 100_000,
  maintenanceMarginPpm: 50_000,
  tierNotional: 2_500_000_000_000n,
  tierInitialMarginPpm: 20_000,
  tierMaintenanceMarginPpm: 10_000,
  maxOpenInterest: 20_000_000n,
  ...DEVNET_SCHEDULE,
}

/** Opening index prices the devnet publishes (collateral quantums per whole unit). */
export const DEVNET_OPENING_PRICES: Record<number, bigint> = { [BTC_PERP.id]: 60_000_000_000n, [ETH_PERP.id]: 3_000_000_000n }

export interface DevnetGenesisOptions {
  /** Signs ADMIN transactions (default: the oracle). */
  admin?: Address
  /** Receives trading fees (default: the admin). */
  feeAccount?: Address
  /** Oracle prices older than this stop counting (default 86,400 s; the devnet with its feeder uses 60). */
  maxOracleAgeSeconds?: number
}

export function devnetGenesis(oracle: Address, chainId = DEFAULT_L2_CHAIN_ID, o: DevnetGenesisOptions = {}): GenesisConfig {
  return { chainId, oracle, admin: o.admin, feeAccount: o.feeAccount, maxOracleAgeSeconds: o.maxOracleAgeSeconds, markets: [BTC_PERP, ETH_PERP] }
}

/** How the devnet uses anvil's dev accounts (index into its mnemonic). */
export const DEVNET_ROLES = { deployer: 0, sequencer: 1, proposer: 2, oracle: 9, traders: [3, 4, 5, 6, 7, 8], challenger: 10, validator: 11, admin: 12, feeAccount: 13 } as const
/** anvil accounts the devnet funds: every role above. */
export const DEVNET_ACCOUNTS = 14

export interface DevnetState {
  l1: { rpcUrl: string; chainId: number }
  sequencerUrl: string
  sequencerWsUrl: string
  deployment: Deployment
  genesis: GenesisConfig
  keys: { deployer: Hex; sequencer: Hex; proposer: Hex; oracle: Hex; traders: Hex[]; challenger: Hex; validator: Hex; admin: Hex; feeAccount: Hex }
  /** Milliseconds between the devnet oracle's price updates (0: no feeder). */
  oracleFeedMs?: number
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
