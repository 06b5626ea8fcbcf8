/**
 * Withdrawal proofs built from L1-derived data only (the Verifier's outbox leaves), checked
 * against the outbox root a confirmed assertion holds on L1 before they are handed out.
 */
import { type Address, type Hex, BaseError, ContractFunctionRevertedError } from 'viem'
import { rollupAbi } from '../contracts/out/artifacts.js'
import type { L1Public } from '../contracts/l1.js'
import type { Verifier } from '../executor/verifier.js'
import { AssertionStatus, readAssertion } from '../prover/proposer.js'
import { RpcError } from '../sequencer/rpc/errors.js'
import type { RpcHandler } from '../sequencer/rpc/server.js'
import { INVALID_PARAMS } from '../sequencer/validate.js'
import { jsonify } from '../sequencer/api.js'
import { OutboxTree, outboxLeaf } from './outbox.js'

export interface WithdrawalProof {
  assertionId: bigint
  index: bigint
  l2Sender: Address
  to: Address
  asset: number
  amount: bigint
  outboxRoot: Hex
  proof: Hex[]
}

/** Error code when a withdrawal is not yet covered by a confirmed assertion. */
export const WITHDRAWAL_NOT_CONFIRMED = -32080

/**
 * The proof of withdrawal `index` against assertion `assertionId` (default: the latest confirmed
 * one). Throws an RpcError saying what to wait for when the withdrawal is not yet provable.
 */
export async function buildWithdrawalProof(verifier: Verifier, l1: L1Public, rollup: Address, index: bigint, assertionId?: bigint): Promise<WithdrawalProof> {
  const id = assertionId ?? ((await l1.readContract({ address: rollup, abi: rollupAbi, functionName: 'latestConfirmed' })) as bigint)
  const a = await readAssertion(l1, rollup, id).catch((err: unknown) => {
    // A fuzzed or mistyped id: the Rollup reverts with UnknownAssertion, which is the caller's to fix.
    const reverted = err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName === 'UnknownAssertion')
      throw new RpcError(INVALID_PARAMS, `assertion ${id} does not exist: omit assertionId for the latest confirmed one`, { param: 'assertionId', assertionId: id.toString() })
    throw err
  })
  if (a.status !== AssertionStatus.Confirmed)
    throw new RpcError(WITHDRAWAL_NOT_CONFIRMED, `assertion ${id} is not confirmed yet: wait for its challenge period to end`, { assertionId: id.toString() })
  const batch = verifier.verified(Number(a.inboxPosition) - 1)
  const all = verifier.withdrawals()
  const w = all[Number(index)]
  if (!batch || !w || w.index !== index || index >= batch.outboxCount)
    throw new RpcError(
      WITHDRAWAL_NOT_CONFIRMED,
      `withdrawal ${index} is not covered by confirmed assertion ${id} yet: wait until its batch is posted, asserted and confirmed`,
      { index: index.toString(), assertionId: id.toString(), confirmedInboxPosition: a.inboxPosition.toString() },
    )
  const tree = new OutboxTree(all.slice(0, Number(batch.outboxCount)).map((x) => outboxLeaf(x.l2Sender, x.to, x.asset, x.amount)))
  if (tree.root !== a.outboxRoot)
    throw new Error(`outbox root derived from L1 (${tree.root}) differs from assertion ${id}'s (${a.outboxRoot}): this assertion is wrong and should be challenged`)
  return { assertionId: id, index, l2Sender: w.l2Sender, to: w.to, asset: w.asset, amount: w.amount, outboxRoot: tree.root, proof: tree.proof(Number(index)) }
}

/** `vdx_getWithdrawalProof [{ index, assertionId? }]`, served by a node that runs a verifier. */
export function withdrawalProofApi(verifier: Verifier, l1: L1Public, rollup: Address): Record<string, RpcHandler> {
  return {
    vdx_getWithdrawalProof: async (params) => {
      const p = (Array.isArray(params) ? params[0] : params) as { index?: unknown; assertionId?: unknown } | undefined
      const asBig = (v: unknown, name: string) => {
        if ((typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return BigInt(v)
        throw new RpcError(INVALID_PARAMS, `${name} must be a non-negative integer (decimal string)`, { param: name })
      }
      if (!p || typeof p !== 'object') throw new RpcError(INVALID_PARAMS, 'params must be [{ index, assertionId? }]', { param: 'params' })
      const index = asBig(p.index, 'index')
      const assertionId = p.assertionId === undefined ? undefined : asBig(p.assertionId, 'assertionId')
      return jsonify(await buildWithdrawalProof(verifier, l1, rollup, index, assertionId))
    },
  }
}
