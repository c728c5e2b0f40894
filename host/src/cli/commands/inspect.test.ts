import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../../../../test/fixtures/guests/wat.ts';
import { sha256Digest } from '../../digest.ts';
import { runCli } from '../testing/run-cli.ts';
import { inspectFile } from './inspect.ts';

let dir: string;
let ok: string;
let okBytes: Uint8Array;
let missingExport: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wr-inspect-'));
  okBytes = await fixture('ok');
  ok = join(dir, 'ok.wasm');
  await writeFile(ok, okBytes);
  missingExport = join(dir, 'missing-export.wasm');
  await writeFile(missingExport, await fixture('missing-export'));
  await writeFile(join(dir, 'text.wasm'), 'not wasm');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('inspect', () => {
  it('reports the ABI version, signatures, limits, digest and that the host loads it', async () => {
    const r = await inspectFile(ok);
    assert.equal(r.digest, sha256Digest(okBytes));
    assert.equal(r.bytes, okBytes.length);
    assert.equal(r.abiVersion, 1);
    assert.deepEqual(r.imports, [
      { module: 'wr', name: 'set_output', kind: 'function', signature: '(i32, i32) -> ()' },
    ]);
    assert.deepEqual(
      r.exports.find((e) => e.name === 'wr_reconcile'),
      { name: 'wr_reconcile', kind: 'function', signature: '(i32, i32) -> (i32)' },
    );
    assert.deepEqual(r.memories, [{ min: 1, imported: false }]);
    assert.deepEqual(r.tables, []);
    assert.equal(r.load.ok, true);
  });

  it('prints the text report and exits 0', async () => {
    const r = await runCli(['inspect', ok]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ABI {10}v1$/m);
    assert.match(r.stdout, new RegExp(`^digest {7}${sha256Digest(okBytes)}$`, 'm'));
    assert.match(r.stdout, /^ {2}wr\.set_output {2}function \(i32, i32\) -> \(\)$/m);
    const json = await runCli(['inspect', '--json', ok]);
    assert.equal(JSON.parse(json.stdout).abiVersion, 1);
  });

  it('exits 1 with the loader code for a module the host would refuse', async () => {
    const r = await runCli(['inspect', missingExport]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^loads {8}no: WR_MODULE_MISSING_EXPORT: /m);
  });

  it('exits 3 for a missing file or a file that is not a module, saying what to give', async () => {
    const missing = await runCli(['inspect', join(dir, 'nope.wasm')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no such file: .*nope\.wasm\n {2}give the path of a module \(\.wasm\)/);
    const text = await runCli(['inspect', join(dir, 'text.wasm')]);
    assert.equal(text.code, 3);
    assert.match(
      text.stderr,
      /is not a module this host can decode: WR_MODULE_MALFORMED: .*\n {2}build it with wr-as-build/,
    );
  });

  it('exits 2 on usage errors and 0 on --help and --version', async () => {
    assert.equal((await runCli(['inspect'])).code, 2);
    assert.equal((await runCli(['inspect', '--bogus', ok])).code, 2);
    const help = await runCli(['inspect', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes: 0 /);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^wasm-reconciler \d+\.\d+\.\d+ \(host ABI v1, Node v\d+/);
  });
});
