// The files of a new module project: the SDK template renamed for the primary kind, plus the files
// rendered from its schema (CRD, types, sample, starter fixture).
//
// The template (guest-sdk/assemblyscript/template) is itself the project init writes for
// `--kind Widget --group example.com --version v1alpha1` in a directory named my-reconciler, so it builds
// and tests as it is; renaming replaces its example names in one pass, so a new name is never renamed again.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { constantName } from '../codegen/assemblyscript.ts';
import type { Described } from '../codegen/schema.ts';
import type { KindNames } from './names.ts';
import { defaultCrd, sampleObject, sampleSpec, starterFixture } from './rendered.ts';

/** The names the template is written with. */
export const TEMPLATE_NAMES: KindNames & { readonly project: string; readonly namespace: string } = {
  project: 'my-reconciler',
  namespace: 'default',
  kind: 'Widget',
  group: 'example.com',
  version: 'v1alpha1',
  plural: 'widgets',
  singular: 'widget',
};

export interface ProjectSpec {
  readonly names: KindNames;
  /** The package, WasmReconciler and module name. */
  readonly project: string;
  readonly namespace: string;
  /** The CRD's text when given (`--crd`); otherwise init writes defaultCrd. */
  readonly crdText?: string;
  readonly spec: Described | undefined;
  /** The types file's text (generate's output for the CRD). */
  readonly types: string;
}

/** Files npm leaves out of a packed package under their real name. */
const RENAMED: Record<string, string> = { gitignore: '.gitignore' };
const SKIPPED = new Set(['node_modules', 'build', '.wasm-reconciler']);
/** Rendered, not renamed: the template's copies are what rendering gives for its own names. */
const RENDERED = new Set(['crd.yaml', 'assembly/types.ts', 'sample.yaml', `fixtures/${TEMPLATE_NAMES.singular}.yaml`]);

export function renamer(to: ProjectSpec): (text: string) => string {
  const t = TEMPLATE_NAMES;
  const n = to.names;
  const pairs: [string, string][] = [
    [t.project, to.project],
    [`${t.group}/${t.version}`, `${n.group}/${n.version}`],
    [t.group, n.group],
    [`namespace: ${t.namespace}`, `namespace: ${to.namespace}`],
    [`-n ${t.namespace} `, `-n ${to.namespace} `],
    [`(namespace \`${t.namespace}\`)`, `(namespace \`${to.namespace}\`)`],
    [t.plural, n.plural],
    [t.singular, n.singular],
    [constantName(t.kind), constantName(n.kind)],
    [t.kind, n.kind],
  ];
  const map = new Map(pairs);
  const pattern = new RegExp(pairs.map(([from]) => from.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, (m) => map.get(m) ?? m);
}

async function templateFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await templateFiles(path, root)));
    else out.push(relative(root, path));
  }
  return out.sort();
}

/** Every file of the project, by path relative to its directory. */
export async function projectFiles(templateDir: string, p: ProjectSpec): Promise<Map<string, string>> {
  const rename = renamer(p);
  const files = new Map<string, string>();
  for (const file of await templateFiles(templateDir)) {
    if (RENDERED.has(file)) continue;
    const text = await readFile(join(templateDir, file), 'utf8');
    files.set(RENAMED[file] ?? rename(file), rename(text));
  }
  const spec = sampleSpec(p.spec);
  files.set('crd.yaml', p.crdText ?? defaultCrd(p.names));
  files.set('assembly/types.ts', p.types);
  files.set('sample.yaml', sampleObject(p.names, p.namespace, spec));
  files.set(`fixtures/${p.names.singular}.yaml`, starterFixture(p.names, p.namespace, spec));
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}
