// Unit tests of the off-thread compiler: the same pipeline and errors as in place, off the main thread.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fixture } from '../../../../test/fixtures/guests/wat.ts';
import { sha256Digest } from '../../digest.ts';
import { isWrError } from '../../errors.ts';
import { resolveLimits } from '../limits.ts';
import { compileModule, ModuleLoader } from '../loader.ts';
import { OffThreadCompiler } from './compiler.ts';

describe('OffThreadCompiler', () => {
  const compiler = new OffThreadCompiler({ idleMs: 50 });
  after(() => compiler.close());
  const loader = new ModuleLoader({ compile: compiler.compile });

  it('compiles what compileModule compiles, to a module that instantiates here', async () => {
    const bytes = await fixture('ok');
    const limits = resolveLimits();
    const remote = await loader.load(bytes, limits);
    const local = await compileModule(bytes, sha256Digest(bytes), limits);
    const { module, ...rest } = remote;
    const { module: _, ...expected } = local;
    assert.deepEqual(rest, expected);
    assert.ok(WebAssembly.Module.exports(module).some((e) => e.name === 'wr_reconcile'));
  });

  it('reports the pipeline errors with their codes', async () => {
    await assert.rejects(loader.load(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), resolveLimits()), (err) =>
      isWrError(err, 'WR_MODULE_MALFORMED'),
    );
    await assert.rejects(loader.load(await fixture('bad-version'), resolveLimits()), (err) =>
      isWrError(err, 'WR_MODULE_ABI_VERSION'),
    );
  });

  it('a compile past its deadline ends the thread as WR_MODULE_COMPILE, and the next compile gets a new one', async () => {
    const slow = new OffThreadCompiler({ deadlineMs: 1 });
    try {
      await assert.rejects(slow.compile(await fixture('ok'), 'sha256:x', resolveLimits()), (err: unknown) => {
        assert.ok(isWrError(err, 'WR_MODULE_COMPILE'));
        assert.equal(err.details?.deadlineMs, 1);
        return true;
      });
    } finally {
      await slow.close();
    }
    // The idle thread of the shared compiler went away meanwhile; loading again starts another.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await loader.load(await fixture('noop'), resolveLimits())).hasFinalize, false);
  });
});
