/** Batch framing on the native host: re-heading an empty open batch leaves no trace. */
import { expect } from 'chai'
import { keccak256 } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { NativeEngine } from '../executor/engine/host.js'
import { devnetGenesis, BTC_PERP } from '../cli/config.js'
import { ResultCode, batchMessage, encodeGenesis, type OraclePriceMsg } from '../sdk/protocol.js'
import { signItem } from '../sdk/sign.js'

describe('native engine batch framing', () => {
  it('an empty open batch re-headed later equals one opened with the last header', async () => {
    const oracle = privateKeyToAccount(generatePrivateKey())
    const stranger = privateKeyToAccount(generatePrivateKey())
    const genesis = devnetGenesis(oracle.address)
    const load = async () => {
      const e = await NativeEngine.load({ delayed: () => { throw new Error('no delayed messages here') } })
      e.init(encodeGenesis(genesis))
      return e
    }
    const price = (signer: typeof oracle, message: OraclePriceMsg) => signItem(signer, genesis.chainId, { kind: 'OraclePrice', message })
    const good = await price(oracle, { market: BTC_PERP.id, price: 60_000_000_000n, timestamp: 7n })
    const bad = await price(stranger, { market: BTC_PERP.id, price: 60_000_000_000n, timestamp: 7n })

    const a = await load()
    a.beginBatch({ afterDelayedCount: 0n, timestamp: 100n })
    expect(a.execItem(bad).code).to.equal(ResultCode.NOT_ORACLE)
    expect(() => a.beginBatch({ afterDelayedCount: 0n, timestamp: 99n }), 'time cannot move back').to.throw(/timestamp back/)
    a.beginBatch({ afterDelayedCount: 0n, timestamp: 250n })
    expect(a.execItem(good).code).to.equal(ResultCode.OK)
    expect(() => a.beginBatch({ afterDelayedCount: 0n, timestamp: 300n }), 'not once it holds an item').to.throw(/holding items/)
    const { data } = a.endBatch()

    const b = await load()
    b.runBatch(batchMessage({ afterDelayedCount: 0n, timestamp: 250n }, data))
    expect(keccak256(new Uint8Array(a.memory.buffer))).to.equal(keccak256(new Uint8Array(b.memory.buffer)))
    expect(a.globals()).to.deep.equal(b.globals())
    expect(a.markPrice(BTC_PERP.id)).to.equal(60_000_000_000n)
  })
})
