/** The `--rate-*`, `--max-connections-per-ip` and `--request-timeout` flags of `veridex node` and `veridex devnet`. */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_RATE_LIMITS, type BucketRate, type RateLimitOptions } from '../sequencer/rpc/rateLimit.js'
import type { NodeOptions } from './node.js'


/** `100:200` → 100 per second, burst 200; `100` → burst twice the rate. */
export function parseBucketRate(v: string): BucketRate {
  const m = /^([0-9]+(?:\.[0-9]+)?)(?::([0-9]+))?$/.exec(v.trim())
  const perSecond = m ? Number(m[1]) : NaN
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.max(1, Math.ceil(perSecond * 2))
  if (!m || !(perSecond > 0) || !Number.isSafeInteger(burst) || burst < 1) throw new InvalidArgumentError('expected RATE or RATE:BURST, e.g. 100:200 (per second, then the most at once)')
  return { perSecond, burst }
}

const positiveInt = (v: string) => {
  if (!/^[1-9][0-9]*$/.test(v)) throw new InvalidArgumentError('expected a positive integer')
  return Number(v)
}

const rateOption = (flags: string, description: string, def: BucketRate) =>
  new Option(flags, description).argParser(parseBucketRate).default(def, `${def.perSecond}:${def.burst}`)

export function withClientLimits(c: Command): Command {
  return c
    .addOption(rateOption('--rate-ip <rate[:burst]>', 'JSON-RPC requests per second per client IP, then the burst (a batch counts each entry; over it: error -32092, HTTP 429)', DEFAULT_RATE_LIMITS.ip))
    .addOption(rateOption('--rate-signer <rate[:burst]>', 'signed transactions per second per signer, then the burst', DEFAULT_RATE_LIMITS.signer))
    .addOption(rateOption('--rate-invalid-sig <rate[:burst]>', 'signatures that recover no signer or a signer with no account, per second per client IP; past the burst its transactions are refused before recovery', DEFAULT_RATE_LIMITS.invalidSignature))
    .addOption(rateOption('--rate-invalid-sig-total <rate[:burst]>', 'signatures that recover no signer or a signer with no account, per second from all client IPs together; past the burst, IPs that sent one in the last minute are refused before recovery', DEFAULT_RATE_LIMITS.invalidSignatureTotal))
    .option('--max-connections-per-ip <n>', 'concurrent HTTP/WebSocket connections per client IP', positiveInt, DEFAULT_RATE_LIMITS.maxConnectionsPerIp)
    .option('--rate-exempt <ips>', 'comma-separated client IPs that skip every rate limit ("none": nobody); behind a reverse proxy all clients share its address, so limit there', DEFAULT_RATE_LIMITS.exempt.join(','))
    .option('--request-timeout <ms>', 'drop HTTP requests whose headers and body take longer than this (slow clients)', positiveInt, 10_000)
}

export interface ClientLimitFlags {
  rateIp: BucketRate
  rateSigner: BucketRate
  rateInvalidSig: BucketRate
  rateInvalidSigTotal: BucketRate
  maxConnectionsPerIp: number
  rateExempt: string
  requestTimeout: number
}

export function clientLimits(o: ClientLimitFlags): { rateLimits: RateLimitOptions; rpc: NodeOptions['rpc'] } {
  const exempt = o.rateExempt.trim() === 'none' ? [] : o.rateExempt.split(',').map((s) => s.trim()).filter(Boolean)
  return {
    rateLimits: { ip: o.rateIp, signer: o.rateSigner, invalidSignature: o.rateInvalidSig, invalidSignatureTotal: o.rateInvalidSigTotal, maxConnectionsPerIp: o.maxConnectionsPerIp, exempt },
    rpc: { requestTimeoutMs: o.requestTimeout },
  }
}

