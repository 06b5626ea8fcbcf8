/**
 * Trader-side bridge flows on L1: deposit collateral or ETH (each becomes a delayed message the
 * sequencer must include), and finalize a withdrawal with its outbox proof once the assertion
 * that covers it is confirmed.
 */
import { type Address, type Hex, BaseError, ContractFunctionRevertedError, parseEventLogs } from 'viem'
import { bridgeAbi, sequencerInboxAbi, testCollateralAbi } from '../contracts/out/artifacts.js'
import type { L1Public, L1Wallet } from '../contracts/l1.js'
import type { Deployment } from '../contracts/deploy.js'
import type { VeridexClient } from '../sdk/client.js'
import { VeridexRpcError } from '../sdk/client.js'
import { WITHDRAWAL_NOT_CONFIRMED } from './proofs.js'

export interface DepositReceipt { tx: Hex; delayedIndex: bigint; block: bigint }

async function delayedIndexOf(l1: L1Public, hash: Hex): Promise<DepositReceipt> {
  const receipt = await l1.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`deposit transaction ${hash} reverted`)
  const [ev] = parseEventLogs({ abi: sequencerInboxAbi, logs: receipt.logs, eventName: 'DelayedMessage' })
  if (!ev) throw new Error(`deposit transaction ${hash} emitted no DelayedMessage`)
  return { tx: hash, delayedIndex: (ev.args as { index: bigint }).index, block: receipt.blockNumber }
}

/** Deposits `amount` collateral quantums (token base units) for L2 account `to`, approving first if needed. */
export async function depositCollateral(l1: L1Public, wallet: L1Wallet, d: Deployment, to: Address, amount: bigint): Promise<DepositReceipt> {
  const owner = wallet.account.address
  const allowance = (await l1.readContract({ address: d.collateral, abi: testCollateralAbi, functionName: 'allowance', args: [owner, d.bridge] })) as bigint
  if (allowance < amount) {
    const hash = await wallet.writeContract({ address: d.collateral, abi: testCollateralAbi, functionName: 'approve', args: [d.bridge, amount] })
    const r = await l1.waitForTransactionReceipt({ hash })
    if (r.status !== 'success') throw new Error(`approve reverted in ${hash}`)
  }
  const hash = await wallet.writeContract({ address: d.bridge, abi: bridgeAbi, functionName: 'depositERC20', args: [to, amount] })
  return delayedIndexOf(l1, hash)
}

/** Deposits `wei` (a multiple of 1 gwei) of ETH for L2 account `to`. */
export async function depositEth(l1: L1Public, wallet: L1Wallet, d: Deployment, to: Address, wei: bigint): Promise<DepositReceipt> {
  const hash = await wallet.writeContract({ address: d.bridge, abi: bridgeAbi, functionName: 'depositETH', args: [to], value: wei })
  return delayedIndexOf(l1, hash)
}

export type ProofOf<C extends VeridexClient> = Awaited<ReturnType<C['withdrawalProof']>>

/**
 * Polls the node for the proof of withdrawal `index` until an assertion covering it is
 * confirmed, reporting progress; rejects after `timeoutMs`.
 */
export async function waitForWithdrawalProof(client: VeridexClient, index: bigint, opts: { timeoutMs?: number; pollMs?: number; onWait?: (why: string) => void } = {}) {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  let last = ''
  for (;;) {
    try {
      return await client.withdrawalProof(index)
    } catch (e) {
      if (!(e instanceof VeridexRpcError) || e.code !== WITHDRAWAL_NOT_CONFIRMED) throw e
      if (e.message !== last) opts.onWait?.((last = e.message))
    }
    if (Date.now() > deadline) throw new Error(`withdrawal ${index} was not confirmed within ${opts.timeoutMs ?? 120_000} ms: ${last}`)
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500))
  }
}

/** Pays a withdrawal on L1 (Bridge.finalizeWithdrawal). Throws a clear error if already paid or not provable. */
export async function finalizeWithdrawal(
  l1: L1Public,
  wallet: L1Wallet,
  d: Deployment,
  p: { assertionId: string | bigint; index: string | bigint; l2Sender: Address; to: Address; asset: number; amount: string | bigint; proof: Hex[] },
): Promise<{ tx: Hex; gasUsed: bigint }> {
  const args = [BigInt(p.assertionId), BigInt(p.index), p.l2Sender, p.to, p.asset, BigInt(p.amount), p.proof] as const
  // Simulate first: eth_call returns the revert data, which viem decodes into the Bridge's error.
  let request
  try {
    ;({ request } = await l1.simulateContract({ address: d.bridge, abi: bridgeAbi, functionName: 'finalizeWithdrawal', args, account: wallet.account }))
  } catch (e) {
    const revert = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : undefined
    const name = revert instanceof ContractFunctionRevertedError ? revert.data?.errorName : undefined
    if (name === 'WithdrawalAlreadyFinalized') throw new Error(`withdrawal ${p.index} was already finalized on L1: it is paid only once`)
    if (name === 'InvalidWithdrawalProof') throw new Error(`the proof of withdrawal ${p.index} does not match assertion ${p.assertionId}'s outbox root: fetch a fresh proof`)
    throw e
  }
  const hash = await wallet.writeContract(request)
  const r = await l1.waitForTransactionReceipt({ hash })
  if (r.status !== 'success') throw new Error(`finalizeWithdrawal reverted in ${hash}`)
  return { tx: hash, gasUsed: r.gasUsed }
}
