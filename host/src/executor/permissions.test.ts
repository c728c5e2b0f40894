import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWrError } from '../errors.ts';
import { groupOf } from '../kube/gvk.ts';
import { compilePermissions, type Permissions } from './permissions.ts';

const cm = (namespace: string | undefined) => ({ group: '', kind: 'ConfigMap', namespace });

describe('compilePermissions', () => {
  it('limits a rule without namespaces to the primary namespace (or cluster scope for a cluster-scoped primary)', () => {
    const checker = compilePermissions([{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['create'] }]);
    assert.equal(checker.allows('create', cm('team-a'), 'team-a'), true);
    assert.equal(checker.allows('create', cm('team-b'), 'team-a'), false);
    assert.equal(checker.allows('create', cm(undefined), 'team-a'), false);
    assert.equal(checker.allows('create', cm(undefined), undefined), true);
    assert.equal(checker.allows('create', cm('team-a'), undefined), false);
    assert.equal(
      compilePermissions([{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['get'], namespaces: [] }]).allows(
        'get',
        cm('a'),
        'a',
      ),
      true,
    );
  });

  it('takes listed namespaces literally and * as every namespace and cluster scope', () => {
    const listed = compilePermissions([
      { apiGroups: [''], kinds: ['ConfigMap'], verbs: ['get'], namespaces: ['shared'] },
    ]);
    assert.equal(listed.allows('get', cm('shared'), 'team-a'), true);
    assert.equal(listed.allows('get', cm('team-a'), 'team-a'), false);
    const any = compilePermissions([{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['get'], namespaces: ['*'] }]);
    assert.equal(any.allows('get', cm('elsewhere'), 'team-a'), true);
    assert.equal(any.allows('get', cm(undefined), 'team-a'), true);
  });

  it('matches verbs, groups and kinds exactly, with * wildcards for groups and kinds', () => {
    const rules: Permissions = [
      { apiGroups: ['apps'], kinds: ['Deployment'], verbs: ['patch'] },
      { apiGroups: ['*'], kinds: ['*'], verbs: ['list'] },
    ];
    const checker = compilePermissions(rules);
    const deploy = { group: 'apps', kind: 'Deployment', namespace: 'a' };
    assert.equal(checker.allows('patch', deploy, 'a'), true);
    assert.equal(checker.allows('delete', deploy, 'a'), false);
    assert.equal(checker.allows('patch', { ...deploy, group: 'extensions' }, 'a'), false);
    assert.equal(checker.allows('patch', { ...deploy, kind: 'StatefulSet' }, 'a'), false);
    assert.equal(checker.allows('list', { group: 'x.io', kind: 'Thing', namespace: 'a' }, 'a'), true);
    assert.equal(compilePermissions([]).allows('get', cm('a'), 'a'), false);
  });

  it('rejects malformed rules with WR_SPEC_INVALID', () => {
    const bad: unknown[] = [
      'all',
      [null],
      [{ apiGroups: [], kinds: ['ConfigMap'], verbs: ['get'] }],
      [{ apiGroups: [''], kinds: [''], verbs: ['get'] }],
      [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['escalate'] }],
      [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['get'], namespaces: [''] }],
      Array.from({ length: 257 }, () => ({ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['get'] })),
    ];
    for (const rules of bad) {
      assert.throws(
        () => compilePermissions(rules as Permissions),
        (err) => isWrError(err, 'WR_SPEC_INVALID'),
        JSON.stringify(rules).slice(0, 80),
      );
    }
  });

  it('derives the group from an apiVersion', () => {
    assert.equal(groupOf('v1'), '');
    assert.equal(groupOf('apps/v1'), 'apps');
    assert.equal(groupOf('demo.wasmreconciler.dev/v1alpha1'), 'demo.wasmreconciler.dev');
  });
});
