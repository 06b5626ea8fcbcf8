/**
 * Compiles every contracts/src/**\/*.sol with the npm `solc` package (solc-js) and writes, to
 * contracts/out/:
 *   - <Name>.json: { abi, bytecode, deployedBytecode } for every contract, library and interface;
 *   - artifacts.ts: `export const <name>Abi = [...] as const` and `<name>Bytecode`, so viem infers
 *     the types of every call;
 *   - .build-stamp: the input hash, so an unchanged tree is not recompiled (solc-js takes seconds).
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** EIP-170: the largest deployable runtime code. */
export const MAX_DEPLOYED_BYTECODE = 24_576

const CONTRACTS_DIR = path.dirname(fileURLToPath(import.meta.url))
/** Bump when the shape of the outputs changes, so old stamps stop matching. */
const FORMAT = 1

const require = createRequire(import.meta.url)

export interface BuildResult {
  /** Names of the contracts written to contracts/out, sorted. */
  contracts: string[]
  /** True if nothing changed since the last build and solc was not run. */
  cached: boolean
}

export interface BuildOptions {
  /** Solidity sources; default contracts/src. Source units are named `src/<path below it>`. */
  srcDir?: string
  /** Where artifacts go; default contracts/out. */
  outDir?: string
  /** Receives each solc warning about our own sources; default console.warn. */
  onWarning?: (message: string) => void
}

export interface ContractArtifact {
  abi: unknown[]
  bytecode: `0x${string}`
  deployedBytecode: `0x${string}`
}

interface SolcError {
  severity: 'error' | 'warning' | 'info'
  type: string
  formattedMessage?: string
  message: string
  sourceLocation?: { file: string }
}

interface SolcOutput {
  errors?: SolcError[]
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
}

const packageVersion = (name: string): string => (require(`${name}/package.json`) as { version: string }).version

function settings(viaIR: boolean, sources: string[]) {
  return {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    viaIR,
    // Only our own sources: OpenZeppelin's contracts are compiled but not emitted.
    outputSelection: Object.fromEntries(sources.map((s) => [s, { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] }])),
  }
}

async function listSources(dir: string, rel = 'src'): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    const name = `${rel}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await listSources(full, name)))
    else if (entry.isFile() && entry.name.endsWith('.sol')) out.push(name)
  }
  return out.sort()
}

/** Resolves an import solc could not find among the sources (`@openzeppelin/...`) to a file. */
function findImport(baseDir: string, importPath: string): { contents: string } | { error: string } {
  const candidates = [path.join(baseDir, importPath)]
  const slash = importPath.startsWith('@') ? importPath.indexOf('/', importPath.indexOf('/') + 1) : importPath.indexOf('/')
  if (slash > 0) {
    try {
      const pkgDir = path.dirname(require.resolve(`${importPath.slice(0, slash)}/package.json`))
      candidates.push(path.join(pkgDir, importPath.slice(slash + 1)))
    } catch {
      // not an installed package
    }
  }
  for (const file of candidates) {
    // solc-js's callback is synchronous.
    if (existsSync(file)) return { contents: readFileSync(file, 'utf8') }
  }
  return { error: `import "${importPath}" not found (looked in ${candidates.join(', ')})` }
}

/** `SequencerInbox` → `sequencerInbox`, `IRollup` → `iRollup`, `ERC20Mock` → `erc20Mock`. */
export function camelName(name: string): string {
  const run = /^[A-Z]+/.exec(name)?.[0] ?? ''
  if (run.length <= 1) return name.charAt(0).toLowerCase() + name.slice(1)
  const next = name.charAt(run.length)
  const keep = next >= 'a' && next <= 'z' ? run.length - 1 : run.length
  return name.slice(0, keep).toLowerCase() + name.slice(keep)
}

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, data)
  await rename(tmp, file)
}

function compile(
  solc: { compile: (input: string, cb: object) => string },
  baseDir: string,
  sources: Record<string, { content: string }>,
  viaIR: boolean,
): SolcOutput {
  const input = { language: 'Solidity', sources, settings: settings(viaIR, Object.keys(sources)) }
  return JSON.parse(solc.compile(JSON.stringify(input), { import: (p: string) => findImport(baseDir, p) })) as SolcOutput
}

const formatError = (e: SolcError) => (e.formattedMessage ?? `${e.type}: ${e.message}`).trim()

/** Compiles contracts/src into contracts/out, or does nothing if the inputs are unchanged. */
export async function buildContracts(opts: BuildOptions = {}): Promise<BuildResult> {
  const srcDir = path.resolve(opts.srcDir ?? path.join(CONTRACTS_DIR, 'src'))
  const outDir = path.resolve(opts.outDir ?? path.join(CONTRACTS_DIR, 'out'))
  const stampFile = path.join(outDir, '.build-stamp')
  const baseDir = path.dirname(srcDir)
  const names = await listSources(srcDir)
  if (names.length === 0) throw new Error(`no Solidity sources under ${srcDir}`)
  const sources: Record<string, { content: string }> = {}
  for (const n of names) sources[n] = { content: await readFile(path.join(srcDir, n.slice('src/'.length)), 'utf8') }

  const solcVersion = packageVersion('solc')
  const hash = createHash('sha256')
  hash.update(JSON.stringify({ FORMAT, solcVersion, oz: packageVersion('@openzeppelin/contracts'), settings: settings(false, names) }))
  for (const n of names) hash.update(`\0${n}\0${sources[n]!.content}`)
  const digest = hash.digest('hex')

  try {
    const stamp = JSON.parse(await readFile(stampFile, 'utf8')) as { hash: string; contracts: string[] }
    const complete = existsSync(path.join(outDir, 'artifacts.ts')) && stamp.contracts.every((c) => existsSync(path.join(outDir, `${c}.json`)))
    if (stamp.hash === digest && complete) return { contracts: stamp.contracts, cached: true }
  } catch {
    // no stamp yet, or unreadable: rebuild
  }

  const solc = (await import('solc')).default as { compile: (input: string, cb: object) => string; version: () => string }
  if (!solc.version().startsWith(solcVersion)) throw new Error(`solc package ${solcVersion} reports compiler ${solc.version()}`)

  let output = compile(solc, baseDir, sources, false)
  let errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  // The legacy pipeline is easier to audit; fall back to the IR pipeline only when it is needed.
  if (errors.some((e) => /stack too deep/i.test(e.message))) {
    output = compile(solc, baseDir, sources, true)
    errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  }
  if (errors.length > 0) {
    throw new Error(`solc ${solc.version()} failed with ${errors.length} error(s):\n\n${errors.map(formatError).join('\n\n')}`)
  }
  const warnings = (output.errors ?? []).filter((e) => e.severity === 'warning' && (!e.sourceLocation || e.sourceLocation.file in sources))
  for (const w of warnings) (opts.onWarning ?? console.warn)(formatError(w))

  const artifacts = new Map<string, ContractArtifact & { source: string }>()
  const tooLarge: string[] = []
  for (const [source, contracts] of Object.entries(output.contracts ?? {})) {
    for (const [name, c] of Object.entries(contracts)) {
      const prior = artifacts.get(name)
      if (prior) throw new Error(`contract name ${name} is defined in both ${prior.source} and ${source}: names must be unique`)
      for (const obj of [c.evm.bytecode.object, c.evm.deployedBytecode.object]) {
        if (!/^[0-9a-f]*$/i.test(obj)) throw new Error(`${source}:${name} needs library linking, which this build does not support: make library functions internal`)
      }
      const size = c.evm.deployedBytecode.object.length / 2
      if (size > MAX_DEPLOYED_BYTECODE) tooLarge.push(`${name} (${source}): ${size} bytes`)
      artifacts.set(name, { source, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` })
    }
  }
  if (tooLarge.length > 0) {
    throw new Error(`deployed bytecode over the ${MAX_DEPLOYED_BYTECODE}-byte limit (EIP-170):\n  ${tooLarge.join('\n  ')}`)
  }

  const contractNames = [...artifacts.keys()].sort()
  await mkdir(outDir, { recursive: true })
  for (const file of await readdir(outDir)) {
    if (file.endsWith('.json') && !artifacts.has(file.slice(0, -5))) await rm(path.join(outDir, file))
  }
  let ts = `// Generated by contracts/build.ts from contracts/src with solc ${solc.version()}. Do not edit.\n`
  for (const name of contractNames) {
    const { abi, bytecode, deployedBytecode } = artifacts.get(name)!
    await writeAtomic(path.join(outDir, `${name}.json`), `${JSON.stringify({ abi, bytecode, deployedBytecode }, null, 2)}\n`)
    const id = camelName(name)
    ts += `\nexport const ${id}Abi = ${JSON.stringify(abi, null, 2)} as const\n`
    ts += `\nexport const ${id}Bytecode = '${bytecode}' as const\n`
  }
  await writeAtomic(path.join(outDir, 'artifacts.ts'), ts)
  await writeAtomic(stampFile, `${JSON.stringify({ hash: digest, solc: solc.version(), contracts: contractNames })}\n`)
  return { contracts: contractNames, cached: false }
}
