// The names a scaffolded project derives from its primary kind and directory, each checked the way the API server or npm would.

import { CliError, EXIT } from '../exit-codes.ts';

export interface KindNames {
  /** `WebApp` */
  readonly kind: string;
  /** `example.com` */
  readonly group: string;
  /** `v1alpha1` */
  readonly version: string;
  /** `webapps` */
  readonly plural: string;
  /** `webapp`: the singular, and the suffix of the children's names. */
  readonly singular: string;
}

const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;
const VERSION = /^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkKind(kind: string): string {
  if (!KIND.test(kind)) {
    throw new CliError(
      EXIT.USAGE,
      `--kind ${JSON.stringify(kind)} is not a kind name`,
      'a kind is UpperCamelCase letters and digits, at most 63 characters, e.g. --kind WebApp',
    );
  }
  return kind;
}

export function checkGroup(group: string): string {
  const labels = group.split('.');
  if (group.length > 253 || labels.length < 2 || !labels.every((l) => l.length <= 63 && DNS_LABEL.test(l))) {
    throw new CliError(
      EXIT.USAGE,
      `--group ${JSON.stringify(group)} is not an API group`,
      'a group is a lowercase DNS name with at least one dot, e.g. --group apps.example.com',
    );
  }
  return group;
}

export function checkVersion(version: string): string {
  if (!VERSION.test(version)) {
    throw new CliError(
      EXIT.USAGE,
      `--version ${JSON.stringify(version)} is not a Kubernetes API version`,
      'e.g. --version v1alpha1, v1beta2 or v1',
    );
  }
  return version;
}

/** English plural of a lowercased kind, as kubebuilder makes it for the common cases (`policy` -> `policies`). */
export function pluralOf(singular: string): string {
  if (/[^aeiou]y$/.test(singular)) return `${singular.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(singular)) return `${singular}es`;
  return `${singular}s`;
}

export function kindNames(kind: string, group: string, version: string): KindNames {
  const singular = checkKind(kind).toLowerCase();
  return { kind, group: checkGroup(group), version: checkVersion(version), singular, plural: pluralOf(singular) };
}

/** A package and reconciler name from the project directory's name: lowercase DNS label characters. */
export function projectName(dirName: string): string {
  const name = dirName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  if (name === '' || !DNS_LABEL.test(name)) {
    throw new CliError(
      EXIT.USAGE,
      `cannot name a reconciler after the directory ${JSON.stringify(dirName)}`,
      'give a directory whose name has letters or digits, e.g. init webapp-reconciler',
    );
  }
  return name;
}

export function checkNamespace(namespace: string): string {
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    throw new CliError(
      EXIT.USAGE,
      `--namespace ${JSON.stringify(namespace)} is not a namespace name`,
      'a namespace is a lowercase DNS label (letters, digits, dashes), e.g. -n apps',
    );
  }
  return namespace;
}
