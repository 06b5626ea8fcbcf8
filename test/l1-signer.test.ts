import { expect } from 'chai'
import { type Hex, type TransactionSerializable, bytesToHex, keccak256, parseTransaction, recoverTransactionAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { keccakHex, l1Account } from '../contracts/l1Signer.js'
import { startAnvil } from '../contracts/anvil.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { rng } from './helpers/rng.js'

describe('the L1 account (hash-wasm transaction hash, large ones on the signer thread) signs exactly as viem', () => {
  it('legacy, EIP-2930 and EIP-1559 transactions with 0 B to 120 KB of calldata: same bytes as privateKeyToAccount', async () => {
    const r = rng(11)
    const to = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
    for (const size of [0, 1, 31, 32, 33, 1_000, 65_537, 120_000]) {
      const key = generatePrivateKey()
      const data = bytesToHex(r.bytes(size))
      const base = { chainId: 31337, nonce: r.int(1_000), to, data, gas: 3_000_000n, value: r.big(10n ** 18n) } as const
      const txs: TransactionSerializable[] = [
        { ...base, type: 'legacy', gasPrice: 7n * 10n ** 9n },
        { ...base, type: 'eip2930', gasPrice: 7n * 10n ** 9n, accessList: [{ address: to, storageKeys: [keccak256('0x01')] }] },
        { ...base, type: 'eip1559', maxFeePerGas: 2n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n },
      ]
      for (const tx of txs) {
        const ours = await l1Account(key).signTransaction(tx)
        expect(ours, `${tx.type}, ${size} bytes`).to.equal(await privateKeyToAccount(key).signTransaction(tx))
        expect(keccakHex(ours)).to.equal(keccak256(ours))
        expect(await recoverTransactionAddress({ serializedTransaction: ours as never })).to.equal(privateKeyToAccount(key).address)
        expect(parseTransaction(ours).data ?? '0x').to.equal(size ? data : '0x')
      }
    }
  })

  it('20 large transactions signed at once on the signer thread come back each to its caller', async () => {
    const r = rng(12)
    const key = generatePrivateKey()
    const txs: TransactionSerializable[] = Array.from({ length: 20 }, (_, i) => ({
      chainId: 31337, nonce: i, to: '0x5FbDB2315678afecb367f032d93F642f64180aa3', data: bytesToHex(r.bytes(20_000 + i)), gas: 3_000_000n,
      type: 'eip1559', maxFeePerGas: 2n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n,
    }))
    const ours = await Promise.all(txs.map((tx) => l1Account(key).signTransaction(tx)))
    for (const [i, tx] of txs.entries()) expect(ours[i]).to.equal(await privateKeyToAccount(key).signTransaction(tx))
  })

  it('on anvil: a wallet sends 4 KB to 120 KB calldata transactions (viem hands the signer its whole request); mined with the data', async function () {
    this.timeout(60_000)
    const anvil = await startAnvil({})
    try {
      const cfg = { rpcUrl: anvil.rpcUrl, chainId: 31337 }
      for (const sharedNonces of [false, true]) {
        const wallet = l1Wallet(cfg, anvil.privateKeys[2]!, undefined, { sharedNonces })
        for (const size of [4_000, 40_000, 120_000]) {
          const data = bytesToHex(rng(size).bytes(size))
          const hash = await wallet.sendTransaction({ to: wallet.account.address, data, gas: 5_000_000n })
          const receipt = await l1Public(cfg).waitForTransactionReceipt({ hash })
          expect(receipt.status).to.equal('success')
          expect((await l1Public(cfg).getTransaction({ hash })).input).to.equal(data)
        }
      }
    } finally {
      await anvil.stop()
    }
  })

  it('keccakHex equals viem keccak256 on every length 0..200 and on odd-looking hex', () => {
    for (let n = 0; n <= 200; n++) {
      const h = bytesToHex(Uint8Array.from({ length: n }, (_, i) => (i * 13 + n) & 0xff)) as Hex
      expect(keccakHex(h)).to.equal(keccak256(h))
    }
    expect(keccakHex('0xDEADbeef')).to.equal(keccak256('0xdeadbeef'))
  })
})
