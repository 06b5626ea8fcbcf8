/**
 * The L1 contracts against a real anvil: build, deployment, SequencerInbox (batches, delayed
 * inbox, force inclusion), Rollup (assertions, bonds, confirmation) and Bridge (deposits and
 * withdrawals). Every hash the contracts compute is recomputed here independently, with viem and
 * with sdk/protocol.ts's byte encoders.
 */
import { expect } from 'chai'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  type Abi,
  type Address,
  type Hex,
  BaseError,
  ContractFunctionRevertedError,
  type PublicClient,
  type TestClient,
  type TransactionReceipt,
  bytesToHex,
  concat,
  createPublicClient,
  createTestClient,
  createWalletClient,
  decodeErrorResult,
  decodeFunctionData,
  encodePacked,
  getAddress,
  http,
  keccak256,
  parseEther,
  parseEventLogs,
  toHex,
  zeroHash,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../contracts/anvil.js'
import { MAX_DEPLOYED_BYTECODE, buildContracts, camelName } from '../contracts/build.js'
import { l1Chain, l1Public, l1Wallet } from '../contracts/l1.js'
import { type Artifacts, type Deployment, contractsFor, deployVeridex, loadArtifacts, readDeployment, writeDeployment } from '../contracts/deploy.js'
import { OUTBOX_ZERO_HASHES, OutboxTree, outboxLeaf, outboxProof, outboxRoot, rootFromProof } from '../bridge/outbox.js'
import { batchMessage, encodeDelayedMessage, encodeDepositPayload, outboxLeafPreimage } from '../sdk/protocol.js'
import { type ModuleConstants, moduleRoot } from '../executor/vm/module.js'

const CONTRACTS = ['Bridge', 'DisputeGame', 'OneStepProofEntry', 'Rollup', 'SequencerInbox', 'TestCollateral'] as const
/** Stand-in module constants: the game only checks that they hash to the Rollup's moduleRoot. */
const MODULE_CONSTANTS: ModuleConstants = {
  codeRoot: keccak256(toHex('engine.wasm stand-in code')),
  tableRoot: keccak256(toHex('engine.wasm stand-in table')),
  tableSize: 3,
  entryFunction: 7,
  outboxRootPtr: 64,
  maxMemoryPages: 4096,
}
const MODULE_ROOT = bytesToHex(moduleRoot(MODULE_CONSTANTS))
const GENESIS_MACHINE_ROOT = keccak256(toHex('genesis machine'))
const GENESIS_OUTBOX_ROOT = OUTBOX_ZERO_HASHES[32]!
const GWEI = 1_000_000_000n

let A: Artifacts
/** Every error of every contract, to decode reverts that bubble up from a callee. */
let allErrors: Abi

before(async function () {
  this.timeout(300_000)
  await buildContracts()
  A = await loadArtifacts()
  const abis: Abi[] = [A.sequencerInboxAbi, A.rollupAbi, A.bridgeAbi, A.testCollateralAbi]
  allErrors = abis.flatMap((abi) => abi.filter((item) => item.type === 'error'))
})

// -----------------------------------------------------------------------------------------------
// Helpers

async function expectRevert(p: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  let error: unknown
  try {
    await p
  } catch (e) {
    error = e
  }
  if (error === undefined) throw new Error(`expected a revert with ${errorName}, but the call succeeded`)
  const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
  if (!(reverted instanceof ContractFunctionRevertedError)) throw new Error(`expected a revert with ${errorName}, got: ${String(error)}`)
  let name = reverted.data?.errorName
  let got = reverted.data?.args
  if (name === undefined && reverted.raw) {
    const decoded = decodeErrorResult({ abi: allErrors, data: reverted.raw })
    name = decoded.errorName
    got = decoded.args
  }
  expect(name, reverted.shortMessage).to.equal(errorName)
  if (args) expect(got).to.deep.equal(args)
}

const ROLES = ['deployer', 'sequencer', 'proposer', 'user', 'other', 'game', 'validator2'] as const
type Role = (typeof ROLES)[number]

interface Fixture {
  anvil: Anvil
  d: Deployment
  pub: PublicClient
  testClient: TestClient
  addr: Record<Role, Address>
  as: (role: Role) => Promise<Awaited<ReturnType<typeof contractsFor<ReturnType<typeof walletPair>>>>>
  /** Waits for a transaction and asserts it succeeded. */
  mined: (hash: Promise<Hex> | Hex) => Promise<TransactionReceipt>
  latestTimestamp: () => Promise<bigint>
  advance: (seconds: number) => Promise<void>
}

function walletPair(pub: PublicClient, rpcUrl: string, chainId: number, key: Hex) {
  return { public: pub, wallet: l1Wallet({ chainId, rpcUrl }, key) }
}

interface SetupParams {
  challengePeriod?: bigint
  bond?: bigint
  forceInclusionDelay?: bigint
  maxTimeVariation?: bigint
  /** Wire no DisputeGame, so the 'game' account can play it (Rollup tests). */
  withoutDisputeGame?: boolean
}

async function setup(p: SetupParams = {}): Promise<Fixture> {
  const anvil = await startAnvil()
  try {
    const chain = l1Chain({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl })
    const pub = l1Public({ chainId: anvil.chainId, rpcUrl: anvil.rpcUrl }) as unknown as PublicClient
    const testClient = createTestClient({ mode: 'anvil', chain, transport: http(anvil.rpcUrl) })
    const keys = Object.fromEntries(ROLES.map((r, i) => [r, anvil.privateKeys[i]!])) as Record<Role, Hex>
    const addr = Object.fromEntries(ROLES.map((r) => [r, privateKeyToAccount(keys[r]).address])) as Record<Role, Address>
    const d = await deployVeridex({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      deployerKey: keys.deployer,
      sequencer: addr.sequencer,
      proposer: addr.proposer,
      moduleRoot: MODULE_ROOT,
      genesisMachineRoot: GENESIS_MACHINE_ROOT,
      genesisOutboxRoot: GENESIS_OUTBOX_ROOT,
      challengePeriodSeconds: p.challengePeriod ?? 100n,
      bondWei: p.bond ?? parseEther('1'),
      forceInclusionDelaySeconds: p.forceInclusionDelay ?? 3600n,
      maxTimeVariationSeconds: p.maxTimeVariation ?? 3600n,
      moduleConstants: MODULE_CONSTANTS,
      withoutDisputeGame: p.withoutDisputeGame,
    })
    const cache = new Map<Role, ReturnType<Fixture['as']>>()
    const mined = async (hash: Promise<Hex> | Hex) => {
      const receipt = await pub.waitForTransactionReceipt({ hash: await hash })
      expect(receipt.status).to.equal('success')
      return receipt
    }
    return {
      anvil,
      d,
      pub,
      testClient,
      addr,
      as: (role) => {
        if (!cache.has(role)) cache.set(role, contractsFor(d, walletPair(pub, anvil.rpcUrl, anvil.chainId, keys[role])))
        return cache.get(role)!
      },
      mined,
      latestTimestamp: async () => (await pub.getBlock()).timestamp,
      advance: async (seconds) => {
        await testClient.increaseTime({ seconds })
        await testClient.mine({ blocks: 1 })
      },
    }
  } catch (e) {
    await anvil.stop()
    throw e
  }
}

/** keccak256(header ‖ data) of a batch, header = afterDelayedCount u64 ‖ timestamp u64 (§4). */
const batchHash = (afterDelayedCount: bigint, timestamp: bigint, data: Hex) =>
  keccak256(encodePacked(['uint64', 'uint64', 'bytes'], [afterDelayedCount, timestamp, data]))

/** batchAcc[i] = keccak256(batchAcc[i-1] ‖ keccak256(header ‖ data) ‖ D_i) (§6). */
const nextBatchAcc = (prev: Hex, messageHash: Hex, delayedAcc: Hex) =>
  keccak256(encodePacked(['bytes32', 'bytes32', 'bytes32'], [prev, messageHash, delayedAcc]))

/** A delayed message's bytes: kind u8 ‖ sender ‖ timestamp u64 ‖ payload (§5). */
const delayedMessage = (kind: number, sender: Address, timestamp: bigint, payload: Hex) =>
  encodePacked(['uint8', 'address', 'uint64', 'bytes'], [kind, sender, timestamp, payload])

/** delayedAcc[j] = keccak256(delayedAcc[j-1] ‖ keccak256(message_j)) (§6). */
const nextDelayedAcc = (prev: Hex, message: Hex) => keccak256(encodePacked(['bytes32', 'bytes32'], [prev, keccak256(message)]))

const stateRoot = (machineRoot: Hex, inboxPosition: bigint, outbox: Hex) =>
  keccak256(encodePacked(['bytes32', 'bytes32', 'uint64', 'bytes32'], [MODULE_ROOT, machineRoot, inboxPosition, outbox]))

const bytesOf = (n: number, seed: number): Hex => bytesToHex(Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + 7) & 0xff))

// -----------------------------------------------------------------------------------------------

describe('contracts: build', () => {
  it('writes an artifact per contract, typed exports, and keeps deployed code under 24,576 bytes', async () => {
    const r = await buildContracts()
    expect(r.cached, 'a second build with unchanged sources must come from the stamp').to.equal(true)
    for (const name of CONTRACTS) expect(r.contracts).to.include(name)
    const outDir = path.join(import.meta.dirname, '..', 'contracts', 'out')
    for (const name of CONTRACTS) {
      const art = JSON.parse(await readFile(path.join(outDir, `${name}.json`), 'utf8')) as { abi: unknown[]; bytecode: Hex; deployedBytecode: Hex }
      expect(art.abi.length, name).to.be.greaterThan(0)
      expect(art.bytecode, name).to.match(/^0x[0-9a-f]+$/)
      const size = (art.deployedBytecode.length - 2) / 2
      expect(size, `${name} deployed bytecode`).to.be.greaterThan(100).and.below(MAX_DEPLOYED_BYTECODE)
      const exported = A as unknown as Record<string, unknown>
      expect(exported[`${camelName(name)}Bytecode`], name).to.equal(art.bytecode)
      expect(exported[`${camelName(name)}Abi`], name).to.deep.equal(art.abi)
    }
    expect(existsSync(path.join(outDir, '.build-stamp'))).to.equal(true)
  })

  it('fails with the solc errors listed, and refuses code over the EIP-170 limit', async function () {
    this.timeout(120_000)
    const dir = await mkdtemp(path.join(tmpdir(), 'veridex-build-'))
    try {
      const srcDir = path.join(dir, 'src')
      const outDir = path.join(dir, 'out')
      await mkdir(srcDir)
      await writeFile(path.join(srcDir, 'Broken.sol'), '// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\ncontract Broken { function f() external { undefinedThing(); } }\n')
      const warnings: string[] = []
      const onWarning = (w: string) => warnings.push(w)
      const broken = await buildContracts({ srcDir, outDir, onWarning }).then(() => undefined, (e: Error) => e)
      expect(broken?.message).to.match(/failed with 1 error/).and.match(/Undeclared identifier/).and.match(/Broken\.sol/)

      await rm(path.join(srcDir, 'Broken.sol'))
      const blob = 'ab'.repeat(MAX_DEPLOYED_BYTECODE + 100)
      await writeFile(path.join(srcDir, 'Huge.sol'), `// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\ncontract Huge { function blob() external pure returns (bytes memory) { return hex"${blob}"; } }\n`)
      const huge = await buildContracts({ srcDir, outDir, onWarning }).then(() => undefined, (e: Error) => e)
      expect(huge?.message).to.match(/over the 24576-byte limit/).and.match(/Huge \(src\/Huge\.sol\): \d+ bytes/)
      expect(warnings.join('\n')).to.match(/Contract code size/)
      expect(existsSync(path.join(outDir, 'artifacts.ts')), 'nothing is written on failure').to.equal(false)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('names exports in camelCase', () => {
    expect(camelName('SequencerInbox')).to.equal('sequencerInbox')
    expect(camelName('IRollup')).to.equal('iRollup')
    expect(camelName('ERC20Mock')).to.equal('erc20Mock')
  })
})

describe('contracts: outbox tree helper', () => {
  /** Independent reference: pad to a power of two, hash the full tree, then climb with zero hashes. */
  function naiveRoot(leaves: Hex[]): Hex {
    const zero: Hex[] = [zeroHash]
    for (let i = 0; i < 32; i++) zero.push(keccak256(concat([zero[i]!, zero[i]!])))
    let height = 0
    while (2 ** height < leaves.length) height++
    let level = [...leaves, ...Array<Hex>(2 ** height - leaves.length).fill(zeroHash)]
    for (let h = 0; h < height; h++) level = level.flatMap((_, i) => (i % 2 === 0 ? [keccak256(concat([level[i]!, level[i + 1]!]))] : []))
    let node = leaves.length === 0 ? zeroHash : level[0]!
    for (let h = height; h < 32; h++) node = keccak256(concat([node, zero[h]!]))
    return node
  }

  it('leaf hashes the 52-byte preimage of docs/protocol.md §7', () => {
    const l2 = '0x1111111111111111111111111111111111111111'
    const to = '0x2222222222222222222222222222222222222222'
    expect(outboxLeaf(l2, to, 1, 123456789n)).to.equal(keccak256(outboxLeafPreimage(l2, to, 1, 123456789n)))
    expect(outboxLeafPreimage(l2, to, 1, 123456789n).length).to.equal(52)
  })

  it('roots match a naive full-tree computation, and every proof folds back to the root', () => {
    expect(outboxRoot([])).to.equal(naiveRoot([]))
    for (const n of [1, 2, 3, 4, 5, 8, 13, 33]) {
      const leaves = Array.from({ length: n }, (_, i) => keccak256(toHex(`leaf ${i}`)))
      const tree = new OutboxTree(leaves)
      expect(tree.root, `n=${n}`).to.equal(naiveRoot(leaves))
      expect(outboxRoot(leaves)).to.equal(tree.root)
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        expect(proof).to.have.length(32)
        expect(rootFromProof(leaves[i]!, i, proof), `n=${n} i=${i}`).to.equal(tree.root)
        expect(outboxProof(leaves, i)).to.deep.equal(proof)
      }
      expect(() => tree.proof(n)).to.throw(RangeError)
    }
  })
})

describe('contracts: SequencerInbox', function () {
  this.timeout(120_000)
  let f: Fixture
  before(async () => {
    f = await setup({ forceInclusionDelay: 3600n, maxTimeVariation: 3600n })
  })
  after(async () => f?.anvil.stop())

  /** Posts the next batch as the sequencer, with the given timestamp (default: latest block's). */
  async function postBatch(data: Hex, afterDelayedCount: bigint, timestamp?: bigint) {
    const c = await f.as('sequencer')
    const n = await c.inbox.read.batchCount()
    const ts = timestamp ?? (await f.latestTimestamp())
    return f.mined(c.inbox.write.addSequencerBatch([n, data, afterDelayedCount, ts]))
  }

  it('deploys, wires the inbox to the bridge, and round-trips the deployment file', async () => {
    const c = await f.as('user')
    expect(await c.inbox.read.bridge()).to.equal(f.d.bridge)
    expect(await c.inbox.read.sequencer()).to.equal(f.addr.sequencer)
    expect(await c.bridge.read.inbox()).to.equal(f.d.inbox)
    expect(await c.bridge.read.rollup()).to.equal(f.d.rollup)
    expect(await c.bridge.read.collateral()).to.equal(f.d.collateral)
    expect(await c.rollup.read.inbox()).to.equal(f.d.inbox)
    expect(await c.rollup.read.disputeGame()).to.equal(f.d.disputeGame)
    expect(await c.disputeGame.read.rollup()).to.equal(f.d.rollup)
    expect(await c.disputeGame.read.osp()).to.equal(f.d.oneStepProofEntry)
    expect(await c.disputeGame.read.degree()).to.equal(16n)
    expect(await c.collateral.read.decimals()).to.equal(6)
    expect(await c.collateral.read.symbol()).to.equal('vUSD')
    const code = await f.pub.getCode({ address: f.d.inbox, blockNumber: f.d.deployBlock - 1n })
    expect(code ?? '0x', 'nothing deployed before deployBlock').to.equal('0x')

    const dir = await mkdtemp(path.join(tmpdir(), 'veridex-deploy-'))
    try {
      const file = path.join(dir, 'deployment.json')
      await writeDeployment(file, f.d)
      expect(JSON.parse(await readFile(file, 'utf8')).deployBlock).to.equal(f.d.deployBlock.toString())
      expect(await readDeployment(file)).to.deep.equal(f.d)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }

    await expectRevert(c.inbox.write.initialize([f.addr.user]), 'NotDeployer')
    await expectRevert((await f.as('deployer')).inbox.write.initialize([f.addr.user]), 'AlreadyInitialized')
  })

  it('accepts batches only from the sequencer', async () => {
    const c = await f.as('user')
    const ts = await f.latestTimestamp()
    await expectRevert(c.inbox.write.addSequencerBatch([0n, '0x00', 0n, ts]), 'NotSequencer')
    expect(await c.inbox.read.batchCount()).to.equal(0n)
  })

  it('accumulates batches exactly as docs/protocol.md §6 says, recoverable from calldata', async () => {
    const c = await f.as('sequencer')
    const data = concat(['0x00', bytesOf(300, 1)])
    const ts = await f.latestTimestamp()
    const receipt = await postBatch(data, 0n, ts)

    // Two independent encodings of the batch message: viem's encodePacked and sdk/protocol.ts.
    const messageHash = batchHash(0n, ts, data)
    expect(keccak256(batchMessage({ afterDelayedCount: 0n, timestamp: ts }, Buffer.from(data.slice(2), 'hex')))).to.equal(messageHash)
    const acc0 = nextBatchAcc(zeroHash, messageHash, zeroHash)
    expect(await c.inbox.read.batchAccs([0n])).to.equal(acc0)
    expect(await c.inbox.read.batchInfo([0n])).to.deep.equal([acc0, 0n, ts])

    const [event] = parseEventLogs({ abi: A.sequencerInboxAbi, logs: receipt.logs, eventName: 'BatchDelivered' })
    expect(event!.args).to.deep.equal({ batchIndex: 0n, beforeAcc: zeroHash, afterAcc: acc0, afterDelayedCount: 0n, timestamp: ts, forced: false })

    // Readers recover the data from the transaction, not from the event.
    const tx = await f.pub.getTransaction({ hash: receipt.transactionHash })
    const call = decodeFunctionData({ abi: A.sequencerInboxAbi, data: tx.input })
    expect(call.functionName).to.equal('addSequencerBatch')
    expect(call.args![1]).to.equal(data)

    // An empty batch chains on the first.
    await postBatch('0x', 0n, ts)
    const acc1 = nextBatchAcc(acc0, batchHash(0n, ts, '0x'), zeroHash)
    expect(await c.inbox.read.batchAccs([1n])).to.equal(acc1)
    expect(await c.inbox.read.batchCount()).to.equal(2n)
  })

  it('refuses a wrong sequence number, so a retried post cannot land twice', async () => {
    const c = await f.as('sequencer')
    const ts = await f.latestTimestamp()
    await expectRevert(c.inbox.write.addSequencerBatch([1n, '0x00', 0n, ts]), 'BadSequenceNumber', [2n, 1n])
    await expectRevert(c.inbox.write.addSequencerBatch([3n, '0x00', 0n, ts]), 'BadSequenceNumber', [2n, 3n])
    await expectRevert(c.inbox.write.addSequencerBatch([2n, bytesOf(120_001, 2), 0n, ts]), 'BatchTooLarge', [120_001n, 120_000n])
    expect(await c.inbox.read.batchCount()).to.equal(2n)
  })

  it('enqueues L2 messages from anyone, within the payload limits, with matching accumulators', async () => {
    const c = await f.as('user')
    await expectRevert(c.inbox.write.sendL2Message(['0x']), 'EmptyPayload')
    await expectRevert(c.inbox.write.sendL2Message([bytesOf(257, 3)]), 'PayloadTooLarge', [257n, 256n])

    let prev: Hex = zeroHash
    for (const [i, payload] of [bytesOf(70, 4), bytesOf(256, 5)].entries()) {
      const receipt = await f.mined(c.inbox.write.sendL2Message([payload]))
      const { timestamp } = await f.pub.getBlock({ blockNumber: receipt.blockNumber })
      const message = delayedMessage(2, f.addr.user, timestamp, payload)
      expect(message).to.equal(
        bytesToHex(encodeDelayedMessage({ kind: 2, sender: f.addr.user, timestamp, payload: Buffer.from(payload.slice(2), 'hex') })),
      )
      const acc = nextDelayedAcc(prev, message)
      expect(await c.inbox.read.delayedAccs([BigInt(i)])).to.equal(acc)
      expect(await c.inbox.read.delayedTimestamp([BigInt(i)])).to.equal(timestamp)
      const [event] = parseEventLogs({ abi: A.sequencerInboxAbi, logs: receipt.logs, eventName: 'DelayedMessage' })
      expect(event!.args).to.deep.equal({ index: BigInt(i), beforeAcc: prev, kind: 2, sender: f.addr.user, timestamp, payload })
      prev = acc
    }
    expect(await c.inbox.read.delayedCount()).to.equal(2n)
  })

  it('turns ERC-20 and ETH deposits into escrowed DEPOSIT messages', async () => {
    const c = await f.as('user')
    const to = f.addr.other
    await f.mined(c.collateral.write.mint([f.addr.user, 5_000_000_000n]))
    await f.mined(c.collateral.write.approve([f.d.bridge, 5_000_000_000n]))

    const deposits = [
      { send: () => c.bridge.write.depositERC20([to, 1_234_500_000n]), asset: 0, amount: 1_234_500_000n },
      { send: () => c.bridge.write.depositETH([to], { value: parseEther('1.5') }), asset: 1, amount: 1_500_000_000n },
    ]
    for (const dep of deposits) {
      const index = await c.inbox.read.delayedCount()
      const prev = await c.inbox.read.delayedAccs([index - 1n])
      const receipt = await f.mined(dep.send())
      const { timestamp } = await f.pub.getBlock({ blockNumber: receipt.blockNumber })
      const payload = encodePacked(['address', 'uint32', 'uint64'], [to, dep.asset, dep.amount])
      expect(payload).to.equal(bytesToHex(encodeDepositPayload(to, dep.asset, dep.amount)))
      // The sender is the depositor, not the bridge: the L2 attributes the deposit to them.
      const message = delayedMessage(1, f.addr.user, timestamp, payload)
      expect(await c.inbox.read.delayedAccs([index])).to.equal(nextDelayedAcc(prev, message))
      const [delayed] = parseEventLogs({ abi: A.sequencerInboxAbi, logs: receipt.logs, eventName: 'DelayedMessage' })
      expect(delayed!.args).to.deep.equal({ index, beforeAcc: prev, kind: 1, sender: f.addr.user, timestamp, payload })
      const [initiated] = parseEventLogs({ abi: A.bridgeAbi, logs: receipt.logs, eventName: 'DepositInitiated' })
      expect(initiated!.args).to.deep.equal({ index, from: f.addr.user, to, asset: dep.asset, amount: dep.amount })
    }
    expect(await c.collateral.read.balanceOf([f.d.bridge])).to.equal(1_234_500_000n)
    expect(await f.pub.getBalance({ address: f.d.bridge })).to.equal(parseEther('1.5'))

    await expectRevert(c.bridge.write.depositETH([to], { value: GWEI + 1n }), 'EthNotGweiMultiple', [GWEI + 1n])
    await expectRevert(c.bridge.write.depositETH([to], { value: 0n }), 'ZeroAmount')
    await expectRevert(c.bridge.write.depositERC20([to, 0n]), 'ZeroAmount')
    await expectRevert(c.bridge.write.depositERC20([to, 2n ** 64n]), 'AmountTooLarge', [2n ** 64n])
    await expectRevert(c.bridge.write.depositETH(['0x0000000000000000000000000000000000000000'], { value: GWEI }), 'ZeroRecipient')
    expect(await c.inbox.read.delayedCount()).to.equal(4n)
  })

  it('accepts deposit messages only from the bridge', async () => {
    const c = await f.as('user')
    const payload = encodePacked(['address', 'uint32', 'uint64'], [f.addr.user, 0, 10n ** 18n])
    await expectRevert(c.inbox.write.deliverFromBridge([f.addr.user, payload]), 'NotBridge')
  })

  it('bounds afterDelayedCount between totalDelayedRead and delayedCount', async () => {
    const c = await f.as('sequencer')
    const ts = await f.latestTimestamp()
    const n = await c.inbox.read.batchCount()
    await expectRevert(c.inbox.write.addSequencerBatch([n, '0x00', 5n, ts]), 'AfterDelayedCountTooHigh', [4n, 5n])

    const prev = await c.inbox.read.batchAccs([n - 1n])
    await postBatch('0x00', 2n, ts)
    // D_i is the delayed accumulator after the last message the batch consumes.
    const expected = nextBatchAcc(prev, batchHash(2n, ts, '0x00'), await c.inbox.read.delayedAccs([1n]))
    expect(await c.inbox.read.batchAccs([n])).to.equal(expected)
    expect(await c.inbox.read.totalDelayedRead()).to.equal(2n)

    await expectRevert(c.inbox.write.addSequencerBatch([n + 1n, '0x00', 1n, ts]), 'AfterDelayedCountTooLow', [2n, 1n])
  })

  it('keeps batch timestamps monotonic and within maxTimeVariation of L1 time', async () => {
    const c = await f.as('sequencer')
    // Let L1 time run ahead of the last batch, so a stale timestamp can still be >= the previous one.
    await f.advance(7200)
    const now = await f.latestTimestamp()
    const n = await c.inbox.read.batchCount()
    expect((await c.inbox.read.lastBatchTimestamp()) < now - 3600n - 120n).to.equal(true)
    await expectRevert(c.inbox.write.addSequencerBatch([n, '0x00', 2n, now - 3600n - 120n]), 'TimestampTooOld')
    await expectRevert(c.inbox.write.addSequencerBatch([n, '0x00', 2n, now + 3600n + 120n]), 'TimestampTooFarInFuture')
    await expectRevert(c.inbox.write.addSequencerBatch([n, '0x00', 2n, 2n ** 64n - 1n]), 'TimestampTooFarInFuture')

    await postBatch('0x00', 2n, now + 60n)
    expect(await c.inbox.read.lastBatchTimestamp()).to.equal(now + 60n)
    await expectRevert(c.inbox.write.addSequencerBatch([n + 1n, '0x00', 2n, now]), 'TimestampBeforePrevious', [now + 60n, now])
    await postBatch('0x00', 2n, now + 60n) // equal is fine
  })

  it('lets anyone force in ignored delayed messages after the delay, as an empty forced batch', async () => {
    const user = await f.as('user')
    const receipt = await f.mined(user.inbox.write.sendL2Message([bytesOf(40, 6)]))
    const { timestamp: sentAt } = await f.pub.getBlock({ blockNumber: receipt.blockNumber })
    const count = await user.inbox.read.delayedCount() // 5: messages 2..4 are unread

    await expectRevert(user.inbox.write.forceInclusion([count]), 'ForceInclusionTooSoon', [sentAt + 3600n])
    await expectRevert(user.inbox.write.forceInclusion([2n]), 'NothingToForce', [2n, 2n])
    await expectRevert(user.inbox.write.forceInclusion([count + 1n]), 'AfterDelayedCountTooHigh', [count, count + 1n])

    await f.advance(3600)
    const n = await user.inbox.read.batchCount()
    const prev = await user.inbox.read.batchAccs([n - 1n])
    const forced = await f.mined(user.inbox.write.forceInclusion([count]))
    const { timestamp: blockTs } = await f.pub.getBlock({ blockNumber: forced.blockNumber })
    const [, , last] = await user.inbox.read.batchInfo([n - 1n])
    const ts = blockTs > last ? blockTs : last
    const acc = nextBatchAcc(prev, batchHash(count, ts, '0x'), await user.inbox.read.delayedAccs([count - 1n]))
    const [event] = parseEventLogs({ abi: A.sequencerInboxAbi, logs: forced.logs, eventName: 'BatchDelivered' })
    expect(event!.args).to.deep.equal({ batchIndex: n, beforeAcc: prev, afterAcc: acc, afterDelayedCount: count, timestamp: ts, forced: true })
    expect(await user.inbox.read.batchInfo([n])).to.deep.equal([acc, count, ts])
    expect(await user.inbox.read.totalDelayedRead()).to.equal(count)

    // The sequencer's stale post (built before the forced batch) now reverts instead of un-reading.
    const seq = await f.as('sequencer')
    const now = await f.latestTimestamp()
    await expectRevert(seq.inbox.write.addSequencerBatch([n, '0x00', 2n, now]), 'BadSequenceNumber', [n + 1n, n])
    await expectRevert(seq.inbox.write.addSequencerBatch([n + 1n, '0x00', 2n, now]), 'AfterDelayedCountTooLow', [count, 2n])
    await expectRevert(user.inbox.write.forceInclusion([count]), 'NothingToForce', [count, count])
    await postBatch('0x00', count, now)
  })
})

describe('contracts: Rollup', function () {
  this.timeout(120_000)
  const BOND = parseEther('1')
  let f: Fixture
  before(async () => {
    f = await setup({ challengePeriod: 100n, bond: BOND, withoutDisputeGame: true })
    const seq = await f.as('sequencer')
    for (let i = 0n; i < 3n; i++) await f.mined(seq.inbox.write.addSequencerBatch([i, '0x00', 0n, await f.latestTimestamp()]))
  })
  after(async () => f?.anvil.stop())

  const root = (s: string) => keccak256(toHex(s))

  it('starts from a confirmed genesis assertion and computes state roots per docs/protocol.md §9', async () => {
    const c = await f.as('user')
    expect(await c.rollup.read.assertionCount()).to.equal(1n)
    expect(await c.rollup.read.latestConfirmed()).to.equal(0n)
    expect(await c.rollup.read.isConfirmed([0n])).to.equal(true)
    expect(await c.rollup.read.moduleRoot()).to.equal(MODULE_ROOT)
    expect(await c.rollup.read.challengePeriod()).to.equal(100n)
    expect(await c.rollup.read.bond()).to.equal(BOND)
    const genesis = await c.rollup.read.getAssertion([0n])
    expect(genesis.stateRoot).to.equal(stateRoot(GENESIS_MACHINE_ROOT, 0n, GENESIS_OUTBOX_ROOT))
    expect(genesis.status).to.equal(2) // Confirmed
    expect(await c.rollup.read.confirmedOutboxRoot([0n])).to.equal(GENESIS_OUTBOX_ROOT)
    expect(await c.rollup.read.computeStateRoot([root('m'), 7n, root('o')])).to.equal(stateRoot(root('m'), 7n, root('o')))
  })

  it('takes assertions only from validators, with exactly the bond, over posted batches', async () => {
    const user = await f.as('user')
    const p = await f.as('proposer')
    await expectRevert(user.rollup.write.createAssertion([0n, root('m1'), 1n, root('o1'), 100n], { value: BOND }), 'NotValidator', [f.addr.user])
    await expectRevert(p.rollup.write.createAssertion([0n, root('m1'), 1n, root('o1'), 100n], { value: BOND / 2n }), 'WrongBond', [BOND, BOND / 2n])
    await expectRevert(p.rollup.write.createAssertion([0n, root('m1'), 1n, root('o1'), 100n]), 'WrongBond', [BOND, 0n])
    await expectRevert(p.rollup.write.createAssertion([0n, root('m1'), 0n, root('o1'), 100n], { value: BOND }), 'InboxPositionNotAfterParent', [0n, 0n])
    await expectRevert(p.rollup.write.createAssertion([0n, root('m1'), 4n, root('o1'), 100n], { value: BOND }), 'InboxPositionBeyondInbox', [3n, 4n])
    await expectRevert(p.rollup.write.createAssertion([9n, root('m1'), 1n, root('o1'), 100n], { value: BOND }), 'UnknownAssertion', [9n])
    await expectRevert(p.rollup.write.createAssertion([0n, root('m1'), 1n, root('o1'), 0n], { value: BOND }), 'ZeroSteps')
    expect(await user.rollup.read.assertionCount()).to.equal(1n)
  })

  it('confirms only after the challenge period, and refunds the bond to the proposer', async () => {
    const p = await f.as('proposer')
    const user = await f.as('user')
    const receipt = await f.mined(p.rollup.write.createAssertion([0n, root('m1'), 1n, root('o1'), 100n], { value: BOND }))
    const [created] = parseEventLogs({ abi: A.rollupAbi, logs: receipt.logs, eventName: 'AssertionCreated' })
    const sr = stateRoot(root('m1'), 1n, root('o1'))
    expect(created!.args).to.deep.equal({
      id: 1n,
      parentId: 0n,
      stateRoot: sr,
      machineRoot: root('m1'),
      inboxPosition: 1n,
      outboxRoot: root('o1'),
      proposer: f.addr.proposer,
      steps: 100n,
    })
    const a = await user.rollup.read.getAssertion([1n])
    const { timestamp } = await f.pub.getBlock({ blockNumber: receipt.blockNumber })
    expect(a).to.deep.include({ parentId: 0n, stateRoot: sr, proposer: f.addr.proposer, bond: BOND, status: 1, createdAt: timestamp, steps: 100n })
    expect(await user.rollup.read.challengeDeadline([1n])).to.equal(timestamp + 100n)
    expect(await f.pub.getBalance({ address: f.d.rollup })).to.equal(BOND)

    await expectRevert(user.rollup.write.confirmAssertion([1n]), 'ChallengePeriodNotOver', [timestamp + 100n])
    await expectRevert(user.rollup.read.confirmedOutboxRoot([1n]), 'NotConfirmed', [1n])

    await f.advance(100)
    const before = await f.pub.getBalance({ address: f.addr.proposer })
    const confirmed = await f.mined(user.rollup.write.confirmAssertion([1n]))
    expect(await f.pub.getBalance({ address: f.addr.proposer })).to.equal(before + BOND)
    expect(await f.pub.getBalance({ address: f.d.rollup })).to.equal(0n)
    const [event] = parseEventLogs({ abi: A.rollupAbi, logs: confirmed.logs, eventName: 'AssertionConfirmed' })
    expect(event!.args).to.deep.equal({ id: 1n, stateRoot: sr, outboxRoot: root('o1') })
    expect(await user.rollup.read.isConfirmed([1n])).to.equal(true)
    expect(await user.rollup.read.latestConfirmed()).to.equal(1n)
    expect(await user.rollup.read.confirmedOutboxRoot([1n])).to.equal(root('o1'))
    await expectRevert(user.rollup.write.confirmAssertion([1n]), 'NotPending', [1n])
  })

  it('refuses an identical assertion twice (a proposer retry cannot create a blocking twin)', async () => {
    const p = await f.as('proposer')
    await f.mined(p.rollup.write.createAssertion([1n, root('m2'), 2n, root('o2'), 100n], { value: BOND }))
    await expectRevert(p.rollup.write.createAssertion([1n, root('m2'), 2n, root('o2'), 100n], { value: BOND }), 'AssertionExists', [2n])
  })

  it('blocks confirmation of competing siblings and disputed assertions until the game settles them', async () => {
    const owner = await f.as('deployer')
    const user = await f.as('user')
    const v2 = await f.as('validator2')
    const game = await f.as('game')
    const p = await f.as('proposer')

    await expectRevert(user.rollup.write.setValidator([f.addr.validator2, true]), 'OwnableUnauthorizedAccount', [f.addr.user])
    await f.mined(owner.rollup.write.setValidator([f.addr.validator2, true]))
    await f.mined(v2.rollup.write.createAssertion([1n, root('m3'), 2n, root('o3'), 100n], { value: BOND })) // id 3, sibling of 2
    await f.mined(p.rollup.write.createAssertion([2n, root('m4'), 3n, root('o4'), 100n], { value: BOND })) // id 4, child of 2
    await f.mined(v2.rollup.write.createAssertion([3n, root('m5'), 3n, root('o5'), 100n], { value: BOND })) // id 5, child of 3

    // Only the dispute game may open, close or reject, and it is wired in once, by the owner.
    await expectRevert(user.rollup.write.rejectAssertion([3n, f.addr.user]), 'NotDisputeGame')
    await expectRevert(user.rollup.write.disputeOpened([2n]), 'NotDisputeGame')
    await expectRevert(user.rollup.write.disputeClosed([2n]), 'NotDisputeGame')
    await expectRevert(user.rollup.write.setDisputeGame([f.addr.user]), 'OwnableUnauthorizedAccount', [f.addr.user])
    await f.mined(owner.rollup.write.setDisputeGame([f.addr.game]))
    await expectRevert(owner.rollup.write.setDisputeGame([f.addr.user]), 'DisputeGameAlreadySet')

    // Two games over assertion 2, opened before its deadline; each must be closed.
    await f.mined(game.rollup.write.disputeOpened([2n]))
    const opened = await f.mined(game.rollup.write.disputeOpened([2n]))
    const [openedEvent] = parseEventLogs({ abi: A.rollupAbi, logs: opened.logs, eventName: 'DisputeOpened' })
    expect(openedEvent!.args).to.deep.equal({ id: 2n, games: 2n })
    expect(await user.rollup.read.openDisputes([2n])).to.equal(2n)
    await expectRevert(game.rollup.write.disputeClosed([4n]), 'NoOpenDispute', [4n])

    await f.advance(100)
    const deadline4 = await user.rollup.read.challengeDeadline([4n])
    await expectRevert(game.rollup.write.disputeOpened([4n]), 'ChallengeDeadlinePassed', [deadline4])
    await expectRevert(user.rollup.write.confirmAssertion([2n]), 'AssertionInDispute', [2n])
    await expectRevert(user.rollup.write.confirmAssertion([3n]), 'CompetingSiblings', [1n])
    await expectRevert(user.rollup.write.confirmAssertion([4n]), 'ParentNotConfirmed', [2n])

    const recipient = getAddress('0x00000000000000000000000000000000000000b0')
    const rejected = await f.mined(game.rollup.write.rejectAssertion([3n, recipient]))
    const [event] = parseEventLogs({ abi: A.rollupAbi, logs: rejected.logs, eventName: 'AssertionRejected' })
    expect(event!.args).to.deep.equal({ id: 3n, bondRecipient: recipient })
    expect(await f.pub.getBalance({ address: recipient })).to.equal(BOND)
    expect((await user.rollup.read.getAssertion([3n])).status).to.equal(3) // Rejected
    expect(await user.rollup.read.rejectedBondRecipient([3n])).to.equal(recipient)
    await expectRevert(game.rollup.write.rejectAssertion([3n, recipient]), 'NotPending', [3n])
    await expectRevert(v2.rollup.write.createAssertion([3n, root('m6'), 3n, root('o6'), 100n], { value: BOND }), 'ParentRejected', [3n])

    // The rejected assertion's descendants fall with it, their bonds following its bond.
    await expectRevert(user.rollup.write.rejectDescendant([4n]), 'ParentNotRejected', [2n])
    const fell = await f.mined(user.rollup.write.rejectDescendant([5n]))
    const [fellEvent] = parseEventLogs({ abi: A.rollupAbi, logs: fell.logs, eventName: 'AssertionRejected' })
    expect(fellEvent!.args).to.deep.equal({ id: 5n, bondRecipient: recipient })
    expect(await f.pub.getBalance({ address: recipient })).to.equal(2n * BOND)
    await expectRevert(user.rollup.write.rejectDescendant([5n]), 'NotPending', [5n])

    // A rejected (parent, root) pair can be asserted again, e.g. with a corrected step count.
    await f.mined(v2.rollup.write.createAssertion([1n, root('m3'), 2n, root('o3'), 200n], { value: BOND })) // id 6
    await expectRevert(v2.rollup.write.createAssertion([1n, root('m3'), 2n, root('o3'), 300n], { value: BOND }), 'AssertionExists', [6n])
    await f.mined(game.rollup.write.rejectAssertion([6n, recipient]))

    // The siblings are gone, but the open games still hold assertion 2 back.
    await expectRevert(user.rollup.write.confirmAssertion([2n]), 'AssertionInDispute', [2n])
    await f.mined(game.rollup.write.disputeClosed([2n]))
    await expectRevert(user.rollup.write.confirmAssertion([2n]), 'AssertionInDispute', [2n])
    await f.mined(game.rollup.write.disputeClosed([2n]))
    await expectRevert(game.rollup.write.disputeClosed([2n]), 'NoOpenDispute', [2n])
    await f.mined(user.rollup.write.confirmAssertion([2n]))
    await f.mined(user.rollup.write.confirmAssertion([4n]))
    expect(await user.rollup.read.latestConfirmed()).to.equal(4n)
    // Bonds of 1, 2 and 4 went back to their proposer and 3's, 5's and 6's to the recipient: nothing is left.
    expect(await f.pub.getBalance({ address: f.d.rollup })).to.equal(0n)
    expect(await f.pub.getBalance({ address: recipient })).to.equal(3n * BOND)
  })
})

describe('contracts: Bridge withdrawals', function () {
  this.timeout(120_000)
  const BOND = parseEther('0.1')
  const alice = getAddress('0x000000000000000000000000000000000000a11c')
  const bob = getAddress('0x0000000000000000000000000000000000000b0b')
  const recipient1 = getAddress('0x00000000000000000000000000000000000000c1')
  const recipient2 = getAddress('0x00000000000000000000000000000000000000c2')
  const recipient3 = getAddress('0x00000000000000000000000000000000000000c3')
  const withdrawals = [
    { l2Sender: alice, to: recipient1, asset: 0, amount: 250_000_000n },
    { l2Sender: alice, to: recipient2, asset: 1, amount: 500_000_000n }, // 0.5 ETH in gwei
    { l2Sender: bob, to: recipient1, asset: 0, amount: 1n },
    { l2Sender: bob, to: recipient3, asset: 7, amount: 5n },
  ] as const
  const leaves = withdrawals.map((w) => outboxLeaf(w.l2Sender, w.to, w.asset, w.amount))
  const tree = new OutboxTree(leaves)
  let f: Fixture

  const finalize = async (i: number, overrides: Partial<{ index: bigint; amount: bigint; proof: Hex[]; assertion: bigint }> = {}) => {
    const c = await f.as('other')
    const w = withdrawals[i]!
    return c.bridge.write.finalizeWithdrawal([
      overrides.assertion ?? 1n,
      overrides.index ?? BigInt(i),
      w.l2Sender,
      w.to,
      w.asset,
      overrides.amount ?? w.amount,
      overrides.proof ?? tree.proof(i),
    ])
  }

  before(async () => {
    f = await setup({ challengePeriod: 50n, bond: BOND })
    const user = await f.as('user')
    await f.mined(user.collateral.write.mint([f.addr.user, 1_000_000_000n]))
    await f.mined(user.collateral.write.approve([f.d.bridge, 1_000_000_000n]))
    await f.mined(user.bridge.write.depositERC20([alice, 1_000_000_000n]))
    await f.mined(user.bridge.write.depositETH([alice], { value: parseEther('2') }))
    const seq = await f.as('sequencer')
    await f.mined(seq.inbox.write.addSequencerBatch([0n, '0x00', 2n, await f.latestTimestamp()]))
    const p = await f.as('proposer')
    await f.mined(p.rollup.write.createAssertion([0n, keccak256(toHex('m')), 1n, tree.root, 100n], { value: BOND }))
  })
  after(async () => f?.anvil.stop())

  it('refuses to pay against an assertion that is not confirmed', async () => {
    await expectRevert(finalize(0), 'NotConfirmed', [1n])
    await expectRevert(finalize(0, { assertion: 5n }), 'NotConfirmed', [5n])
    await f.advance(50)
    await f.mined((await f.as('user')).rollup.write.confirmAssertion([1n]))
  })

  it('pays a collateral withdrawal exactly once', async () => {
    const c = await f.as('other')
    const receipt = await f.mined(finalize(0))
    expect(await c.collateral.read.balanceOf([recipient1])).to.equal(250_000_000n)
    expect(await c.collateral.read.balanceOf([f.d.bridge])).to.equal(750_000_000n)
    const [event] = parseEventLogs({ abi: A.bridgeAbi, logs: receipt.logs, eventName: 'WithdrawalFinalized' })
    expect(event!.args).to.deep.equal({ index: 0n, to: recipient1, asset: 0, amount: 250_000_000n })
    expect(await c.bridge.read.isSpent([0n])).to.equal(true)
    expect(await c.bridge.read.isSpent([1n])).to.equal(false)
    await expectRevert(finalize(0), 'WithdrawalAlreadyFinalized', [0n])
    expect(await c.collateral.read.balanceOf([recipient1])).to.equal(250_000_000n)
  })

  it('pays an ETH withdrawal in wei (gwei quantums × 1e9)', async () => {
    await f.mined(finalize(1))
    expect(await f.pub.getBalance({ address: recipient2 })).to.equal(parseEther('0.5'))
    expect(await f.pub.getBalance({ address: f.d.bridge })).to.equal(parseEther('1.5'))
    await expectRevert(finalize(1), 'WithdrawalAlreadyFinalized', [1n])
  })

  it('rejects wrong proofs, wrong amounts, out-of-range indices and short proofs', async () => {
    const proof = tree.proof(2)
    const tampered = [...proof]
    tampered[5] = keccak256(toHex('tampered'))
    await expectRevert(finalize(2, { proof: tampered }), 'InvalidWithdrawalProof')
    await expectRevert(finalize(2, { amount: 2n }), 'InvalidWithdrawalProof')
    await expectRevert(finalize(2, { index: 3n }), 'InvalidWithdrawalProof')
    // Bits above the depth would otherwise be ignored, replaying index 2 under a fresh spent bit.
    await expectRevert(finalize(2, { index: 2n + 2n ** 32n }), 'WithdrawalIndexOutOfRange', [2n + 2n ** 32n])
    await expectRevert(finalize(2, { proof: proof.slice(0, 31) }), 'InvalidProofLength', [31n])
    const c = await f.as('other')
    expect(await c.bridge.read.isSpent([2n])).to.equal(false)
    await f.mined(finalize(2))
    expect(await c.collateral.read.balanceOf([recipient1])).to.equal(250_000_001n)
  })

  it('refuses an unknown asset and leaves the withdrawal unspent', async () => {
    await expectRevert(finalize(3), 'UnknownAsset', [7])
    expect(await (await f.as('other')).bridge.read.isSpent([3n])).to.equal(false)
  })
})
