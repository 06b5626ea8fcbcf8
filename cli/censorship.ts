/**
 * The CLI's way around a sequencer that is down or ignores you: `--via-l1` on order, cancel and
 * withdraw sends the transaction through the L1 delayed inbox, and `veridex force-include`
 * forces waiting delayed messages into the inbox once they are older than the delay. Neither
 * talks to the sequencer: they need only an L1 endpoint, the deployment and a key.
 */
import { type Command, Option, InvalidArgumentError } from 'commander'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readDeployment, type Deployment } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { GenesisConfig, TxMessage } from '../sdk/protocol.js'
import { ForceInclusionError, forceInclude, forceInclusionStatus, sendL2TxViaL1, waitForDelayedInclusion } from '../sdk/l1Inbox.js'
import { DEVNET_STATE, readDevnetState, readGenesisFromDeploymentFile } from './config.js'

interface L1Options { rpc?: string; chainId?: string; deployment?: string; key?: string }

/** L1 endpoint, deployment, genesis and key: from the options, else the running devnet. */
export async function l1Target(o: L1Options) {
  const dev = o.rpc && o.chainId && o.deployment && o.key ? undefined : readDevnetState()
  const need = <T>(v: T | undefined, name: string): T => {
    if (v === undefined) throw new Error(`--${name} is required when no devnet is running (${DEVNET_STATE}; start one with \`npm run devnet\`)`)
    return v
  }
  const key = need(o.key ?? dev?.keys.traders[0], 'key') as Hex
  const cfg = { rpcUrl: need(o.rpc ?? dev?.l1.rpcUrl, 'rpc'), chainId: Number(need(o.chainId ?? dev?.l1.chainId, 'chain-id')) }
  const deployment: Deployment = o.deployment ? await readDeployment(o.deployment) : need(dev?.deployment, 'deployment')
  const genesis: GenesisConfig = o.deployment ? readGenesisFromDeploymentFile(o.deployment) : need(dev?.genesis, 'deployment')
  return { cfg, key, account: privateKeyToAccount(key), pub: l1Public(cfg), wallet: l1Wallet(cfg, key), deployment, genesis }
}

const when = (t: bigint) => `L1 time ${t} (${new Date(Number(t) * 1000).toISOString()})`

/** `--via-l1` and `--wait` for the trader commands that can go through the delayed inbox. */
export const viaL1Options = (c: Command) =>
  c
    .option('--via-l1', 'send it through the L1 delayed inbox instead of the sequencer (censorship resistance: no signature, your L1 address is the sender, pays L1 gas)')
    .option('--wait', 'with --via-l1: wait until an L1 batch (the sequencer\'s or a forced one) includes it')

/** Sends `tx` through the delayed inbox and says what happens next. */
export async function sendViaL1(o: L1Options & { wait?: boolean }, tx: TxMessage) {
  const t = await l1Target(o)
  const r = await sendL2TxViaL1(t.pub, t.wallet, t.deployment.inbox, tx)
  console.log(`${tx.kind} from ${t.account.address} sent through the L1 delayed inbox: delayed message ${r.delayedIndex} in L1 tx ${r.tx}`)
  console.log(`the sequencer includes it in its next batch; if it has not by ${when(r.forceableAt)}, anyone can run \`veridex force-include\``)
  if (!o.wait) return
  const batch = await waitForDelayedInclusion(t.pub, t.deployment.inbox, r.delayedIndex, { timeoutMs: 24 * 3600_000, pollMs: 1000 })
  const [ev] = await t.pub.getContractEvents({ address: t.deployment.inbox, abi: sequencerInboxAbi, eventName: 'BatchDelivered', args: { batchIndex: batch }, fromBlock: r.block })
  const forced = (ev?.args as { forced?: boolean } | undefined)?.forced
  console.log(`included in L1 batch ${batch}${forced ? ' (forced)' : ' (by the sequencer)'}; its outcome is in \`veridex account\``)
}

const count = (v: string) => {
  if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError('expected a whole number of delayed messages')
  return BigInt(v)
}

export function registerCensorship(program: Command) {
  program
    .command('force-include')
    .description('force delayed messages (deposits, --via-l1 transactions) that no L1 batch has included for longer than the force-inclusion delay into the inbox; anyone may, paying L1 gas. Tells you when it becomes possible if it is too soon')
    .option('--rpc <url>', 'L1 JSON-RPC URL (default: the running devnet)')
    .option('--chain-id <id>', 'L1 chain id (default: the running devnet)')
    .option('--deployment <file>', 'deployment JSON written by `veridex deploy` (default: the running devnet)')
    .option('--key <hex>', 'private key that pays the gas (default: devnet trader 0)')
    .addOption(new Option('--count <n>', 'delayed messages consumed after the forced batch, as forceInclusion takes it (default: every one old enough)').argParser(count))
    .option('--status', 'only show what waits and when it may be forced')
    .option('--wait', 'if it is too soon, wait until it is possible, then force')
    .action(async (o: L1Options & { count?: bigint; status?: boolean; wait?: boolean }) => {
      const t = await l1Target(o)
      const inbox = t.deployment.inbox
      const s = await forceInclusionStatus(t.pub, inbox)
      const waiting = s.delayedCount - s.totalDelayedRead
      if (o.status) {
        console.log(`delayed messages on L1: ${s.delayedCount}; in L1 batches: ${s.totalDelayedRead}; waiting: ${waiting}`)
        console.log(`force-inclusion delay ${s.forceInclusionDelay} s; L1 head at ${when(s.l1Time)}`)
        if (waiting > 0n) {
          console.log(`forceable now: ${s.forceableCount - s.totalDelayedRead} message(s)`)
          console.log(`the oldest waiting one (${s.totalDelayedRead}) may be forced from ${when(s.nextForceableAt!)}`)
        }
        return
      }
      for (;;) {
        try {
          const r = await forceInclude(t.pub, t.wallet, inbox, { upTo: o.count })
          console.log(`forced delayed messages ${s.totalDelayedRead}..${r.newDelayedCount - 1n} into L1 batch ${r.batchIndex} (tx ${r.tx}, block ${r.block}); verifiers execute them now, and the sequencer rebuilds on top of it`)
          return
        } catch (e) {
          if (!(e instanceof ForceInclusionError) || !o.wait || !/too soon/.test(e.message)) throw e
          const wait = Number(e.status.nextForceableAt! - e.status.l1Time)
          console.log(`${e.message.split(';')[0]}; waiting ${wait} s`)
          await new Promise((r) => setTimeout(r, Math.max(1, Math.min(wait, 60)) * 1000))
        }
      }
    })
}
