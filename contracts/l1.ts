/**
 * viem clients for an L1 endpoint: a devnet anvil or a public testnet, chosen by RPC URL and
 * chain id alone, so the same services run against both.
 */
import { type Account, type Chain, type Hex, type PublicClient, type Transport, type WalletClient, createPublicClient, createWalletClient, defineChain, http } from 'viem'
import { keccakHex, l1Account } from './l1Signer.js'

export interface L1Config { rpcUrl: string; chainId: number }

export type L1Public = PublicClient<Transport, Chain>
export type L1Wallet = WalletClient<Transport, Chain, Account>

export function l1Chain({ rpcUrl, chainId }: L1Config): Chain {
  return defineChain({
    id: chainId,
    name: `L1 ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

export function l1Public(cfg: L1Config, pollingInterval = 250): L1Public {
  return createPublicClient({ chain: l1Chain(cfg), transport: http(cfg.rpcUrl), pollingInterval })
}

export function l1Wallet(cfg: L1Config, key: Hex, pollingInterval = 250, opts: { sharedNonces?: boolean } = {}): L1Wallet {
  const wallet = createWalletClient({ chain: l1Chain(cfg), transport: http(cfg.rpcUrl), account: l1Account(key), pollingInterval })
  // sharedNonces: several loops of one process send from this key (the proposer and its dispute
  // defender) through this one client. Sends go one at a time, each taking the pending nonce
  // once the previous one reached the node, which also stays right after an L1 reorg drops
  // sent transactions (a counting nonce manager would then leave a gap that nothing fills)
  return opts.sharedNonces ? withSerialSends(wallet) : wallet
}

/**
 * Makes `sendTransaction` (and so writeContract and deployContract, which go through it) send one
 * transaction at a time, signed here so its hash is known before it leaves: when the reply to
 * eth_sendRawTransaction is lost (a timeout, a dropped connection, a retry answered "already
 * known"), the node is asked for that hash, and a transaction it holds counts as sent. So a lost
 * reply never leads to a second transaction with the next nonce, nor to a nonce left unused.
 */
export function withSerialSends(wallet: L1Wallet): L1Wallet {
  const send = wallet.sendTransaction
  let tail: Promise<unknown> = Promise.resolve()
  const serial = async (args: Parameters<typeof send>[0]): Promise<Hex> => {
    // The node's pending count, asked for explicitly rather than left to prepareTransactionRequest
    // (which may take a nonce from eth_fillTransaction): it is the count a reorg resets
    const nonce = await wallet.request({ method: 'eth_getTransactionCount' as never, params: [wallet.account.address, 'pending'] as never })
    const request = await wallet.prepareTransactionRequest({ ...(args as object), nonce: Number(nonce) } as never)
    const serialized = await wallet.account.signTransaction!(request as never)
    const hash = keccakHex(serialized)
    try {
      return await wallet.sendRawTransaction({ serializedTransaction: serialized })
    } catch (e) {
      const known = await wallet.request({ method: 'eth_getTransactionByHash' as never, params: [hash] as never }).catch(() => null)
      if (known) return hash
      throw e
    }
  }
  wallet.sendTransaction = ((args: Parameters<typeof send>[0]) => {
    const run = tail.then(() => serial(args))
    tail = run.catch(() => undefined)
    return run
  }) as typeof send
  return wallet
}
