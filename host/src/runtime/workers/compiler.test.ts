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
  // Every module on the thread: the fixtures are all small enough to be prepared in place otherwise.
  const compiler = new OffThreadCompiler({ idleMs: 50, inPlaceBytes: 0 });
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
    const slow = new OffThreadCompiler({ deadlineMs: 1, inPlaceBytes: 0 });
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

  it('prepares a module of at most inPlaceBytes in place, to what the thread prepares, and with no deadline', async () => {
    const bytes = await fixture('ok');
    // A 1 ms deadline fails any compile on the thread (the test above): in place there is no thread.
    const inPlace = new OffThreadCompiler({ deadlineMs: 1, inPlaceBytes: bytes.length });
    const threaded = new OffThreadCompiler({ deadlineMs: 1, inPlaceBytes: bytes.length - 1 });
    try {
      const { module, ...prepared } = await inPlace.compile(bytes, 'sha256:x', resolveLimits());
      const { module: _, ...expected } = await compileModule(bytes, 'sha256:x', resolveLimits());
      assert.deepEqual(prepared, expected);
      assert.ok(WebAssembly.Module.exports(module).some((e) => e.name === 'wr_reconcile'));
      await assert.rejects(threaded.compile(bytes, 'sha256:x', resolveLimits()), (err) =>
        isWrError(err, 'WR_MODULE_COMPILE'),
      );
      await assert.rejects(inPlace.compile(await fixture('bad-version'), 'sha256:x', resolveLimits()), (err) =>
        isWrError(err, 'WR_MODULE_ABI_VERSION'),
      );
      // A failure that is not a WrError (here a memory cap past 4 GiB) is what the thread reports for it.
      const broken = { ...resolveLimits(), memoryPages: 70_000 };
      const onThread = new OffThreadCompiler({ inPlaceBytes: 0 });
      try {
        const threadError = await onThread.compile(bytes, 'sha256:x', broken).then(
          () => assert.fail('compiled'),
          (err: unknown) => err,
        );
        assert.ok(isWrError(threadError, 'WR_HOST_INTERNAL'), String(threadError));
        await assert.rejects(inPlace.compile(bytes, 'sha256:x', broken), (err) => {
          assert.ok(isWrError(err, 'WR_HOST_INTERNAL'), String(err));
          assert.equal(err.message, threadError.message);
          return true;
        });
      } finally {
        await onThread.close();
      }
    } finally {
      await inPlace.close();
      await threaded.close();
    }
  });
});
