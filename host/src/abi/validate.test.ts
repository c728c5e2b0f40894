// Unit tests for reconcile output validation: accepted shapes and the JSON path of each rejection.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWrError } from '../errors.ts';
import { OUTPUT_LIMITS } from './constants.ts';
import { type OutputLimits, validateReconcileOutput } from './validate.ts';

function rejects(json: unknown, path: string, limits: OutputLimits = OUTPUT_LIMITS): void {
  assert.throws(
    () => validateReconcileOutput(json, limits),
    (err: unknown) => isWrError(err, 'WR_GUEST_OUTPUT_INVALID') && err.details?.path === path,
  );
}

const cm = (name: string, namespace?: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(namespace ? { namespace } : {}) },
  data: { a: '1' },
});

describe('validateReconcileOutput', () => {
  it('accepts the empty output (no opinion on anything)', () => {
    assert.deepEqual(validateReconcileOutput({}), {});
  });

  it('accepts and returns every field of a full output', () => {
    const out = {
      children: [cm('a', 'ns'), cm('b', 'ns')],
      status: { ready: true, nested: { n: 1 } },
      events: [{ type: 'Normal', reason: 'Synced', message: 'ok' }],
      finalizer: 'ensure',
      requeueAfterMs: 30_000,
      error: { message: 'later', retryable: true },
    };
    assert.deepEqual(validateReconcileOutput(out), out);
  });

  it('rejects non-objects at the root', () => {
    rejects(null, '$');
    rejects([], '$');
    rejects('x', '$');
  });

  it('rejects unknown top-level fields by name', () => rejects({ childs: [] }, '$.childs'));

  it('names the path of a broken child', () => {
    rejects(
      { children: [cm('a'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }] },
      '$.children[1].metadata.name',
    );
    rejects({ children: [{ kind: 'ConfigMap', metadata: { name: 'a' } }] }, '$.children[0].apiVersion');
    rejects(
      { children: [{ ...cm('a'), metadata: { name: 'a', labels: { x: 1 } } }] },
      '$.children[0].metadata.labels.x',
    );
    rejects(
      {
        children: [
          { ...cm('a'), metadata: { name: 'a', ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'n' }] } },
        ],
      },
      '$.children[0].metadata.ownerReferences[0].uid',
    );
    rejects({ children: {} }, '$.children');
  });

  it('rejects two children with one identity but accepts the same name in two namespaces', () => {
    rejects({ children: [cm('a', 'ns'), cm('a', 'ns')] }, '$.children[1]');
    assert.equal(validateReconcileOutput({ children: [cm('a', 'x'), cm('a', 'y')] }).children?.length, 2);
  });

  it('enforces the count limits', () => {
    const limits = { ...OUTPUT_LIMITS, children: 1, events: 1 };
    rejects({ children: [cm('a'), cm('b')] }, '$.children', limits);
    const ev = { type: 'Normal', reason: 'R', message: '' };
    rejects({ events: [ev, ev] }, '$.events', limits);
  });

  it('checks events field by field', () => {
    rejects({ events: [{ type: 'Info', reason: 'R', message: 'm' }] }, '$.events[0].type');
    rejects({ events: [{ type: 'Normal', reason: '', message: 'm' }] }, '$.events[0].reason');
    rejects({ events: [{ type: 'Normal', reason: 'R'.repeat(129), message: 'm' }] }, '$.events[0].reason');
    rejects({ events: [{ type: 'Normal', reason: 'R', message: 'm'.repeat(1025) }] }, '$.events[0].message');
    rejects({ events: [{ type: 'Normal', reason: 'R', message: 'm', note: 'x' }] }, '$.events[0].note');
  });

  it('checks status, finalizer, requeueAfterMs and error', () => {
    rejects({ status: [] }, '$.status');
    rejects({ finalizer: 'keep' }, '$.finalizer');
    rejects({ requeueAfterMs: -1 }, '$.requeueAfterMs');
    rejects({ requeueAfterMs: 1.5 }, '$.requeueAfterMs');
    rejects({ requeueAfterMs: OUTPUT_LIMITS.requeueAfterMsMax + 1 }, '$.requeueAfterMs');
    rejects({ error: { message: 'x' } }, '$.error.retryable');
    rejects({ error: { message: '', retryable: false } }, '$.error.message');
    rejects({ error: { message: 'x', retryable: false, code: 3 } }, '$.error.code');
  });
});
