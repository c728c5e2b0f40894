// Turns a WasmReconciler object into a typed ReconcilerSpec, rejecting every malformed field by its JSON path.
//
// The apiserver validates the same rules through the CRD (deploy/crd/wasmreconciler.yaml), but the host
// never relies on that: an older CRD, a hand-edited one on a real cluster, or a fake in a test can all hand
// us anything. So every rule that matters to the host is checked here too, and defaults are applied here too.

import { DEFAULT_LIMITS } from '../abi/constants.ts';
import { isWrError, WrError } from '../errors.ts';
import { deadlineForFuel, type RuntimeLimits, resolveLimits } from '../runtime/limits.ts';
import { MODULE_LIMIT_KEYS } from '../runtime/wasm/limits.ts';
import { type OciReference, parseOciReference } from './sources/oci/reference.ts';

export const WR_GROUP = 'wasmreconciler.dev';
export const WR_VERSION = 'v1alpha1';
export const WR_API_VERSION = `${WR_GROUP}/${WR_VERSION}`;
export const WR_KIND = 'WasmReconciler';
/**
 * The cluster-scoped kind, for reconcilers that act across namespaces (cert-manager's Issuer/ClusterIssuer
 * model): a namespaced WasmReconciler acts only in its own namespace; only whoever may create this kind (by
 * default cluster administrators) reaches further.
 */
export const WR_CLUSTER_KIND = 'ClusterWasmReconciler';
/** Where a ClusterWasmReconciler's ConfigMap module sources and pull Secrets live unless the host is told otherwise. */
export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = 'wasm-reconciler-system';

/** Namespaced: a WasmReconciler, confined to its namespace. Cluster: a ClusterWasmReconciler. */
export type ReconcilerScope = 'Namespaced' | 'Cluster';

/** A content digest as the spec writes it: `sha256:` and 64 lowercase hex digits. */
export type { Digest } from '../digest.ts';

import type { Digest } from '../digest.ts';
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

/**
 * Base64 text of an inline module is capped so the whole object stays under etcd's default 1.5 MiB request
 * limit: 1,400,000 characters decode to about 1 MiB of Wasm. Larger modules belong in a URL or registry.
 */
export const INLINE_MAX_BASE64_CHARS = 1_400_000;

/** Bounds that keep one object from costing the host unbounded work (lists are walked per event). */
export const SPEC_BOUNDS = {
  owns: 32,
  related: 32,
  permissions: 64,
  namespaces: 256,
  selectorTerms: 32,
  maxConcurrentReconciles: 64,
  /** One day: a resync is a safety net, not a scheduler. */
  resyncPeriodSeconds: 86_400,
  /** The fewest seconds between resyncs when enabled; shorter only burns CPU on edge nodes. */
  minResyncPeriodSeconds: 30,
} as const;

export interface GroupVersionKind {
  /** As written: `group/version`, or `version` alone for the core group. */
  readonly apiVersion: string;
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

/** The kind a reconciler reconciles, and which of its objects. */
export interface PrimarySpec extends GroupVersionKind {
  /**
   * Empty means every namespace the host watches. A namespaced WasmReconciler's is always its own namespace
   * alone (written empty or as that one name; any other is refused).
   */
  readonly namespaces: readonly string[];
  readonly labelSelector: LabelSelector | undefined;
}

/** A kind whose objects are handed to the guest beside the primary; a change to one triggers a reconcile. */
export interface RelatedSpec extends GroupVersionKind {
  readonly labelSelector: LabelSelector | undefined;
}

export type PermissionVerb = 'get' | 'list';
export const PERMISSION_VERBS: readonly PermissionVerb[] = ['get', 'list'];

/** A read grant for the guest's get/list imports, on top of the primary, owned and related kinds. */
export interface PermissionRule extends GroupVersionKind {
  readonly verbs: readonly PermissionVerb[];
  /**
   * Empty means every namespace (and cluster-scoped objects). A namespaced WasmReconciler's is always its own
   * namespace alone, like its primaries'.
   */
  readonly namespaces: readonly string[];
}

export interface InlineSource {
  readonly type: 'inline';
  /** Base64 as written in the object; decoded (strictly) by the inline source. */
  readonly base64: string;
  readonly digest: Digest | undefined;
}

export interface ConfigMapSource {
  readonly type: 'configMap';
  /**
   * A WasmReconciler's own namespace (a module never reads another namespace's ConfigMap); the host's cluster
   * resource namespace for a ClusterWasmReconciler.
   */
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly digest: Digest | undefined;
}

export interface UrlSource {
  readonly type: 'url';
  readonly url: string;
  readonly digest: Digest;
}

export interface OciSource {
  readonly type: 'oci';
  readonly reference: OciReference;
  /** The manifest digest: from `@sha256:` in the reference or the separate `digest` field. */
  readonly digest: Digest;
  /** A Secret with registry credentials, in the same namespace a ConfigMap source would be read from. */
  readonly pullSecret: { readonly namespace: string; readonly name: string } | undefined;
}

export type ModuleSourceSpec = InlineSource | ConfigMapSource | UrlSource | OciSource;

/**
 * The limits a WasmReconciler may set in `spec.limits`, in the order they are documented and checked. The
 * rest of RuntimeLimits (log volume, the output's shape) protect the host itself and stay host-wide.
 */
export const SPEC_LIMIT_KEYS = [
  'moduleBytes',
  'memoryPages',
  'fuel',
  'inputBytes',
  'outputBytes',
  'resultBytes',
  'deadlineMs',
  ...MODULE_LIMIT_KEYS,
] as const satisfies ReadonlyArray<keyof RuntimeLimits>;
export type SpecLimitKey = (typeof SPEC_LIMIT_KEYS)[number];

/** Always present in a parsed spec: the CRD defaults them too, so every stored object carries them. */
export const DEFAULTED_LIMIT_KEYS = [
  'moduleBytes',
  'memoryPages',
  'fuel',
  'inputBytes',
  'outputBytes',
] as const satisfies ReadonlyArray<SpecLimitKey>;
type DefaultedLimitKey = (typeof DEFAULTED_LIMIT_KEYS)[number];

/**
 * The five defaulted limits, and whichever of the others the spec sets (an unset one keeps the runtime's
 * default; an unset `deadlineMs` is derived from `fuel`). Handed to ModuleSlot.load as LimitOverrides.
 */
export type Limits = { readonly [K in DefaultedLimitKey]: number } & {
  readonly [K in Exclude<SpecLimitKey, DefaultedLimitKey>]?: number;
};

/**
 * Bounds the spec adds to the runtime's own. Every limit must also pass resolveLimits (runtime/limits.ts,
 * where the ceilings live: an integer from 1 to the runtime's ceiling); these are stricter policy: a few
 * minimums below which no module can work, and caps on byte limits the runtime leaves open, so that one
 * object cannot make the host fetch, build or buffer unbounded data.
 */
export const LIMIT_BOUNDS: { readonly [K in SpecLimitKey]?: { readonly min?: number; readonly max?: number } } = {
  moduleBytes: { min: 1024, max: 64 * 1024 * 1024 },
  fuel: { min: 1000 },
  inputBytes: { min: 1024, max: 64 * 1024 * 1024 },
  outputBytes: { min: 1024, max: 16 * 1024 * 1024 },
  resultBytes: { min: 1024, max: 64 * 1024 * 1024 },
};

/**
 * How node-sharded hosts (`--sharding node`) split the primaries: by a label whose value is the node name (the
 * API server filters it, so each host caches only its share), or by a field path of the primary whose value
 * is the node name (filtered by the API server where it selects on that field, else by each host, which then
 * caches every primary).
 */
export type NodeShardingRule = { readonly label: string } | { readonly fieldPath: string };

/** spec.sharding: the rules each sharding mode needs from a reconciler (absent: the mode's default). */
export interface ShardingRule {
  readonly node?: NodeShardingRule;
}

export interface ReconcilerSpec {
  readonly scope: ReconcilerScope;
  readonly name: string;
  /** The WasmReconciler's namespace; undefined for a ClusterWasmReconciler. */
  readonly namespace: string | undefined;
  readonly uid: string | undefined;
  readonly generation: number | undefined;
  readonly suspend: boolean;
  readonly for: PrimarySpec;
  readonly owns: readonly GroupVersionKind[];
  readonly related: readonly RelatedSpec[];
  readonly permissions: readonly PermissionRule[];
  /** JSON handed to wr_init unchanged; `{}` when absent. */
  readonly config: unknown;
  readonly module: ModuleSourceSpec;
  readonly limits: Limits;
  readonly maxConcurrentReconciles: number;
  /** 0 disables periodic resync. */
  readonly resyncPeriodSeconds: number;
  readonly sharding: ShardingRule | undefined;
}

export interface ParseSpecOptions {
  /** The host's ceilings: a spec asking for more is rejected rather than silently clamped. */
  readonly ceilings?: Partial<Limits>;
  /** Where a ClusterWasmReconciler's ConfigMap sources and pull Secrets are read; DEFAULT_CLUSTER_RESOURCE_NAMESPACE. */
  readonly clusterResourceNamespace?: string;
}

export interface SpecIssue {
  readonly path: string;
  readonly message: string;
}

/** The most issues reported at once: enough to fix a spec in one round, bounded for status and logs. */
const MAX_ISSUES = 20;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[A-Za-z][A-Za-z0-9]*$/;
/** A ConfigMap key: the apiserver's IsConfigMapKey. */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Json = Record<string, unknown>;

class Issues {
  readonly list: SpecIssue[] = [];
  add(path: string, message: string): void {
    if (this.list.length < MAX_ISSUES) this.list.push({ path, message });
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates a WasmReconciler. Throws one WrError WR_SPEC_INVALID listing every problem found
 * (`details.issues`, each with a JSON path like `spec.owns[1].kind`; `details.path` is the first).
 */
export function parseReconcilerSpec(object: unknown, options: ParseSpecOptions = {}): ReconcilerSpec {
  const issues = new Issues();
  const spec = parseObject(object, issues, options);
  if (issues.list.length > 0 || spec === undefined) {
    const first = issues.list[0] ?? { path: '', message: 'invalid object' };
    const more = issues.list.length > 1 ? ` (and ${issues.list.length - 1} more)` : '';
    throw new WrError('WR_SPEC_INVALID', `${first.path || '<root>'}: ${first.message}${more}`, {
      details: { path: first.path, issues: issues.list },
    });
  }
  return spec;
}

function parseObject(object: unknown, issues: Issues, options: ParseSpecOptions): ReconcilerSpec | undefined {
  if (!isObject(object)) {
    issues.add('', 'must be an object');
    return undefined;
  }
  if (object.apiVersion !== WR_API_VERSION) issues.add('apiVersion', `must be ${WR_API_VERSION}`);
  const scope: ReconcilerScope = object.kind === WR_CLUSTER_KIND ? 'Cluster' : 'Namespaced';
  if (object.kind !== WR_KIND && object.kind !== WR_CLUSTER_KIND) {
    issues.add('kind', `must be ${WR_KIND} or ${WR_CLUSTER_KIND}`);
  }
  const meta = object.metadata;
  if (!isObject(meta)) {
    issues.add('metadata', 'must be an object');
    return undefined;
  }
  const name = requiredString(meta, 'name', 'metadata', issues, DNS1123_SUBDOMAIN, 253);
  let namespace: string | undefined;
  if (scope === 'Namespaced') namespace = requiredString(meta, 'namespace', 'metadata', issues, DNS1123_LABEL, 63);
  else if (meta.namespace !== undefined && meta.namespace !== '') {
    issues.add('metadata.namespace', `must be absent: a ${WR_CLUSTER_KIND} is cluster-scoped`);
  }
  const uid = typeof meta.uid === 'string' ? meta.uid : undefined;
  const generation = typeof meta.generation === 'number' ? meta.generation : undefined;

  const spec = object.spec;
  if (!isObject(spec)) {
    issues.add('spec', 'must be an object');
    return undefined;
  }
  const primary = parsePrimary(spec.for, 'spec.for', issues);
  // The tenancy boundary: a namespaced WasmReconciler reconciles, writes and reads in its own namespace only.
  if (primary !== undefined && namespace !== undefined) confine(primary.namespaces, namespace, 'spec.for', issues);
  const owns = parseList(spec.owns, 'spec.owns', SPEC_BOUNDS.owns, issues, (v, p) => parseGvkObject(v, p, issues));
  uniqueGvks(owns, 'spec.owns', issues);
  const related = parseList(spec.related, 'spec.related', SPEC_BOUNDS.related, issues, (v, p) =>
    parseRelated(v, p, issues),
  );
  uniqueGvks(related, 'spec.related', issues);
  const permissions = parseList(spec.permissions, 'spec.permissions', SPEC_BOUNDS.permissions, issues, (v, p) =>
    parsePermission(v, p, issues),
  );
  permissions.forEach((p, i) => {
    if (namespace !== undefined) confine(p.namespaces, namespace, `spec.permissions[${i}]`, issues);
  });
  const sourceNamespace =
    scope === 'Cluster' ? (options.clusterResourceNamespace ?? DEFAULT_CLUSTER_RESOURCE_NAMESPACE) : (namespace ?? '');
  const module = parseModule(spec.module, 'spec.module', sourceNamespace, issues);
  const limits = parseLimits(spec.limits, 'spec.limits', options.ceilings ?? {}, issues);
  const suspend = optionalBoolean(spec, 'suspend', 'spec', issues) ?? false;
  const maxConcurrentReconciles =
    optionalInteger(spec, 'maxConcurrentReconciles', 'spec', 1, SPEC_BOUNDS.maxConcurrentReconciles, issues) ?? 1;
  const resyncPeriodSeconds = optionalInteger(
    spec,
    'resyncPeriodSeconds',
    'spec',
    0,
    SPEC_BOUNDS.resyncPeriodSeconds,
    issues,
  );
  if (
    resyncPeriodSeconds !== undefined &&
    resyncPeriodSeconds !== 0 &&
    resyncPeriodSeconds < SPEC_BOUNDS.minResyncPeriodSeconds
  ) {
    issues.add('spec.resyncPeriodSeconds', `must be 0 (off) or at least ${SPEC_BOUNDS.minResyncPeriodSeconds}`);
  }
  const sharding = parseSharding(spec.sharding, 'spec.sharding', issues);
  let config: unknown = {};
  if (spec.config !== undefined) {
    if (isObject(spec.config)) config = spec.config;
    else issues.add('spec.config', 'must be an object');
  }

  if (name === undefined || (scope === 'Namespaced' && namespace === undefined)) return undefined;
  if (primary === undefined || module === undefined) return undefined;
  const own = namespace === undefined ? undefined : [namespace];
  return {
    scope,
    name,
    namespace,
    uid,
    generation,
    suspend,
    // Confined specs carry their namespace explicitly, so every consumer (watches, read grants) is confined
    // without knowing about scopes.
    for: own === undefined ? primary : { ...primary, namespaces: own },
    owns,
    related,
    permissions: own === undefined ? permissions : permissions.map((p) => ({ ...p, namespaces: own })),
    config,
    module,
    limits,
    maxConcurrentReconciles,
    resyncPeriodSeconds: resyncPeriodSeconds ?? 0,
    sharding,
  };
}

/** A dotted path of plain field names (`spec.nodeName`): what a field selector and a JSON walk both accept. */
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MAX_FIELD_PATH_CHARS = 256;

function parseSharding(value: unknown, path: string, issues: Issues): ShardingRule | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    issues.add(path, 'must be an object');
    return undefined;
  }
  for (const key of Object.keys(value)) if (key !== 'node') issues.add(`${path}.${key}`, 'is not a known field');
  if (value.node === undefined) return {};
  const node = value.node;
  const nodePath = `${path}.node`;
  if (!isObject(node)) {
    issues.add(nodePath, 'must be an object');
    return undefined;
  }
  const keys = Object.keys(node);
  if (keys.length !== 1 || (keys[0] !== 'label' && keys[0] !== 'fieldPath')) {
    issues.add(nodePath, 'must set exactly one of label and fieldPath');
    return undefined;
  }
  if (node.label !== undefined) {
    if (typeof node.label !== 'string' || !labelKeyValid(node.label)) {
      issues.add(`${nodePath}.label`, 'must be a label key, e.g. wasmreconciler.dev/node');
      return undefined;
    }
    return { node: { label: node.label } };
  }
  if (
    typeof node.fieldPath !== 'string' ||
    node.fieldPath.length > MAX_FIELD_PATH_CHARS ||
    !FIELD_PATH.test(node.fieldPath)
  ) {
    issues.add(`${nodePath}.fieldPath`, 'must be a dotted path of field names, e.g. spec.nodeName');
    return undefined;
  }
  return { node: { fieldPath: node.fieldPath } };
}

function requiredString(
  obj: Json,
  key: string,
  parent: string,
  issues: Issues,
  pattern: RegExp,
  maxLength: number,
): string | undefined {
  const path = `${parent}.${key}`;
  const v = obj[key];
  if (typeof v !== 'string' || v === '') {
    issues.add(path, 'is required and must be a non-empty string');
    return undefined;
  }
  if (v.length > maxLength) {
    issues.add(path, `must be at most ${maxLength} characters`);
    return undefined;
  }
  if (!pattern.test(v)) {
    issues.add(path, `must match ${pattern.source}`);
    return undefined;
  }
  return v;
}

function optionalBoolean(obj: Json, key: string, parent: string, issues: Issues): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') {
    issues.add(`${parent}.${key}`, 'must be a boolean');
    return undefined;
  }
  return v;
}

function optionalInteger(
  obj: Json,
  key: string,
  parent: string,
  min: number,
  max: number,
  issues: Issues,
): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    issues.add(`${parent}.${key}`, 'must be an integer');
    return undefined;
  }
  if (v < min || v > max) {
    issues.add(`${parent}.${key}`, `must be between ${min} and ${max}`);
    return undefined;
  }
  return v;
}

function parseList<T>(
  value: unknown,
  path: string,
  max: number,
  issues: Issues,
  item: (v: unknown, path: string) => T | undefined,
): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    issues.add(path, 'must be a list');
    return [];
  }
  if (value.length > max) {
    issues.add(path, `must have at most ${max} items`);
    return [];
  }
  const out: T[] = [];
  value.forEach((v, i) => {
    const parsed = item(v, `${path}[${i}]`);
    if (parsed !== undefined) out.push(parsed);
  });
  return out;
}

function uniqueGvks(list: readonly GroupVersionKind[], path: string, issues: Issues): void {
  const seen = new Set<string>();
  list.forEach((g, i) => {
    const key = `${g.group}/${g.kind}`;
    if (seen.has(key)) issues.add(`${path}[${i}]`, `duplicates kind ${g.kind} of group '${g.group}'`);
    seen.add(key);
  });
}

/** Splits `group/version` or a bare core `version`; returns undefined after reporting a bad one. */
function parseApiVersion(v: unknown, path: string, issues: Issues): { group: string; version: string } | undefined {
  if (typeof v !== 'string' || v === '') {
    issues.add(path, 'is required and must be a non-empty string');
    return undefined;
  }
  const parts = v.split('/');
  const [group, version] = parts.length === 1 ? ['', parts[0] ?? ''] : [parts[0] ?? '', parts[1] ?? ''];
  if (parts.length > 2 || (group !== '' && (group.length > 253 || !DNS1123_SUBDOMAIN.test(group)))) {
    issues.add(path, 'must be "group/version" with a DNS subdomain group, or a core version like "v1"');
    return undefined;
  }
  if (version.length > 63 || !DNS1123_LABEL.test(version)) {
    issues.add(path, 'has an invalid version (must be a DNS label like v1 or v1beta1)');
    return undefined;
  }
  if (parts.length === 2 && group === '') {
    issues.add(path, 'has an empty group; write the core group as a bare version ("v1")');
    return undefined;
  }
  return { group, version };
}

function parseGvkObject(value: unknown, path: string, issues: Issues): GroupVersionKind | undefined {
  if (!isObject(value)) {
    issues.add(path, 'must be an object');
    return undefined;
  }
  const gv = parseApiVersion(value.apiVersion, `${path}.apiVersion`, issues);
  const kind = requiredString(value, 'kind', path, issues, KIND, 63);
  if (gv === undefined || kind === undefined) return undefined;
  return { apiVersion: value.apiVersion as string, group: gv.group, version: gv.version, kind };
}

function parseNamespaces(value: unknown, path: string, issues: Issues): string[] {
  const list = parseList(value, path, SPEC_BOUNDS.namespaces, issues, (v, p) => {
    if (typeof v !== 'string' || v.length > 63 || !DNS1123_LABEL.test(v)) {
      issues.add(p, 'must be a namespace name (DNS label)');
      return undefined;
    }
    return v;
  });
  if (new Set(list).size !== list.length) issues.add(path, 'must not repeat a namespace');
  return list;
}

function parsePrimary(value: unknown, path: string, issues: Issues): PrimarySpec | undefined {
  const gvk = parseGvkObject(value, path, issues);
  if (gvk === undefined || !isObject(value)) return undefined;
  return {
    ...gvk,
    namespaces: parseNamespaces(value.namespaces, `${path}.namespaces`, issues),
    labelSelector: parseLabelSelector(value.labelSelector, `${path}.labelSelector`, issues),
  };
}

/** Refuses any namespace but the WasmReconciler's own in a namespaced WasmReconciler's `namespaces`. */
function confine(namespaces: readonly string[], own: string, path: string, issues: Issues): void {
  const foreign = namespaces.filter((ns) => ns !== own);
  if (foreign.length === 0) return;
  issues.add(
    `${path}.namespaces`,
    `names ${foreign.join(', ')}: a ${WR_KIND} acts only in its own namespace (${own}); ` +
      `reaching other namespaces takes a ${WR_CLUSTER_KIND}, which a cluster administrator creates`,
  );
}

function parseRelated(value: unknown, path: string, issues: Issues): RelatedSpec | undefined {
  const gvk = parseGvkObject(value, path, issues);
  if (gvk === undefined || !isObject(value)) return undefined;
  return { ...gvk, labelSelector: parseLabelSelector(value.labelSelector, `${path}.labelSelector`, issues) };
}

function parsePermission(value: unknown, path: string, issues: Issues): PermissionRule | undefined {
  const gvk = parseGvkObject(value, path, issues);
  if (gvk === undefined || !isObject(value)) return undefined;
  const verbs = parseList(value.verbs, `${path}.verbs`, PERMISSION_VERBS.length, issues, (v, p) => {
    if (!PERMISSION_VERBS.includes(v as PermissionVerb)) {
      issues.add(p, `must be one of ${PERMISSION_VERBS.join(', ')}`);
      return undefined;
    }
    return v as PermissionVerb;
  });
  if (verbs.length === 0 && Array.isArray(value.verbs) && value.verbs.length === 0) {
    issues.add(`${path}.verbs`, 'must name at least one verb');
  } else if (value.verbs === undefined) {
    issues.add(`${path}.verbs`, 'is required');
  }
  if (new Set(verbs).size !== verbs.length) issues.add(`${path}.verbs`, 'must not repeat a verb');
  return { ...gvk, verbs, namespaces: parseNamespaces(value.namespaces, `${path}.namespaces`, issues) };
}

function labelKeyValid(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix === '' || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && LABEL_NAME.test(name);
}

function labelValueValid(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

function parseLabelSelector(value: unknown, path: string, issues: Issues): LabelSelector | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    issues.add(path, 'must be an object');
    return undefined;
  }
  const matchLabels: Record<string, string> = {};
  if (value.matchLabels !== undefined) {
    if (!isObject(value.matchLabels)) {
      issues.add(`${path}.matchLabels`, 'must be an object of label key to value');
    } else {
      const entries = Object.entries(value.matchLabels);
      if (entries.length > SPEC_BOUNDS.selectorTerms) {
        issues.add(`${path}.matchLabels`, `must have at most ${SPEC_BOUNDS.selectorTerms} entries`);
      }
      for (const [k, v] of entries.slice(0, SPEC_BOUNDS.selectorTerms)) {
        const p = `${path}.matchLabels[${JSON.stringify(k)}]`;
        if (!labelKeyValid(k)) issues.add(p, 'is not a valid label key');
        else if (typeof v !== 'string' || !labelValueValid(v)) issues.add(p, 'must be a valid label value');
        else matchLabels[k] = v;
      }
    }
  }
  const operators = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
  const matchExpressions = parseList(
    value.matchExpressions,
    `${path}.matchExpressions`,
    SPEC_BOUNDS.selectorTerms,
    issues,
    (v, p): LabelSelectorRequirement | undefined => {
      if (!isObject(v)) {
        issues.add(p, 'must be an object');
        return undefined;
      }
      if (typeof v.key !== 'string' || !labelKeyValid(v.key)) {
        issues.add(`${p}.key`, 'must be a valid label key');
        return undefined;
      }
      const operator = v.operator as LabelSelectorRequirement['operator'];
      if (!operators.includes(operator)) {
        issues.add(`${p}.operator`, `must be one of ${operators.join(', ')}`);
        return undefined;
      }
      const values = parseList(v.values, `${p}.values`, SPEC_BOUNDS.selectorTerms, issues, (x, q) => {
        if (typeof x !== 'string' || !labelValueValid(x)) {
          issues.add(q, 'must be a valid label value');
          return undefined;
        }
        return x;
      });
      const needsValues = operator === 'In' || operator === 'NotIn';
      if (needsValues && values.length === 0) {
        issues.add(`${p}.values`, `must not be empty for operator ${operator}`);
        return undefined;
      }
      if (!needsValues && v.values !== undefined && (!Array.isArray(v.values) || v.values.length > 0)) {
        issues.add(`${p}.values`, `must be empty for operator ${operator}`);
        return undefined;
      }
      return { key: v.key, operator, values };
    },
  );
  return { matchLabels, matchExpressions };
}

function parseDigest(value: unknown, path: string, issues: Issues): Digest | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !DIGEST_PATTERN.test(value)) {
    issues.add(path, 'must match ^sha256:[a-f0-9]{64}$');
    return undefined;
  }
  return value as Digest;
}

const SOURCE_KEYS = ['inline', 'configMap', 'url', 'oci'] as const;

function parseModule(value: unknown, path: string, namespace: string, issues: Issues): ModuleSourceSpec | undefined {
  if (!isObject(value)) {
    issues.add(path, 'is required and must be an object');
    return undefined;
  }
  const present = SOURCE_KEYS.filter((k) => value[k] !== undefined && value[k] !== null);
  if (present.length !== 1) {
    issues.add(
      path,
      present.length === 0
        ? `must set exactly one of ${SOURCE_KEYS.join(', ')}`
        : `must set exactly one of ${SOURCE_KEYS.join(', ')} (found ${present.join(', ')})`,
    );
    return undefined;
  }
  const digestPath = `${path}.digest`;
  const digest = parseDigest(value.digest, digestPath, issues);
  if (value.digest !== undefined && digest === undefined) return undefined;

  switch (present[0]) {
    case 'inline': {
      const b64 = value.inline;
      const p = `${path}.inline`;
      if (typeof b64 !== 'string' || b64 === '') {
        issues.add(p, 'must be a non-empty base64 string');
        return undefined;
      }
      if (b64.length > INLINE_MAX_BASE64_CHARS) {
        issues.add(
          p,
          `must be at most ${INLINE_MAX_BASE64_CHARS} base64 characters; use url or oci for larger modules`,
        );
        return undefined;
      }
      if (b64.length % 4 !== 0 || !BASE64.test(b64)) {
        issues.add(p, 'must be standard padded base64');
        return undefined;
      }
      return { type: 'inline', base64: b64, digest };
    }
    case 'configMap': {
      const cm = value.configMap;
      const p = `${path}.configMap`;
      if (!isObject(cm)) {
        issues.add(p, 'must be an object');
        return undefined;
      }
      const name = requiredString(cm, 'name', p, issues, DNS1123_SUBDOMAIN, 253);
      const key = requiredString(cm, 'key', p, issues, CONFIGMAP_KEY, 253);
      if (name === undefined || key === undefined) return undefined;
      return { type: 'configMap', namespace, name, key, digest };
    }
    case 'url': {
      const p = `${path}.url`;
      const raw = value.url;
      if (typeof raw !== 'string' || raw.length > 2048) {
        issues.add(p, 'must be an https URL of at most 2048 characters');
        return undefined;
      }
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        issues.add(p, 'is not a valid URL');
        return undefined;
      }
      if (url.protocol !== 'https:') {
        issues.add(p, 'must use https');
        return undefined;
      }
      if (url.username !== '' || url.password !== '') {
        issues.add(p, 'must not embed credentials');
        return undefined;
      }
      if (digest === undefined) {
        issues.add(digestPath, 'is required for a url source');
        return undefined;
      }
      return { type: 'url', url: url.href, digest };
    }
    case 'oci': {
      const oci = value.oci;
      const p = `${path}.oci`;
      if (!isObject(oci)) {
        issues.add(p, 'must be an object');
        return undefined;
      }
      if (typeof oci.reference !== 'string' || oci.reference === '' || oci.reference.length > 1024) {
        issues.add(`${p}.reference`, 'is required and must be a string of at most 1024 characters');
        return undefined;
      }
      let reference: OciReference;
      try {
        reference = parseOciReference(oci.reference);
      } catch (err) {
        issues.add(`${p}.reference`, err instanceof Error ? err.message : 'is not a valid reference');
        return undefined;
      }
      if (reference.digest !== undefined && digest !== undefined && reference.digest !== digest) {
        issues.add(digestPath, 'differs from the digest in the reference');
        return undefined;
      }
      const pinned = reference.digest ?? digest;
      if (pinned === undefined) {
        issues.add(digestPath, 'is required unless the reference carries @sha256:<digest>');
        return undefined;
      }
      let pullSecret: OciSource['pullSecret'];
      if (oci.pullSecret !== undefined) {
        const ps = oci.pullSecret;
        if (!isObject(ps)) {
          issues.add(`${p}.pullSecret`, 'must be an object with a name');
          return undefined;
        }
        const secretName = requiredString(ps, 'name', `${p}.pullSecret`, issues, DNS1123_SUBDOMAIN, 253);
        if (secretName === undefined) return undefined;
        pullSecret = { namespace, name: secretName };
      }
      return { type: 'oci', reference, digest: pinned, pullSecret };
    }
    default:
      return undefined;
  }
}

function parseLimits(value: unknown, path: string, ceilings: Partial<Limits>, issues: Issues): Limits {
  const limits: { -readonly [K in SpecLimitKey]?: number } = {};
  for (const key of DEFAULTED_LIMIT_KEYS) limits[key] = DEFAULT_LIMITS[key];
  if (value !== undefined && !isObject(value)) {
    issues.add(path, 'must be an object');
    return limits as Limits;
  }
  const given = value ?? {};
  for (const key of Object.keys(given)) {
    if (!(SPEC_LIMIT_KEYS as readonly string[]).includes(key)) {
      issues.add(`${path}${memberPath(key)}`, `is not a settable limit (one of ${SPEC_LIMIT_KEYS.join(', ')})`);
    }
  }
  for (const key of SPEC_LIMIT_KEYS) {
    const v = given[key] === undefined ? undefined : checkLimit(key, given[key]);
    if (typeof v === 'string') {
      issues.add(`${path}.${key}`, v);
      continue;
    }
    if (v !== undefined) limits[key] = v;
    const ceiling = ceilings[key];
    if (ceiling === undefined) continue;
    // A default above the host's ceiling is lowered quietly; an explicit request above it is an error.
    const effective = limits[key] ?? (key === 'deadlineMs' ? deadlineForFuel(limits.fuel ?? 0) : DEFAULT_LIMITS[key]);
    if (effective <= ceiling) continue;
    if (v === undefined) limits[key] = ceiling;
    else issues.add(`${path}.${key}`, `exceeds this host's ceiling of ${ceiling}`);
  }
  return limits as Limits;
}

/** The limit as a number, or what is wrong with it: the runtime's own range first, then the spec's bounds. */
function checkLimit(key: SpecLimitKey, v: unknown): number | string {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) return 'must be an integer';
  try {
    resolveLimits({ [key]: v });
  } catch (err) {
    if (!isWrError(err, 'WR_SPEC_INVALID')) throw err;
    // "limit fuel must be an integer from 1 to 2147483647": the path already names the limit.
    return err.message.replace(/^limit \S+ /, '');
  }
  const { min, max } = LIMIT_BOUNDS[key] ?? {};
  if (min !== undefined && v < min) return `must be at least ${min}`;
  if (max !== undefined && v > max) return `must be at most ${max}`;
  return v;
}

/** `.key` for an identifier, `["key"]` otherwise (as label keys are reported). */
function memberPath(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key.slice(0, 64))}]`;
}
