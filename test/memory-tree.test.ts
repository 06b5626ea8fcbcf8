import { expect } from 'chai'
import { keccak256, concat, encodePacked, bytesToHex, type Hex } from 'viem'
import { MemoryMerkleTree, rootFromProof, zeroHashes } from '../executor/vm/moduleMemory.js'
import { globalsHash, machineRoot, stateRoot } from '../executor/vm/stateRoot.js'
import { MEMORY_TREE_DEPTH } from '../sdk/protocol.js'

/** Reference root with viem's keccak: hash every level of the padded memory, then fold zeros. */
function referenceRoot(mem: Uint8Array): Hex {
  let level: Hex[] = []
  for (let i = 0; i < mem.length; i += 32) level.push(bytesToHex(mem.subarray(i, i + 32)))
  let zero: Hex = bytesToHex(new Uint8Array(32))
  for (let k = 0; k < MEMORY_TREE_DEPTH; k++) {
    const next: Hex[] = []
    for (let i = 0; i < level.length; i += 2) next.push(keccak256(concat([level[i]!, level[i + 1] ?? zero])))
    level = next
    zero = keccak256(concat([zero, zero]))
  }
  return level[0]!
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
function prng(seed: number) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x
  }
}

describe('memory Merkle tree', function () {
  this.timeout(120_000)

  it('zero hashes are the roots of all-zero subtrees', () => {
    expect(bytesToHex(zeroHashes[1]!)).to.equal(keccak256(new Uint8Array(64)))
    const mem = new WebAssembly.Memory({ initial: 1 })
    expect(bytesToHex(new MemoryMerkleTree(mem).root())).to.equal(bytesToHex(zeroHashes[MEMORY_TREE_DEPTH]!))
  })

  it('matches a viem reference after random writes, incrementally, across memory growth', () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 8 })
    const tree = new MemoryMerkleTree(mem)
    const rnd = prng(7)
    for (let round = 0; round < 6; round++) {
      if (round === 2) mem.grow(1)
      if (round === 4) mem.grow(2)
      const bytes = new Uint8Array(mem.buffer)
      for (let w = 0; w < 40; w++) bytes[rnd() % bytes.length] = rnd() & 0xff
      const rehashed = tree.update()
      expect(rehashed).to.be.greaterThan(0).and.at.most(40)
      expect(bytesToHex(tree.root())).to.equal(referenceRoot(bytes), `round ${round}`)
      expect(tree.memoryPages).to.equal(bytes.length / 65536)
    }
    expect(tree.update(), 'no writes, nothing rehashed').to.equal(0)
  })

  it('memory growth without a write: the new top levels hash the old memory (regression)', () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 8 })
    new Uint8Array(mem.buffer)[5] = 1
    const tree = new MemoryMerkleTree(mem)
    mem.grow(4)
    tree.update()
    expect(bytesToHex(tree.root())).to.equal(referenceRoot(new Uint8Array(mem.buffer)))
    const { leaf, siblings } = tree.proof(0)
    expect(bytesToHex(rootFromProof(leaf, 0, siblings))).to.equal(bytesToHex(tree.root()))
  })

  it('proves a leaf against the root, and a changed leaf fails', () => {
    const mem = new WebAssembly.Memory({ initial: 3 })
    const bytes = new Uint8Array(mem.buffer)
    bytes.set([1, 2, 3], 70_000)
    const tree = new MemoryMerkleTree(mem)
    const index = Math.floor(70_000 / 32)
    const { leaf, siblings } = tree.proof(index)
    expect(siblings).to.have.length(MEMORY_TREE_DEPTH)
    expect(bytesToHex(rootFromProof(leaf, index, siblings))).to.equal(bytesToHex(tree.root()))
    leaf[0]! ^= 1
    expect(bytesToHex(rootFromProof(leaf, index, siblings))).to.not.equal(bytesToHex(tree.root()))
  })

  it('hashes globals, machine and state roots as docs/protocol.md §9 says', () => {
    const g = [{ type: 'i32', value: 0xffffffffn }, { type: 'i64', value: -1n }] as const
    const expected = keccak256(encodePacked(['uint8', 'uint64', 'uint8', 'uint64'], [0x7f, 0xffffffffn, 0x7e, 2n ** 64n - 1n]))
    expect(bytesToHex(globalsHash([...g]))).to.equal(expected)
    const mr = machineRoot(globalsHash([...g]), zeroHashes[3]!, 17)
    expect(mr).to.equal(keccak256(encodePacked(['bytes32', 'bytes32', 'uint32'], [expected, bytesToHex(zeroHashes[3]!), 17])))
    const parts = { moduleRoot: keccak256('0x01'), machineRoot: mr, inboxPosition: 5n, outboxRoot: keccak256('0x02') }
    expect(stateRoot(parts)).to.equal(
      keccak256(encodePacked(['bytes32', 'bytes32', 'uint64', 'bytes32'], [parts.moduleRoot, parts.machineRoot, 5n, parts.outboxRoot])),
    )
  })
})
