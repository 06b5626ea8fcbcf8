/**
 * Signing Veridex transactions with a viem account: the EIP-712 typed data of a transaction
 * (its defaults spelled out, sdk/protocol.ts `typedMessage`) and the batch item it becomes.
 */
import type { Hex, LocalAccount } from 'viem'
import { eip712Domain, eip712Types, encodeItem, typedMessage, type TxMessage } from './protocol.js'

/** The 65-byte signature (r ‖ s ‖ v hex, as viem returns it) of `tx` on L2 chain `chainId`. */
export function signTx(account: LocalAccount, chainId: number | bigint, tx: TxMessage): Promise<Hex> {
  return account.signTypedData({
    domain: eip712Domain(chainId), types: eip712Types, primaryType: tx.kind, message: typedMessage(tx),
  } as unknown as Parameters<LocalAccount['signTypedData']>[0])
}

/** `tx` signed and encoded as a batch item (docs/protocol.md §3). */
export async function signItem(account: LocalAccount, chainId: number | bigint, tx: TxMessage): Promise<Uint8Array> {
  return encodeItem(tx, await signTx(account, chainId, tx))
}
