/**
 * Genesis: the state roots after `init` on the genesis config, which the Rollup's assertion 0
 * commits to at deployment.
 */
import type { Hex } from 'viem'
import { NativeEngine } from './engine/host.js'
import { StateRootTracker } from './vm/stateRoot.js'
import { encodeGenesis, marketConfigError, type GenesisConfig } from '../sdk/protocol.js'

export interface GenesisRoots { moduleRoot: Hex; machineRoot: Hex; outboxRoot: Hex; stateRoot: Hex }

export async function genesisRoots(genesis: GenesisConfig): Promise<GenesisRoots> {
  for (const [i, m] of genesis.markets.entries()) {
    const err = marketConfigError(m, genesis.markets.slice(0, i))
    if (err) throw new Error(`invalid genesis: ${err}`)
  }
  const engine = await NativeEngine.load({ delayed: () => { throw new Error('genesis reads no delayed messages') } })
  engine.init(encodeGenesis(genesis))
  const r = new StateRootTracker(engine).compute(0n)
  return { moduleRoot: r.moduleRoot, machineRoot: r.machineRoot, outboxRoot: r.outboxRoot, stateRoot: r.stateRoot }
}
