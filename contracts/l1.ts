/**
 * viem clients for an L1 endpoint: a devnet anvil or a public testnet, chosen by RPC URL and
 * chain id alone, so the same services run against both.
 */
import { type Account, type Chain, type Hex, type PublicClient, type Transport, type WalletClient, createPublicClient, createWalletClient, defineChain, http } from 'viem'
import { createNonceManager, jsonRpc } from 'viem/nonce'
import { privateKeyToAccount } from 'viem/accounts'

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
  // sharedNonces: several loops of one process send from this key (the proposer and its dispute
  // defender) through this one client, so nonces come from a nonce manager instead of racing on
  // the pending count. One manager per client: viem's global one is keyed by address and chain id,
  // which two devnets on the same dev keys share
  const account = privateKeyToAccount(key, opts.sharedNonces ? { nonceManager: createNonceManager({ source: jsonRpc() }) } : undefined)
  return createWalletClient({ chain: l1Chain(cfg), transport: http(cfg.rpcUrl), account, pollingInterval })
}
