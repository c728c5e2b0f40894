// Reads the CRD of a project's primary kind: names, scope, and the spec and status schemas of one version.

import { loadAll } from 'js-yaml';
import { type Described, readShape } from '../codegen/schema.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readInputFile } from '../files.ts';

export interface PrimaryKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** True when this version declares the status subresource (the host writes status through it). */
  readonly statusSubresource: boolean;
  readonly spec: Described | undefined;
  readonly status: Described | undefined;
  /** The CRD document as read. */
  readonly crd: Record<string, unknown>;
}

interface CrdVersion {
  name?: unknown;
  storage?: unknown;
  subresources?: { status?: unknown };
  schema?: { openAPIV3Schema?: { properties?: Record<string, unknown> } };
}

const WANT = 'give the CRD of your primary kind (apiVersion apiextensions.k8s.io/v1, kind CustomResourceDefinition)';

/** The CRD in `text` (the first CustomResourceDefinition of a multi-document file), at `version` or its storage version. */
export function parseCrd(text: string, file: string, version?: string): PrimaryKind {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    throw new CliError(EXIT.INPUT, `${file} is not YAML: ${(err as Error).message.split('\n')[0]}`, WANT);
  }
  const crd = docs.find(
    (d): d is Record<string, unknown> =>
      typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'CustomResourceDefinition',
  );
  if (crd === undefined) throw new CliError(EXIT.INPUT, `${file} holds no CustomResourceDefinition`, WANT);
  if (crd.apiVersion !== 'apiextensions.k8s.io/v1') {
    throw new CliError(EXIT.INPUT, `${file}: CRD apiVersion ${String(crd.apiVersion)} is not supported`, WANT);
  }
  const spec = (crd.spec ?? {}) as {
    group?: unknown;
    scope?: unknown;
    names?: { kind?: unknown; plural?: unknown };
    versions?: CrdVersion[];
  };
  const { group, names } = spec;
  if (typeof group !== 'string' || typeof names?.kind !== 'string' || typeof names.plural !== 'string') {
    throw new CliError(EXIT.INPUT, `${file}: the CRD lacks spec.group, spec.names.kind or spec.names.plural`, WANT);
  }
  const versions = Array.isArray(spec.versions) ? spec.versions : [];
  const chosen =
    version === undefined
      ? (versions.find((v) => v.storage === true) ?? versions[0])
      : versions.find((v) => v.name === version);
  if (chosen === undefined || typeof chosen.name !== 'string') {
    const have = versions.map((v) => String(v.name)).join(', ') || 'none';
    throw new CliError(
      version === undefined ? EXIT.INPUT : EXIT.USAGE,
      version === undefined
        ? `${file}: the CRD declares no version`
        : `--version ${version} is not a version of ${names.plural}.${group} (it has ${have})`,
      version === undefined ? WANT : `give one of: ${have}`,
    );
  }
  const root = chosen.schema?.openAPIV3Schema;
  if (root === undefined || typeof root !== 'object') {
    throw new CliError(
      EXIT.INPUT,
      `${file}: version ${chosen.name} of ${names.kind} has no schema (spec.versions[].schema.openAPIV3Schema)`,
      'add a structural schema with spec and status properties (controller-gen writes one), or let init write ' +
        'the CRD: init <dir> --kind <Kind> --group <group> --version <version>',
    );
  }
  const properties = root.properties ?? {};
  return {
    group,
    version: chosen.name,
    kind: names.kind,
    plural: names.plural,
    namespaced: spec.scope !== 'Cluster',
    statusSubresource: chosen.subresources?.status !== undefined,
    spec: 'spec' in properties ? readShape(properties.spec) : undefined,
    status: 'status' in properties ? readShape(properties.status) : undefined,
    crd,
  };
}

export async function readCrdFile(file: string, version?: string): Promise<PrimaryKind> {
  const bytes = await readInputFile(file, `${WANT.replace(/^give /, '')}`);
  return parseCrd(new TextDecoder().decode(bytes), file, version);
}
