/**
 * withSerialSends (contracts/l1.ts) against a real anvil behind the fault proxy: a transaction
 * whose eth_sendRawTransaction reply is lost counts as sent (no second transaction, no nonce
 * left unused); concurrent sends from one key get consecutive nonces; and after an anvil reorg
 * drops sent transactions, the next send takes the freed nonce instead of leaving a gap.
 */
import { expect } from 'chai'
import type { Hex } from 'viem'
import { startAnvil, type Anvil } from '../contracts/anvil.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { L1FaultProxy, NO_FAULTS } from './helpers/l1FaultProxy.js'

describe('L1 sends through a faulty endpoint', function () {
  this.timeout(60_000)
  let anvil: Anvil
  let proxy: L1FaultProxy
  before(async () => {
    anvil = await startAnvil({})
    proxy = await L1FaultProxy.start(anvil.rpcUrl, NO_FAULTS, 5)
  })
  after(async () => {
    await proxy?.stop()
    await anvil?.stop()
  })

  const cfg = () => ({ rpcUrl: proxy.url, chainId: 31337 })
  const direct = () => l1Public({ rpcUrl: anvil.rpcUrl, chainId: 31337 })

  it('a lost sendRawTransaction reply yields the transaction once, and concurrent sends no gap', async () => {
    proxy.plan = { ...NO_FAULTS, loseFirstSendReply: true }
    const wallet = l1Wallet(cfg(), anvil.privateKeys[1]!, undefined, { sharedNonces: true })
    const me = wallet.account.address
    const hashes = await Promise.all(Array.from({ length: 5 }, () => wallet.sendTransaction({ to: me, value: 1n })))
    expect(proxy.stats.lostSendReplies).to.equal(5)
    const receipts = await Promise.all(hashes.map((hash) => direct().waitForTransactionReceipt({ hash })))
    expect(receipts.every((r) => r.status === 'success')).to.equal(true)
    const nonces = await Promise.all(hashes.map(async (hash) => (await direct().getTransaction({ hash })).nonce))
    expect(nonces).to.deep.equal([0, 1, 2, 3, 4])
    expect(await direct().getTransactionCount({ address: me, blockTag: 'pending' })).to.equal(5)
  })

  it('after a reorg drops sent transactions, the next send reuses the freed nonce', async () => {
    proxy.plan = NO_FAULTS
    const wallet = l1Wallet(cfg(), anvil.privateKeys[2]!, undefined, { sharedNonces: true })
    const me = wallet.account.address
    const sent: Hex[] = []
    for (let i = 0; i < 3; i++) {
      sent.push(await wallet.sendTransaction({ to: me, value: 1n }))
      await direct().waitForTransactionReceipt({ hash: sent.at(-1)! })
    }
    await direct().request({ method: 'anvil_reorg' as never, params: [2, []] as never })
    expect(await direct().getTransactionCount({ address: me })).to.equal(1)
    const hash = await wallet.sendTransaction({ to: me, value: 1n })
    const receipt = await direct().waitForTransactionReceipt({ hash, timeout: 10_000 })
    expect(receipt.status).to.equal('success')
    expect((await direct().getTransaction({ hash })).nonce).to.equal(1)
  })
})
