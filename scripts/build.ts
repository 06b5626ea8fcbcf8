/**
 * `npm run build`: compiles the Solidity contracts (npm solc) into typed viem artifacts and the
 * AssemblyScript engine into an integer-only engine.wasm. `npm run build -- contracts|engine`
 * builds one of them.
 */
import { buildContracts } from '../contracts/build.js'
import { buildEngine } from '../executor/engine/build.js'

const which = process.argv[2]
const targets = which ? [which] : ['contracts', 'engine']
for (const t of targets) {
  const started = Date.now()
  if (t === 'contracts') {
    const r = await buildContracts()
    console.log(`built contracts: ${r.contracts.join(', ')}${r.cached ? ' (up to date)' : ''} in ${Date.now() - started} ms`)
  } else if (t === 'engine') {
    const r = await buildEngine()
    console.log(`built engine.wasm: ${r.bytes} bytes, integer-only${r.cached ? ' (up to date)' : ''} in ${Date.now() - started} ms`)
  } else {
    console.error(`unknown build target "${t}": use contracts or engine`)
    process.exit(2)
  }
}
