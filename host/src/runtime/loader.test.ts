// Unit tests for the module loader: size limit, digest, ABI contract checks, compile errors and caching.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixture, watToWasm } from '../../../test/fixtures/guests/wat.ts';
import { sha256Digest as digestOf } from '../digest.ts';
import { type ErrorCode, isWrError } from '../errors.ts';
import { resolveLimits } from './limits.ts';
import { ModuleLoader } from './loader.ts';

const limits = resolveLimits();

/** A complete v1 guest whose parts can be swapped out one at a time. */
function guest(parts: { imports?: string; memory?: string; exports?: string; extra?: string } = {}): string {
  return `(module
    ${parts.imports ?? ''}
    ${parts.memory ?? '(memory (export "memory") 1)'}
    ${
      parts.exports ??
      `(func (export "wr_abi_version_1"))
       (func (export "wr_alloc") (param i32) (result i32) (i32.const 1024))
       (func (export "wr_init") (param i32 i32) (result i32) (i32.const 0))
       (func (export "wr_reconcile") (param i32 i32) (result i32) (i32.const 0))`
    }
    ${parts.extra ?? ''})`;
}

async function rejectsWith(wat: string, code: ErrorCode, details?: Record<string, unknown>): Promise<void> {
  const bytes = await watToWasm('case.wat', wat);
  await assert.rejects(new ModuleLoader().load(bytes, limits), (err: unknown) => {
    assert.ok(isWrError(err), String(err));
    assert.equal(err.code, code, err.message);
    for (const [k, v] of Object.entries(details ?? {})) assert.deepEqual(err.details?.[k], v, k);
    return true;
  });
}

describe('ModuleLoader', () => {
  it('compiles a valid guest and names it by the sha256 of the delivered bytes', async () => {
    const bytes = await fixture('ok');
    const compiled = await new ModuleLoader().load(bytes, limits);
    assert.match(compiled.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(compiled.digest, digestOf(bytes));
    assert.equal(compiled.bytes, bytes.length);
    assert.equal(compiled.memoryMaxPages, limits.memoryPages);
    assert.equal(compiled.hasFinalize, false);
  });

  it('rejects modules over the size limit before decoding them', async () => {
    const bytes = new Uint8Array(2048);
    await assert.rejects(new ModuleLoader().load(bytes, { ...limits, moduleBytes: 1024 }), (err: unknown) =>
      isWrError(err, 'WR_MODULE_TOO_LARGE'),
    );
  });

  it('rejects bytes that are not WebAssembly', async () => {
    await assert.rejects(new ModuleLoader().load(new TextEncoder().encode('hello world'), limits), (err: unknown) =>
      isWrError(err, 'WR_MODULE_MALFORMED'),
    );
  });

  it('checks the ABI marker before anything else', async () => {
    await rejectsWith(
      guest({ exports: '(func (export "wr_abi_version_2"))', imports: '(import "x" "y" (func))' }),
      'WR_MODULE_ABI_VERSION',
      {
        declared: ['wr_abi_version_2'],
      },
    );
    await rejectsWith(
      guest({ exports: '(func (export "wr_alloc") (param i32) (result i32) (i32.const 0))' }),
      'WR_MODULE_ABI_VERSION',
      {
        declared: [],
      },
    );
  });

  it('accepts only known `wr` functions with their exact signatures', async () => {
    await rejectsWith(
      guest({ imports: '(import "env" "abort" (func (param i32 i32 i32 i32)))' }),
      'WR_MODULE_FORBIDDEN_IMPORT',
      {
        module: 'env',
        name: 'abort',
      },
    );
    await rejectsWith(guest({ imports: '(import "wr" "exec" (func))' }), 'WR_MODULE_FORBIDDEN_IMPORT', {
      name: 'exec',
    });
    await rejectsWith(guest({ imports: '(import "wr" "log" (func (param i32 i32)))' }), 'WR_MODULE_FORBIDDEN_IMPORT', {
      name: 'log',
      expected: '(i32, i32, i32) -> ()',
      actual: '(i32, i32) -> ()',
    });
    await rejectsWith(guest({ imports: '(import "wr" "now_ms" (global i32))' }), 'WR_MODULE_FORBIDDEN_IMPORT', {
      kind: 'global',
    });
    await rejectsWith(
      guest({ imports: '(import "wr" "memory" (memory 1))', memory: '' }),
      'WR_MODULE_FORBIDDEN_IMPORT',
    );
  });

  it('requires the memory and function exports with their signatures', async () => {
    await rejectsWith(guest({ memory: '(memory 1)' }), 'WR_MODULE_MISSING_EXPORT', { export: 'memory' });
    const base = `(func (export "wr_abi_version_1"))
      (func (export "wr_init") (param i32 i32) (result i32) (i32.const 0))
      (func (export "wr_reconcile") (param i32 i32) (result i32) (i32.const 0))`;
    await rejectsWith(guest({ exports: base }), 'WR_MODULE_MISSING_EXPORT', { export: 'wr_alloc' });
    await rejectsWith(
      guest({ exports: `${base} (func (export "wr_alloc") (param i64) (result i32) (i32.const 0))` }),
      'WR_MODULE_MISSING_EXPORT',
      { export: 'wr_alloc', actual: '(i64) -> (i32)' },
    );
    await rejectsWith(
      guest({
        exports: `${base} (func (export "wr_alloc") (param i32) (result i32) (i32.const 0))
          (func (export "wr_finalize") (param i32) (result i32) (i32.const 0))`,
      }),
      'WR_MODULE_MISSING_EXPORT',
      { export: 'wr_finalize' },
    );
  });

  it('detects wr_finalize and the effective memory cap', async () => {
    const wat = guest({
      memory: '(memory (export "memory") 1 8)',
      extra: '(func (export "wr_finalize") (param i32 i32) (result i32) (i32.const 0))',
    });
    const compiled = await new ModuleLoader().load(await watToWasm('fin.wat', wat), limits);
    assert.equal(compiled.hasFinalize, true);
    assert.equal(compiled.memoryMaxPages, 8);
  });

  it('passes on the instrumentation verdicts: memory policy and the reserved fuel export', async () => {
    await rejectsWith(guest({ memory: '(memory (export "memory") 300)' }), 'WR_MODULE_MEMORY');
    await rejectsWith(
      guest({ extra: '(global (export "__wr_fuel") (mut i32) (i32.const 0))' }),
      'WR_MODULE_RESERVED_EXPORT',
    );
  });

  it('refuses a module V8 does not validate as WR_MODULE_MALFORMED, with V8 message, before rewriting it', async () => {
    const wat = guest({ extra: '(func $bad (result i32) (i64.const 1))' });
    const bytes = await watToWasm('bad.wat', wat, { validate: false });
    await assert.rejects(new ModuleLoader().load(bytes, limits), (err: unknown) => {
      assert.ok(isWrError(err, 'WR_MODULE_MALFORMED'), String(err));
      assert.match(String(err.details?.v8), /i64|type/);
      return true;
    });
  });

  it('caches by digest and limits, and shares one compile between concurrent loads', async () => {
    const loader = new ModuleLoader();
    const bytes = await fixture('ok');
    const [a, b] = await Promise.all([loader.load(bytes, limits), loader.load(bytes, limits)]);
    assert.equal(a, b);
    assert.equal(await loader.load(bytes.slice(), limits), a);
    const other = await loader.load(bytes, { ...limits, fuel: 1000 });
    assert.notEqual(other, a);
    assert.equal(other.digest, a.digest);
  });

  it('evicts the least recently used module beyond the entry bound', async () => {
    const loader = new ModuleLoader({ cacheEntries: 1 });
    const ok = await fixture('ok');
    const first = await loader.load(ok, limits);
    await loader.load(await fixture('trap'), limits);
    assert.notEqual(await loader.load(ok, limits), first);
  });
});
