import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isWrError } from '../errors.ts';
import { reconcilerNames } from './names.ts';

it('derives stable names from the reconciler name', () => {
  assert.deepEqual(reconcilerNames('config-app'), {
    fieldManager: 'wasm-reconciler/config-app',
    finalizer: 'wasmreconciler.dev/config-app',
    reportingController: 'wasmreconciler.dev/config-app',
  });
});

it('rejects names that cannot form a qualified finalizer name', () => {
  for (const name of ['', '-x', 'x-', 'a/b', 'a b', 'x'.repeat(64)]) {
    assert.throws(
      () => reconcilerNames(name),
      (err) => isWrError(err, 'WR_SPEC_INVALID'),
      name,
    );
  }
  assert.doesNotThrow(() => reconcilerNames('x'.repeat(63)));
});
