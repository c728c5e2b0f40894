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

  describe('shape bounds', () => {
    /** `{ a: { a: ... { a: leaf } } }`, `levels` objects deep, built without recursion. */
    const nested = (levels: number, leaf: unknown = 1): unknown => {
      let value = leaf;
      for (let i = 0; i < levels; i++) value = { a: value };
      return value;
    };
    const exceeds = (json: unknown, limit: string, pathPrefix: string, limits: OutputLimits = OUTPUT_LIMITS) => {
      assert.throws(
        () => validateReconcileOutput(json, limits),
        (err: unknown) => {
          assert.ok(isWrError(err, 'WR_GUEST_OUTPUT_INVALID'), String(err));
          assert.equal(err.details?.limit, limit);
          assert.equal(err.details?.max, limits[limit as keyof OutputLimits]);
          assert.ok(String(err.details?.path).startsWith(pathPrefix), String(err.details?.path));
          return true;
        },
      );
    };

    it('rejects a 100,000-deep status and a 100,000-deep child spec, naming the path', () => {
      exceeds({ status: nested(100_000) }, 'depth', '$.status.a.a');
      exceeds({ children: [{ ...cm('a'), spec: nested(100_000) }] }, 'depth', '$.children[0].spec.a.a');
      let deepArray: unknown = [];
      for (let i = 0; i < 100_000; i++) deepArray = [deepArray];
      exceeds({ status: { list: deepArray } }, 'depth', '$.status.list[0][0]');
    });

    it('counts depth from the output itself: 64 levels pass, 65 do not', () => {
      // The output is level 1 and status level 2: status and the objects inside it span 63 levels.
      assert.ok(validateReconcileOutput({ status: nested(63) }).status);
      exceeds({ status: nested(64) }, 'depth', '$.status');
      const path = `$.status${'.a'.repeat(63)}`;
      assert.throws(
        () => validateReconcileOutput({ status: nested(64) }),
        (err: unknown) => isWrError(err) && err.details?.path === path,
      );
    });

    it('bounds the number of values, the length of strings and keys, and keys per object', () => {
      const limits = { ...OUTPUT_LIMITS, values: 10, stringChars: 8, objectKeys: 3 };
      exceeds({ status: { list: [1, 2, 3, 4, 5, 6, 7, 8, 9] } }, 'values', '$.status.list', limits);
      assert.ok(validateReconcileOutput({ status: { list: [1, 2, 3, 4, 5, 6, 7] } }, limits));
      exceeds({ status: { s: 'x'.repeat(9) } }, 'stringChars', '$.status.s', limits);
      exceeds({ status: { ['k'.repeat(9)]: 1 } }, 'stringChars', '$.status.kkkkkkkkk', limits);
      exceeds({ status: { a: 1, b: 2, c: 3, d: 4 } }, 'objectKeys', '$.status', limits);
      assert.ok(validateReconcileOutput({ status: { a: 1, b: 2, c: 'x'.repeat(8) } }, limits));
    });

    it('applies the default bounds: a 256 KiB string passes, one more character does not', () => {
      const max = OUTPUT_LIMITS.stringChars;
      assert.ok(validateReconcileOutput({ status: { s: 'x'.repeat(max) } }));
      exceeds({ status: { s: 'x'.repeat(max + 1) } }, 'stringChars', '$.status.s');
      const wide = Object.fromEntries(Array.from({ length: OUTPUT_LIMITS.objectKeys + 1 }, (_, i) => [`k${i}`, i]));
      exceeds({ status: wide }, 'objectKeys', '$.status');
      exceeds({ status: { list: new Array(OUTPUT_LIMITS.values).fill(0) } }, 'values', '$.status.list');
    });

    it('clips a long key in the reported path', () => {
      const key = 'k'.repeat(100_000);
      assert.throws(
        () => validateReconcileOutput({ [key]: 1 }),
        (err: unknown) => isWrError(err) && String(err.details?.path).length < 100 && err.message.length < 200,
      );
    });
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
