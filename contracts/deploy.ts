/**
 * Deploys the Veridex L1 contracts (TestCollateral, SequencerInbox, Rollup, Bridge, the one-step
 * provers and the DisputeGame) to any Ethereum JSON-RPC endpoint, wires the inbox to the bridge
 * and the game to the rollup, and reads/writes the resulting deployment file. Needs contracts/out
 * (npm run build:contracts).
 */
import { readFile, writeFile } from 'node:fs/promises'
import {
  type Account,
  type Address,
  type Chain,
  type Client,
  type Hex,
  type Transport,
  bytesToHex,
  getAddress,
  getContract,
  zeroAddress,
} from 'viem'
import { l1Public, l1Wallet } from './l1.js'
import type { ModuleConstants } from '../executor/vm/module.js'

export type Artifacts = typeof import('./out/artifacts.js')

/** Addresses of one Veridex deployment on one L1 chain. */
export interface Deployment {
  chainId: number
  inbox: Address
  rollup: Address
  bridge: Address
  collateral: Address
  /** The bisection game that rejects false assertions (zero if deployed withoutDisputeGame). */
  disputeGame: Address
  /** OneStepProofEntry, which the game asks to execute the final step. */
  oneStepProofEntry: Address
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
  /**
   * The module constants the one-step proofs are checked against; they must hash to moduleRoot.
   * Default: those of the built engine (executor/engine/build/engine.wasm).
   */
  moduleConstants?: ModuleConstants
  /** Parts per bisection; default DEFAULT_DISPUTE_DEGREE. */
  disputeDegree?: bigint
  /** Each party's total time per game; default DEFAULT_DISPUTE_CLOCK. */
  disputeClockSeconds?: bigint
  /** Wei a challenger locks per game; default bondWei. */
  challengeBondWei?: bigint
  /**
   * Deploy no DisputeGame and leave Rollup.setDisputeGame to the caller: for tests that drive the
   * Rollup's game entry points from an account of their own.
   */
  withoutDisputeGame?: boolean
  log?: (s: string) => void
}

/** Default SequencerInbox.maxTimeVariation: one hour either way. */
export const DEFAULT_MAX_TIME_VARIATION = 3600n
/** Default bisection degree: a 2^32-step dispute takes 8 bisections and one proof. */
export const DEFAULT_DISPUTE_DEGREE = 16n
/** Default per-party clock of a dispute game: one hour. */
export const DEFAULT_DISPUTE_CLOCK = 3600n

/** The module constants of the built engine (the ones its state roots' moduleRoot commits to). */
export async function engineModuleConstants(): Promise<ModuleConstants> {
  const [{ engineWasmPath }, { loadEngineProgramFile }, { moduleConstants }] = await Promise.all([
    import('../executor/engine/host.js'),
    import('../executor/vm/engine.js'),
    import('../executor/vm/module.js'),
  ])
  return moduleConstants(loadEngineProgramFile(engineWasmPath()))
}

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
 * Deploys and wires the contracts, one confirmed transaction after another (the addresses of each
 * are constructor arguments of the next). The deployer becomes the Rollup owner and wires the
 * DisputeGame in (Rollup.setDisputeGame can be called only once).
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

  const prover0 = await deployed('OneStepProver0', wallet.deployContract({ abi: A.oneStepProver0Abi, bytecode: A.oneStepProver0Bytecode }))
  const proverMath = await deployed('OneStepProverMath', wallet.deployContract({ abi: A.oneStepProverMathAbi, bytecode: A.oneStepProverMathBytecode }))
  const proverMemory = await deployed('OneStepProverMemory', wallet.deployContract({ abi: A.oneStepProverMemoryAbi, bytecode: A.oneStepProverMemoryBytecode }))
  const proverHostIo = await deployed('OneStepProverHostIo', wallet.deployContract({ abi: A.oneStepProverHostIoAbi, bytecode: A.oneStepProverHostIoBytecode }))
  const entry = await deployed(
    'OneStepProofEntry',
    wallet.deployContract({
      abi: A.oneStepProofEntryAbi,
      bytecode: A.oneStepProofEntryBytecode,
      args: [prover0.address, proverMath.address, proverMemory.address, proverHostIo.address],
    }),
  )

  let disputeGame: Address = zeroAddress
  if (!opts.withoutDisputeGame) {
    const constants = opts.moduleConstants ?? (await engineModuleConstants())
    const { moduleRoot } = await import('../executor/vm/module.js')
    const root = bytesToHex(moduleRoot(constants))
    // The game's constructor checks this too; failing here names the cause before any gas is spent on it.
    if (root !== opts.moduleRoot) throw new Error(`the module constants hash to ${root}, but the Rollup's moduleRoot is ${opts.moduleRoot}: deploy with the engine the genesis roots came from`)
    const game = await deployed(
      'DisputeGame',
      wallet.deployContract({
        abi: A.disputeGameAbi,
        bytecode: A.disputeGameBytecode,
        args: [
          rollup.address,
          entry.address,
          constants,
          opts.disputeDegree ?? DEFAULT_DISPUTE_DEGREE,
          opts.disputeClockSeconds ?? DEFAULT_DISPUTE_CLOCK,
          opts.challengeBondWei ?? opts.bondWei,
        ],
      }),
    )
    const rollupContract = getContract({ address: rollup.address, abi: A.rollupAbi, client: { public: publicClient, wallet } })
    await confirm('Rollup.setDisputeGame', await rollupContract.write.setDisputeGame([game.address]))
    log(`wired DisputeGame to Rollup`)
    disputeGame = game.address
  }

  return {
    chainId: opts.chainId,
    inbox: inbox.address,
    rollup: rollup.address,
    bridge: bridge.address,
    collateral: collateral.address,
    disputeGame,
    oneStepProofEntry: entry.address,
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
    disputeGame: getContract({ address: d.disputeGame, abi: A.disputeGameAbi, client }),
    oneStepProofEntry: getContract({ address: d.oneStepProofEntry, abi: A.oneStepProofEntryAbi, client }),
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
    disputeGame: addr('disputeGame'),
    oneStepProofEntry: addr('oneStepProofEntry'),
    deployBlock: BigInt(block),
  }
}
