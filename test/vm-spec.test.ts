/**
 * The WebAssembly spec suite (integer MVP subset, /work/shared/wasm-spec or WASM_SPEC_DIR)
 * through the VM: nothing fails, and the only skips are float modules and the two pre-multi-value
 * "invalid result arity" assertions of func.wast (docs/vm.md). Text-format modules (`module quote`)
 * are run through wabt and counted, never skipped.
 */
import { expect } from 'chai'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runSpecFile } from '../executor/vm/spec.js'
import { quotedModuleAt } from '../executor/vm/specText.js'

const DIR = process.env.WASM_SPEC_DIR ?? '/work/shared/wasm-spec'

describe('vm spec suite', () => {
  const files = existsSync(DIR)
    ? readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(DIR, d.name, `${d.name}.json`)).filter(existsSync)
    : []

  it('has the suite', function () {
    if (files.length === 0) this.skip()
    expect(files.length).to.be.greaterThan(20)
  })

  for (const file of files) {
    it(file.split('/').pop()!, async () => {
      const r = await runSpecFile(file)
      expect(r.failures, r.failures.join('\n')).to.deep.equal([])
      expect(r.failed).to.equal(0)
      for (const reason of Object.keys(r.skipReasons)) expect(['float', 'superseded by multi-value']).to.include(reason)
      expect(r.skipReasons['text format']).to.equal(undefined)
      if (file.endsWith('/func.json')) expect(r.skipReasons['superseded by multi-value'] ?? 0).to.be.at.most(2)
      else expect(r.skipReasons['superseded by multi-value']).to.equal(undefined)
      // endianness and unreachable use floats in their only module: everything there is skipped
      expect(r.passed + r.skipped).to.be.greaterThan(0)
    })
  }
})

describe('vm spec runner: text-format modules', () => {
  it('reads (module quote …) from the .wast at the command line: escapes resolved, strings concatenated', () => {
    const wast = ';; x\n(assert_malformed\n  (module $m quote (; c ;) "(func $f\\t(nop))"\n    "(export \\"\\41\\u{62}\\" (func $f))")\n  "x")\n'
    const text = new TextDecoder().decode(quotedModuleAt(new TextEncoder().encode(wast), 3))
    expect(text).to.equal('(func $f\t(nop))(export "Ab" (func $f))')
    expect(() => quotedModuleAt(new TextEncoder().encode(wast), 2)).to.throw(/expected "\(module quote"/)
  })

  it('counts text commands by wabt then the loader: no silent passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vm-spec-text-'))
    try {
      // [command, quoted text, expected reason]; as in wast2json's output, a command's line is its (module line
      const cases: [string, string, string][] = [
        ['assert_malformed', '(func (i32.const 0xg) drop)', 'unknown operator'], // wabt rejects: pass
        ['assert_malformed', '(func (i32.const 1) drop)', 'unexpected token'], // well formed: fail
        ['assert_invalid', '(func (result i32))', 'type mismatch'], // our validator rejects: pass
        ['assert_invalid', '(func (result i32) (i32.const 1))', 'type mismatch'], // valid: fail
        ['assert_invalid', '(func (result i32))', 'unknown label'], // invalid for another reason: fail
        ['assert_invalid', '(func (result f32))', 'type mismatch'], // floats: skip
        ['assert_invalid', '(func (i32.const 0xg) drop)', 'type mismatch'], // not even parsable: fail
        ['assert_invalid', '(memory 1)(func (drop (i32.load offset=4294967296 (i32.const 0))))', 'offset out of range'], // pass
      ]
      const wast = cases.map(([t, text, why]) => `(${t}\n  (module quote ${JSON.stringify(text)}) ${JSON.stringify(why)})`).join('\n')
      const commands = cases.map(([t, , why], i) => ({ type: t, line: 2 * i + 2, filename: `t.${i}.wat`, text: why, module_type: 'text' }))
      writeFileSync(join(dir, 't.wast'), wast + '\n')
      writeFileSync(join(dir, 't.json'), JSON.stringify({ source_filename: 't.wast', commands }))
      // a .wat beside the command file wins over the .wast: this one is well formed, so the first command fails
      writeFileSync(join(dir, 't.0.wat'), '(module (func))')
      const r = await runSpecFile(join(dir, 't.json'))
      expect(r.failures.map((f) => (Number(/:(\d+) /.exec(f)![1]) - 2) / 2), r.failures.join('\n')).to.deep.equal([0, 1, 3, 4, 6])
      expect(r.passed).to.equal(2)
      expect(r.skipReasons).to.deep.equal({ float: 1 })
      rmSync(join(dir, 't.0.wat'))
      const again = await runSpecFile(join(dir, 't.json'))
      expect(again.passed).to.equal(3)
      expect(again.failed).to.equal(4)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
