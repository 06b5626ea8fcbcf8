/**
 * Deploys the Veridex L1 contracts (TestCollateral, SequencerInbox, Rollup, Bridge) to any
 * Ethereum JSON-RPC endpoint, wires the inbox to the bridge, and reads/writes the resulting
 * deployment file. Needs contracts/out (npm run build:contracts).
 */
import { readFile, writeFile } from 'node:fs/promises'
import {
  type Account,
  type Address,
  type Chain,
  type Client,
  type Hex,
  type Transport,
  getAddress,
  getContract,
} from 'viem'
import { l1Public, l1Wallet } from './l1.js'

export type Artifacts = typeof import('./out/artifacts.js')

/** Addresses of one Veridex deployment on one L1 chain. */
export interface Deployment {
  chainId: number
  inbox: Address
  rollup: Address
  bridge: Address
  collateral: Address
  /** First block containing Veridex contracts: where log scans start. */
  deployBlock: bigint
}

export interface DeployOptions {
  rpcUrl: string
  chainId: number
  deployerKey: Hex
  /** The EOA allowed to post batches. */
  sequencer: Address
  /** The first (only) validator allowed to create assertions. */
  proposer: Address
  moduleRoot: Hex
  genesisMachineRoot: Hex
  genesisOutboxRoot: Hex
  challengePeriodSeconds: bigint
  bondWei: bigint
  forceInclusionDelaySeconds: bigint
  /** How far a batch timestamp may stray from L1 time; default DEFAULT_MAX_TIME_VARIATION. */
  maxTimeVariationSeconds?: bigint
  log?: (s: string) => void
}

/** Default SequencerInbox.maxTimeVariation: one hour either way. */
export const DEFAULT_MAX_TIME_VARIATION = 3600n

/** Loads the generated artifacts, with a clear error if they have not been built. */
export async function loadArtifacts(): Promise<Artifacts> {
  try {
    return await import('./out/artifacts.js')
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error('contracts/out/artifacts.ts is missing: run `npm run build:contracts` first')
    }
    throw e
  }
}

/**
 * Deploys and wires the four contracts, one confirmed transaction after another (the addresses of
 * each are constructor arguments of the next). The deployer becomes the Rollup owner.
 */
export async function deployVeridex(opts: DeployOptions): Promise<Deployment> {
  const log = opts.log ?? (() => {})
  const A = await loadArtifacts()
  const l1 = { rpcUrl: opts.rpcUrl, chainId: opts.chainId }
  const publicClient = l1Public(l1)
  const wallet = l1Wallet(l1, opts.deployerKey)
  const account = wallet.account

  const remoteChainId = await publicClient.getChainId()
  if (remoteChainId !== opts.chainId) throw new Error(`${opts.rpcUrl} serves chain ${remoteChainId}, not ${opts.chainId}`)

  const confirm = async (what: string, hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`${what} failed in transaction ${hash}`)
    return receipt
  }
  // Each deployContract call stays fully typed against its ABI; this only waits and checks.
  const deployed = async (name: string, sent: Promise<Hex>) => {
    const hash = await sent
    const receipt = await confirm(`deploying ${name}`, hash)
    if (!receipt.contractAddress) throw new Error(`deploying ${name}: receipt of ${hash} has no contract address`)
    const address = getAddress(receipt.contractAddress)
    log(`deployed ${name} at ${address} (block ${receipt.blockNumber})`)
    return { address, block: receipt.blockNumber }
  }

  log(`deploying Veridex to chain ${opts.chainId} from ${account.address}`)
  const collateral = await deployed('TestCollateral', wallet.deployContract({ abi: A.testCollateralAbi, bytecode: A.testCollateralBytecode }))
  const inbox = await deployed(
    'SequencerInbox',
    wallet.deployContract({
      abi: A.sequencerInboxAbi,
      bytecode: A.sequencerInboxBytecode,
      args: [getAddress(opts.sequencer), opts.forceInclusionDelaySeconds, opts.maxTimeVariationSeconds ?? DEFAULT_MAX_TIME_VARIATION],
    }),
  )
  const rollup = await deployed(
    'Rollup',
    wallet.deployContract({
      abi: A.rollupAbi,
      bytecode: A.rollupBytecode,
      args: [
        inbox.address,
        opts.moduleRoot,
        opts.challengePeriodSeconds,
        opts.bondWei,
        account.address,
        [getAddress(opts.proposer)],
        opts.genesisMachineRoot,
        opts.genesisOutboxRoot,
      ],
    }),
  )
  const bridge = await deployed(
    'Bridge',
    wallet.deployContract({ abi: A.bridgeAbi, bytecode: A.bridgeBytecode, args: [inbox.address, rollup.address, collateral.address] }),
  )

  const inboxContract = getContract({ address: inbox.address, abi: A.sequencerInboxAbi, client: { public: publicClient, wallet } })
  await confirm('SequencerInbox.initialize', await inboxContract.write.initialize([bridge.address]))
  const wired = await inboxContract.read.bridge()
  if (getAddress(wired) !== bridge.address) throw new Error(`SequencerInbox.bridge() is ${wired}, expected ${bridge.address}`)
  log(`wired SequencerInbox to Bridge`)

  return {
    chainId: opts.chainId,
    inbox: inbox.address,
    rollup: rollup.address,
    bridge: bridge.address,
    collateral: collateral.address,
    deployBlock: collateral.block,
  }
}

/**
 * Typed viem contract instances for a deployment. Pass a public client for reads, a wallet client
 * for writes, or `{ public, wallet }` for both.
 */
export async function contractsFor<
  C extends
    | Client<Transport, Chain | undefined, Account | undefined>
    | { public?: Client<Transport, Chain | undefined>; wallet: Client<Transport, Chain | undefined, Account | undefined> }
    | { public: Client<Transport, Chain | undefined>; wallet?: Client<Transport, Chain | undefined, Account | undefined> },
>(d: Deployment, client: C) {
  const A = await loadArtifacts()
  return {
    inbox: getContract({ address: d.inbox, abi: A.sequencerInboxAbi, client }),
    rollup: getContract({ address: d.rollup, abi: A.rollupAbi, client }),
    bridge: getContract({ address: d.bridge, abi: A.bridgeAbi, client }),
    collateral: getContract({ address: d.collateral, abi: A.testCollateralAbi, client }),
  }
}

/** Writes a deployment as JSON (bigints as decimal strings). */
export async function writeDeployment(file: string, d: Deployment): Promise<void> {
  await writeFile(file, `${JSON.stringify({ ...d, deployBlock: d.deployBlock.toString() }, null, 2)}\n`)
}

/** Reads a deployment written by writeDeployment, validating every field. */
export async function readDeployment(file: string): Promise<Deployment> {
  const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  const addr = (k: string): Address => {
    const v = raw[k]
    if (typeof v !== 'string') throw new Error(`${file}: "${k}" must be an address`)
    return getAddress(v)
  }
  const chainId = raw.chainId
  if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId <= 0) throw new Error(`${file}: "chainId" must be a positive integer`)
  const block = raw.deployBlock
  if ((typeof block !== 'string' && typeof block !== 'number') || !/^\d+$/.test(String(block))) {
    throw new Error(`${file}: "deployBlock" must be a block number`)
  }
  return {
    chainId,
    inbox: addr('inbox'),
    rollup: addr('rollup'),
    bridge: addr('bridge'),
    collateral: addr('collateral'),
    deployBlock: BigInt(block),
  }
}
