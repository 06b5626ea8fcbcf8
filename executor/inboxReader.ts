/**
 * Reads the L2's inputs from L1 alone: sequencer batches (their data comes from the posting
 * transaction's calldata, as the contract keeps only a hash) and delayed messages (their bytes
 * come from the DelayedMessage event). Checks every batch against the on-chain accumulator.
 *
 * L1 reorgs: the reader remembers the hash of every block it read an input from and of the last
 * block of every poll. Each poll first checks that the last of them is still on L1; if it is not,
 * it finds the newest one that is (every block before it is then unchanged too, since a block hash
 * commits to its parents), forgets every input read after it, reads again from there, and says so
 * in the poll's `reorg`, so that whoever derived state from the forgotten inputs can undo that.
 */
import { type Address, type Hex, BlockNotFoundError, bytesToHex, decodeFunctionData, hexToBytes, keccak256, concat, zeroHash } from 'viem'
import { sequencerInboxAbi } from '../contracts/out/artifacts.js'
import type { L1Public } from '../contracts/l1.js'
import { encodeDelayedMessage, batchMessage, type BatchHeader } from '../sdk/protocol.js'
import { keccak } from './vm/keccak.js'

export interface L1Batch {
  index: number
  header: BatchHeader
  data: Uint8Array
  forced: boolean
  afterAcc: Hex
  txHash: Hex
  blockNumber: bigint
}

export interface L1DelayedMessage {
  index: number
  kind: number
  sender: Address
  timestamp: bigint
  payload: Uint8Array
  /** The message bytes the engine reads (docs/protocol.md §5). */
  bytes: Uint8Array
  blockNumber: bigint
}

/**
 * What an L1 reorg took back, reported by the poll that noticed it. Every input read from a block
 * after `ancestor` is forgotten, and the poll's batches and delayed messages are read again from
 * there (the same or different ones).
 */
export interface L1Reorg {
  /** The newest block the reader had read that L1 still has. */
  ancestor: bigint
  /** The first batch index forgotten (equal to the count read before, when none was). */
  batch: number
  /** The first delayed message index forgotten (likewise). */
  delayed: number
}

/** A block the reader read, by number and hash. */
interface SeenBlock { number: bigint; hash: Hex }
/** A block number, with its hash when known. */
type BlockRef = { number: bigint; hash: Hex | undefined }

/**
 * Blocks remembered for reorg detection. A reorg that replaces all of them is deeper than any L1
 * finality (one per poll and per input: thousands of blocks), and is reported as an error.
 */
const MAX_SEEN_BLOCKS = 4_096

/** The engine's view of a batch: header ‖ data. */
export const l1BatchMessage = (b: L1Batch) => batchMessage(b.header, b.data)

/**
 * SequencerInbox's batch accumulator (docs/protocol.md): keccak(prevAcc ‖ keccak(header ‖ data)
 * ‖ delayedAcc). The data is ~100 KB, so its hash is the fast keccak (hash-wasm).
 */
export function batchAccumulator(prevAcc: Hex, header: BatchHeader, data: Uint8Array, delayedAcc: Hex): Hex {
  return keccak256(concat([prevAcc, bytesToHex(keccak(batchMessage(header, data))), delayedAcc]))
}

/**
 * How far under L1's head a reader reads: a number of blocks, or one of the labels post-merge
 * Ethereum gives its blocks. `finalized` blocks can be replaced only by breaking L1's consensus
 * (slashing a third of the stake), so nothing read from them is ever taken back; `safe` ones only
 * by an attestation majority changing its mind.
 */
export type L1Confirmations = bigint | 'safe' | 'finalized'

/**
 * Chain ids of local development L1s (anvil and Hardhat 31337, geth --dev and Ganache 1337): one
 * node mines them and nothing reorgs them unless a test asks, so reading at their head is safe.
 */
export const LOCAL_L1_CHAIN_IDS: readonly number[] = [31337, 1337]

/**
 * The reader's depth for a node option: a number of blocks, `safe` or `finalized`. Unset, it is 0
 * on a local development L1 and `finalized` on any other: on a public network a deposit read at
 * the head can be taken back by a reorg after orders that spent it were acknowledged, which the
 * sequencer cannot undo.
 */
export const l1Confirmations = (v: number | 'safe' | 'finalized' | undefined, l1ChainId: number): L1Confirmations =>
  v === undefined ? (LOCAL_L1_CHAIN_IDS.includes(l1ChainId) ? 0n : 'finalized') : typeof v === 'string' ? v : BigInt(v)

/** Block ranges per getLogs call; public RPC endpoints cap ranges, anvil does not care. */
const LOG_RANGE = 5_000n

export class InboxReader {
  private nextBlock: bigint
  private delayedAccs: Hex[] = []
  private lastBatchAcc: Hex = zeroHash
  private nextBatch = 0
  /** Accumulators of the batches read so far, to recognise one an L1 reorg delivered again. */
  private batchAccs: Hex[] = []
  /** The L1 block of each batch and each delayed message read so far (a reorg forgets by block). */
  private batchBlocks: bigint[] = []
  private delayedBlocks: bigint[] = []
  /** Blocks read, ascending: where each input came from and where each poll stopped. */
  private seen: SeenBlock[] = []
  /** Whether `seen` has dropped its oldest blocks (MAX_SEEN_BLOCKS). */
  private seenTrimmed = false
  private readonly fromBlock: bigint
  /** Batches whose data came from opts.knownData (matched by accumulator), not from their calldata. */
  knownDataBatches = 0

  /**
   * @param opts.delayedOnly read only delayed messages (the sequencer's case: it wrote the
   *   batches itself, so fetching their calldata back would be wasted RPC work)
   * @param opts.confirmations read only blocks this many below the head (default 0: up to the
   *   head), or only up to L1's `safe` or `finalized` block. The sequencer waits this long before
   *   it includes a deposit, so an L1 reorg up to that depth cannot take back a deposit a batch
   *   already consumed.
   * @param opts.knownData the data this process believes batch `index` holds (a node's own
   *   sequencer wrote it). It is used only when it yields the accumulator L1 logged for the
   *   batch, which commits to the data's hash, so it is then exactly the posted data; otherwise
   *   the calldata is fetched as usual. This saves fetching and decoding ~100 KB of calldata per
   *   batch on the thread that also answers the node's requests.
   */
  constructor(
    private readonly client: L1Public,
    private readonly inbox: Address,
    fromBlock: bigint,
    private readonly opts: { delayedOnly?: boolean; confirmations?: L1Confirmations; knownData?: (index: number) => Uint8Array | undefined } = {},
  ) {
    this.nextBlock = fromBlock
    this.fromBlock = fromBlock
  }

  /** Whether L1 still has block `b` (a shorter chain no longer has the number at all). */
  private async onL1(b: SeenBlock): Promise<boolean> {
    try {
      return (await this.client.getBlock({ blockNumber: b.number })).hash === b.hash
    } catch (e) {
      if (e instanceof BlockNotFoundError) return false
      throw e
    }
  }

  /**
   * The newest block read that L1 still has, or undefined when the last one read is still there
   * (no reorg touched what was read). Binary search: a block on L1 means all before it are too.
   */
  private async findAncestor(): Promise<bigint | undefined> {
    const seen = this.seen
    if (!seen.length || (await this.onL1(seen[seen.length - 1]!))) return undefined
    if (!(await this.onL1(seen[0]!))) {
      if (this.seenTrimmed) {
        throw new Error(
          `an L1 reorg replaced every block this reader remembers (${seen[0]!.number} to ${seen[seen.length - 1]!.number}), deeper than any L1 finality: check that the L1 RPC endpoint serves the same chain, then restart the node, which reads L1 again from block ${this.fromBlock}`,
        )
      }
      // Deeper than anything read: everything is read again.
      return this.fromBlock - 1n
    }
    // seen[lo] is on L1 and seen[hi] is gone: find the newest on L1.
    let lo = 0
    let hi = seen.length - 1
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (await this.onL1(seen[mid]!)) lo = mid
      else hi = mid
    }
    return seen[lo]!.number
  }

  /**
   * The newest block this reader may read: `confirmations` under the head, or L1's safe or
   * finalized block (with its hash, when it was fetched).
   */
  private async readableUpTo(headBlock: SeenBlock): Promise<BlockRef> {
    const c = this.opts.confirmations ?? 0n
    if (c === 0n) return headBlock
    if (typeof c === 'bigint') return { number: headBlock.number - c, hash: undefined }
    try {
      const b = await this.client.getBlock({ blockTag: c })
      return { number: b.number, hash: b.hash }
    } catch (e) {
      // A young chain has no such block yet (anvil labels none until two epochs are mined).
      if (e instanceof BlockNotFoundError) return { number: this.fromBlock - 1n, hash: undefined }
      throw new Error(`reading L1's ${c} block failed (${(e as Error).message.split('\n')[0]}): this L1 may not label blocks ${c} (pre-merge chains do not); run with --l1-confirmations <blocks> instead`)
    }
  }

  /** Appends a block to a poll's copy of `seen`; true when that dropped the oldest. */
  private static see(seen: SeenBlock[], b: SeenBlock): boolean {
    const last = seen[seen.length - 1]
    if (last && last.number >= b.number) return false
    seen.push(b)
    if (seen.length <= MAX_SEEN_BLOCKS) return false
    seen.splice(0, seen.length - MAX_SEEN_BLOCKS)
    return true
  }

  /**
   * Everything new on L1 up to its head (less `confirmations`, or up to its safe or finalized
   * block), in order; `head` is the real head.
   * After an L1 reorg that replaced blocks already read, `reorg` says what was forgotten, and the
   * inputs returned start again from there.
   */
  async poll(): Promise<{ batches: L1Batch[]; delayed: L1DelayedMessage[]; head: bigint; headTimestamp: bigint; reorg?: L1Reorg }> {
    const ancestor = await this.findAncestor()
    const headBlock = await this.client.getBlock({ blockTag: 'latest' })
    const head = headBlock.number
    const readable = await this.readableUpTo({ number: head, hash: headBlock.hash })
    const upTo = readable.number
    const batches: L1Batch[] = []
    const delayed: L1DelayedMessage[] = []
    // Work on copies: a failed read (RPC error mid-way) must leave the cursor where it was.
    const delayedAccs = [...this.delayedAccs]
    const batchAccs = [...this.batchAccs]
    const batchBlocks = [...this.batchBlocks]
    const delayedBlocks = [...this.delayedBlocks]
    const seen = [...this.seen]
    let trimmed = this.seenTrimmed
    let lastBatchAcc = this.lastBatchAcc
    let nextBatch = this.nextBatch
    let nextBlock = this.nextBlock
    let knownData = 0
    let reorg: L1Reorg | undefined
    if (ancestor !== undefined) {
      // Inputs are read in block order, so those after the ancestor are a suffix of each list.
      const keptBatches = batchBlocks.findIndex((b) => b > ancestor)
      const keptDelayed = delayedBlocks.findIndex((b) => b > ancestor)
      reorg = { ancestor, batch: keptBatches < 0 ? batchAccs.length : keptBatches, delayed: keptDelayed < 0 ? delayedAccs.length : keptDelayed }
      batchAccs.length = batchBlocks.length = nextBatch = reorg.batch
      delayedAccs.length = delayedBlocks.length = reorg.delayed
      lastBatchAcc = batchAccs[reorg.batch - 1] ?? zeroHash
      while (seen.length && seen[seen.length - 1]!.number > ancestor) seen.pop()
      nextBlock = ancestor + 1n
    }
    while (nextBlock <= upTo) {
      const toBlock = nextBlock + LOG_RANGE - 1n < upTo ? nextBlock + LOG_RANGE - 1n : upTo
      const logs = await this.client.getContractEvents({
        address: this.inbox,
        abi: sequencerInboxAbi,
        eventName: this.opts.delayedOnly ? 'DelayedMessage' : undefined,
        fromBlock: nextBlock,
        toBlock,
      })
      for (const log of logs) {
        if (log.eventName === 'DelayedMessage') {
          const a = log.args as { index: bigint; beforeAcc: Hex; kind: number; sender: Address; timestamp: bigint; payload: Hex }
          const index = Number(a.index)
          if (index < delayedAccs.length && a.beforeAcc === (delayedAccs[index - 1] ?? zeroHash)) {
            const again = keccak256(concat([a.beforeAcc, keccak256(encodeDelayedMessage({ kind: Number(a.kind), sender: a.sender, timestamp: a.timestamp, payload: hexToBytes(a.payload) }))]))
            if (again === delayedAccs[index]) continue // the same message again, after an L1 reorg
          }
          if (index !== delayedAccs.length) throw new Error(`delayed message ${index} out of order: expected ${delayedAccs.length}`)
          const payload = hexToBytes(a.payload)
          const bytes = encodeDelayedMessage({ kind: Number(a.kind), sender: a.sender, timestamp: a.timestamp, payload })
          const prev = delayedAccs[index - 1] ?? zeroHash
          if (a.beforeAcc !== prev) throw new Error(`delayed accumulator mismatch at ${index}`)
          delayedAccs.push(keccak256(concat([prev, keccak256(bytes)])))
          delayedBlocks.push(log.blockNumber)
          if (InboxReader.see(seen, { number: log.blockNumber, hash: log.blockHash })) trimmed = true
          delayed.push({ index, kind: Number(a.kind), sender: a.sender, timestamp: a.timestamp, payload, bytes, blockNumber: log.blockNumber })
        } else if (log.eventName === 'BatchDelivered') {
          const a = log.args as { batchIndex: bigint; beforeAcc: Hex; afterAcc: Hex; afterDelayedCount: bigint; timestamp: bigint; forced: boolean }
          const index = Number(a.batchIndex)
          // An L1 reorg that dropped a batch's post makes the sequencer post it again: already read.
          if (index < nextBatch && a.afterAcc === batchAccs[index]) continue
          if (index !== nextBatch) throw new Error(`batch ${index} out of order: expected ${nextBatch}`)
          const header = { afterDelayedCount: a.afterDelayedCount, timestamp: a.timestamp }
          const delayedAcc = header.afterDelayedCount === 0n ? zeroHash : delayedAccs[Number(header.afterDelayedCount) - 1]
          if (!delayedAcc) throw new Error(`batch ${index} reads ${header.afterDelayedCount} delayed messages but only ${delayedAccs.length} are known`)
          let data: Uint8Array = new Uint8Array(0)
          let acc: Hex | undefined
          const known = a.forced ? undefined : this.opts.knownData?.(index)
          if (known && batchAccumulator(lastBatchAcc, header, known, delayedAcc) === a.afterAcc) {
            data = known
            acc = a.afterAcc
            knownData++
          } else if (!a.forced) {
            const tx = await this.client.getTransaction({ hash: log.transactionHash })
            const call = decodeFunctionData({ abi: sequencerInboxAbi, data: tx.input })
            if (call.functionName !== 'addSequencerBatch') throw new Error(`batch ${index} was not posted by addSequencerBatch (tx ${log.transactionHash})`)
            data = hexToBytes(call.args[1] as Hex)
          }
          acc ??= batchAccumulator(lastBatchAcc, header, data, delayedAcc)
          if (acc !== a.afterAcc) throw new Error(`batch ${index}: data from tx ${log.transactionHash} does not match the inbox accumulator`)
          lastBatchAcc = acc
          batchAccs.push(acc)
          batchBlocks.push(log.blockNumber)
          if (InboxReader.see(seen, { number: log.blockNumber, hash: log.blockHash })) trimmed = true
          nextBatch++
          batches.push({ index, header, data, forced: a.forced, afterAcc: acc, txHash: log.transactionHash, blockNumber: log.blockNumber })
        }
      }
      nextBlock = toBlock + 1n
    }
    // Where this poll stopped: the block a reorg check looks at next time.
    if (upTo >= this.fromBlock && (!seen.length || seen[seen.length - 1]!.number < upTo)) {
      const hash = readable.hash ?? (await this.client.getBlock({ blockNumber: upTo })).hash
      if (InboxReader.see(seen, { number: upTo, hash })) trimmed = true
    }
    this.delayedAccs = delayedAccs
    this.batchAccs = batchAccs
    this.batchBlocks = batchBlocks
    this.delayedBlocks = delayedBlocks
    this.seen = seen
    this.seenTrimmed = trimmed
    this.lastBatchAcc = lastBatchAcc
    this.nextBatch = nextBatch
    this.nextBlock = nextBlock
    this.knownDataBatches += knownData
    return { batches, delayed, head, headTimestamp: headBlock.timestamp, reorg }
  }
}

