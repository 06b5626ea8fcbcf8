/**
 * The L1 account of the node's senders (batch poster, proposer, dispute agents): viem's
 * privateKeyToAccount, with the transaction hash taken by hash-wasm's keccak instead of viem's,
 * and transactions with large calldata signed on a thread (contracts/signerThread.ts).
 * A batch transaction carries up to ~120 KB of calldata: viem's keccak takes ~10 ms over 100 KB
 * (hash-wasm ~0.4 ms), and its two serializations ~3 ms each, on the node's event loop, where
 * every order waiting for its reply sat behind them (the sequencer's p99 latency).
 * Serialization and the ECDSA signature stay viem's; test/l1-signer.test.ts checks every byte
 * against viem's own account.
 */
import { type Hex, type TransactionSerializable, bytesToHex, serializeTransaction } from 'viem'
import { type PrivateKeyAccount, privateKeyToAccount, sign } from 'viem/accounts'
import { keccak } from '../executor/vm/keccak.js'
import { signerThread } from './signerThread.js'

/** Calldata (hex characters) from which a transaction is signed on the signer thread: ~16 KB. */
const THREAD_FROM_HEX_CHARS = 32_768

/** keccak256 of a 0x-hex string's bytes, as hex (Buffer's hex decoding: viem's hexToBytes is ~3x slower). */
export function keccakHex(data: Hex): Hex {
  return bytesToHex(keccak(Buffer.from(data.slice(2), 'hex')))
}

/** viem's signTransaction (accounts/utils/signTransaction.ts) with the hash-wasm keccak, on this thread. */
export async function signTransactionInline(key: Hex, transaction: TransactionSerializable): Promise<Hex> {
  // As viem does: an EIP-4844 transaction is signed without its sidecars (the network wrapper).
  const signable = transaction.type === 'eip4844' ? { ...transaction, sidecars: false } : transaction
  const signature = await sign({ hash: keccakHex(serializeTransaction(signable as TransactionSerializable)), privateKey: key })
  return serializeTransaction(transaction, signature)
}

/**
 * The transaction without what cannot cross to a thread: viem's sendTransaction hands the whole
 * prepared request over, `account` and `chain` (objects with functions) included, and the
 * serializer reads neither.
 */
function cloneable(tx: TransactionSerializable): TransactionSerializable {
  return Object.fromEntries(Object.entries(tx).filter(([k, v]) => k !== 'account' && k !== 'chain' && typeof v !== 'function')) as TransactionSerializable
}

/**
 * privateKeyToAccount(key), whose signTransaction hashes with hash-wasm and signs large
 * transactions on the signer thread. A custom `serializer` (none of ours passes one) keeps
 * viem's own path.
 */
export function l1Account(key: Hex): PrivateKeyAccount {
  const account = privateKeyToAccount(key)
  const signTransaction: PrivateKeyAccount['signTransaction'] = async (transaction, opts) => {
    if (opts?.serializer) return account.signTransaction(transaction, opts)
    const tx = transaction as TransactionSerializable
    if ((tx.data?.length ?? 0) >= THREAD_FROM_HEX_CHARS) return (await signerThread().sign(key, cloneable(tx))) as never
    return (await signTransactionInline(key, tx)) as never
  }
  return { ...account, signTransaction }
}
