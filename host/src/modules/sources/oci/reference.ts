// Parses and formats OCI image references (`registry/repo[:tag][@sha256:...]`) by the distribution grammar.

import { WrError } from '../../../errors.ts';

export interface OciReference {
  /** Registry host (and port) as written, `docker.io` when omitted. */
  readonly registry: string;
  /** Repository path inside the registry (`library/` added for single-component Docker Hub names). */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: `sha256:${string}` | undefined;
}

const DEFAULT_REGISTRY = 'docker.io';
/** Docker Hub serves the v2 API on a different host than the one people write in references. */
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const MAX_NAME_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function invalid(ref: string, why: string): WrError {
  return new WrError('WR_SPEC_INVALID', `invalid OCI reference "${ref.slice(0, 300)}": ${why}`, {
    details: { reference: ref.slice(0, 300) },
  });
}

/** Throws WR_SPEC_INVALID for anything the distribution reference grammar rejects, or a non-sha256 digest. */
export function parseOciReference(ref: string): OciReference {
  let rest = ref;
  let digest: OciReference['digest'];
  const at = rest.indexOf('@');
  if (at !== -1) {
    const d = rest.slice(at + 1);
    if (!DIGEST.test(d)) throw invalid(ref, 'the digest must match ^sha256:[a-f0-9]{64}$');
    digest = d as OciReference['digest'];
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    if (!TAG.test(tag)) throw invalid(ref, 'the tag is not valid');
    rest = rest.slice(0, lastColon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  let registry = DEFAULT_REGISTRY;
  // The distribution rule: the first component is a registry when it looks like a host, not a path.
  if (
    parts.length > 1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || /[A-Z]/.test(first))
  ) {
    if (!DOMAIN.test(first)) throw invalid(ref, 'the registry host is not valid');
    registry = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT.test(p))) {
    throw invalid(ref, 'the repository must be lowercase path components ([a-z0-9] with . _ __ - separators)');
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw invalid(ref, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  return { registry, repository, tag, digest };
}

export function formatOciReference(ref: OciReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The host that serves the registry API for a reference's registry. */
export function registryApiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}
