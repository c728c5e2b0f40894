// The capability list a reconciler declares, compiled into a checker the executor consults before every write.
//
// Rules name kinds rather than resources: the guest writes objects by apiVersion/kind, so a check needs no
// discovery round-trip and cannot disagree with what the guest asked for.
//
// Namespaces of a rule:
//   - absent or empty: the primary's namespace only (for a cluster-scoped primary: cluster-scoped objects
//     only). Least privilege by default; it is also the only place owned children can live.
//   - a list of names: exactly those namespaces (the primary's is not added implicitly).
//   - ['*']: every namespace and cluster scope.
//
// Writes to the primary itself (its status subresource, its finalizer) and Events about it are granted by
// binding the reconciler to that primary and are not listed here; everything else needs a rule.

import { WrError } from '../errors.ts';

export const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;
export type Verb = (typeof VERBS)[number];

export interface PermissionRule {
  /** API groups: '' is the core group, '*' any group. */
  readonly apiGroups: readonly string[];
  /** Kinds, e.g. 'ConfigMap'; '*' any kind. */
  readonly kinds: readonly string[];
  readonly verbs: readonly Verb[];
  readonly namespaces?: readonly string[];
}

export type Permissions = readonly PermissionRule[];

/** What one action touches. `namespace` undefined means a cluster-scoped object. */
export interface CapabilityTarget {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string | undefined;
}

export interface CapabilityChecker {
  /** `primaryNamespace` resolves rules without `namespaces` (undefined for a cluster-scoped primary). */
  allows(verb: Verb, target: CapabilityTarget, primaryNamespace: string | undefined): boolean;
}

const MAX_RULES = 256;
const VERB_SET: ReadonlySet<string> = new Set(VERBS);

/** Validates the declared rules once, so a malformed spec fails at load rather than on the first write. */
export function compilePermissions(rules: Permissions): CapabilityChecker {
  if (!Array.isArray(rules)) throw new WrError('WR_SPEC_INVALID', 'permissions must be a list of rules');
  if (rules.length > MAX_RULES) {
    throw new WrError('WR_SPEC_INVALID', `permissions hold ${rules.length} rules; at most ${MAX_RULES} are allowed`);
  }
  const compiled = rules.map((rule, i) => compileRule(rule, i));
  return {
    allows(verb, target, primaryNamespace) {
      return compiled.some((rule) => rule(verb, target, primaryNamespace));
    },
  };
}

type CompiledRule = (verb: Verb, target: CapabilityTarget, primaryNamespace: string | undefined) => boolean;

function compileRule(rule: PermissionRule, index: number): CompiledRule {
  const where = `permissions[${index}]`;
  if (rule === null || typeof rule !== 'object') throw new WrError('WR_SPEC_INVALID', `${where} must be an object`);
  const groups = stringList(rule.apiGroups, `${where}.apiGroups`, true);
  const kinds = stringList(rule.kinds, `${where}.kinds`, false);
  const verbs = stringList(rule.verbs, `${where}.verbs`, false);
  for (const verb of verbs) {
    if (!VERB_SET.has(verb)) throw new WrError('WR_SPEC_INVALID', `${where}.verbs: unknown verb '${verb}'`);
  }
  const namespaces =
    rule.namespaces === undefined || (Array.isArray(rule.namespaces) && rule.namespaces.length === 0)
      ? []
      : stringList(rule.namespaces, `${where}.namespaces`, false);
  const anyGroup = groups.includes('*');
  const anyKind = kinds.includes('*');
  const anyNamespace = namespaces.includes('*');
  const groupSet = new Set(groups);
  const kindSet = new Set(kinds);
  const verbSet = new Set(verbs);
  const namespaceSet = new Set(namespaces);
  return (verb, target, primaryNamespace) => {
    if (!verbSet.has(verb)) return false;
    if (!anyGroup && !groupSet.has(target.group)) return false;
    if (!anyKind && !kindSet.has(target.kind)) return false;
    if (anyNamespace) return true;
    if (namespaceSet.size === 0) return target.namespace === primaryNamespace;
    return target.namespace !== undefined && namespaceSet.has(target.namespace);
  };
}

function stringList(value: unknown, where: string, allowEmptyString: boolean): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new WrError('WR_SPEC_INVALID', `${where} must be a non-empty list`);
  }
  for (const item of value) {
    if (typeof item !== 'string' || (!allowEmptyString && item === '')) {
      throw new WrError('WR_SPEC_INVALID', `${where} must hold only ${allowEmptyString ? '' : 'non-empty '}strings`);
    }
  }
  return value as string[];
}
