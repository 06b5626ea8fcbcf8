/**
 * `veridex vm …`: the single-step VM's tools. `vm spec` runs WebAssembly spec-test command files
 * (wast2json output) and ends with the line `N passed, N failed, N skipped`.
 */
import type { Command } from 'commander'

export function registerVm(program: Command): void {
  const vm = program.command('vm').description('the single-step VM: spec conformance and speed')

  vm.command('spec')
    .description('run wast2json spec-test files against the VM (e.g. /work/shared/wasm-spec/*/*.json)')
    .argument('<files...>', 'command files (.json)')
    .option('--verbose', 'list every failure')
    .action(async (files: string[], o: { verbose?: boolean }) => {
      const { runSpecFile } = await import('../executor/vm/spec.js')
      let passed = 0, failed = 0, skipped = 0
      const reasons: Record<string, number> = {}
      for (const f of files) {
        const r = await runSpecFile(f)
        passed += r.passed
        failed += r.failed
        skipped += r.skipped
        for (const [k, v] of Object.entries(r.skipReasons)) reasons[k] = (reasons[k] ?? 0) + v
        const why = Object.entries(r.skipReasons).map(([k, v]) => `${k} ${v}`).join(', ')
        console.log(`${f}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${why ? ` (${why})` : ''}`)
        for (const x of o.verbose ? r.failures : r.failures.slice(0, 5)) console.log(`  FAIL ${x}`)
      }
      const why = Object.entries(reasons).map(([k, v]) => `${k} ${v}`).join(', ')
      if (why) console.log(`skipped: ${why}`)
      console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
      if (failed > 0) process.exitCode = 1
    })

  vm.command('measure')
    .description('interpreter steps/s on engine batches against the native run of the same batch')
    .action(async () => {
      const { measure } = await import('../bench/vmWorkload.js')
      await measure()
    })
}
