// `wasm-reconciler init <dir>`: a module project that builds and passes its own tests right away.
//
// The project is the SDK's template renamed for the primary kind (project/scaffold.ts), with its CRD (the
// given one, or one init writes), typed classes generated from that CRD's schema, a starter fixture, and
// a package.json wired to installable packages (project/packages.ts).

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { action, CliError, EXIT } from '../exit-codes.ts';

export interface InitOptions {
  readonly dir: string;
  readonly crd?: string;
  readonly kind?: string;
  readonly group?: string;
  readonly version?: string;
  readonly namespace: string;
  /** A directory of packed tarballs; without it a checkout packs its own, an installed CLI uses the registry. */
  readonly packages?: string;
  readonly progress: (line: string) => void;
}

export interface InitResult {
  readonly dir: string;
  readonly files: readonly string[];
  readonly kind: string;
  readonly packagesNote: string;
}

async function checkTarget(dir: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new CliError(EXIT.INPUT, `${dir} exists and is not a directory`, 'give a new or empty directory');
    }
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (entries.length > 0) {
    throw new CliError(
      EXIT.INPUT,
      `${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''})`,
      'give a new or empty directory: init never overwrites files',
    );
  }
}

/** The SDK's template directory, from the SDK package installed beside this CLI. */
function templateDir(): string {
  try {
    return join(
      dirname(fileURLToPath(import.meta.resolve('@wasm-reconciler/sdk-assemblyscript/package.json'))),
      'template',
    );
  } catch {
    throw new CliError(
      EXIT.UNAVAILABLE,
      'the AssemblyScript SDK (@wasm-reconciler/sdk-assemblyscript) is not installed beside this CLI',
      'install it next to @wasm-reconciler/host (npm install @wasm-reconciler/sdk-assemblyscript); init copies its template',
    );
  }
}

export async function initProject(o: InitOptions): Promise<InitResult> {
  const [{ checkNamespace, kindNames, projectName }, { readCrdFile }, { projectFiles }, { typesFor }, packages, fs] =
    await Promise.all([
      import('../project/names.ts'),
      import('../project/crd.ts'),
      import('../project/scaffold.ts'),
      import('./generate.ts'),
      import('../project/packages.ts'),
      import('node:fs/promises'),
    ]);
  const dir = resolve(o.dir);
  const project = projectName(basename(dir));
  checkNamespace(o.namespace);
  if (o.crd !== undefined && (o.kind !== undefined || o.group !== undefined)) {
    throw new CliError(
      EXIT.USAGE,
      '--crd names the kind already: leave out --kind and --group',
      'with --crd, --version picks one of its versions (default: the storage version)',
    );
  }
  if (o.crd === undefined && o.kind === undefined) {
    throw new CliError(
      EXIT.USAGE,
      'init needs the primary kind: --kind <Kind> (with --group and --version), or --crd <crd.yaml>',
      'e.g. init webapp --kind WebApp --group apps.example.com --version v1alpha1',
    );
  }
  let names: ReturnType<typeof kindNames>;
  let crdText: string | undefined;
  let primary: Awaited<ReturnType<typeof readCrdFile>>;
  if (o.crd !== undefined) {
    primary = await readCrdFile(o.crd, o.version);
    if (!primary.namespaced) {
      throw new CliError(
        EXIT.INPUT,
        `${o.crd}: ${primary.kind} is cluster-scoped, and a WasmReconciler acts only in its own namespace`,
        'scaffold a namespaced kind; a cluster-scoped one needs a ClusterWasmReconciler, which a cluster administrator creates (docs/operations.md#tenancy)',
      );
    }
    if (!primary.statusSubresource) {
      throw new CliError(
        EXIT.INPUT,
        `${o.crd}: version ${primary.version} of ${primary.kind} has no status subresource, which the host writes status through`,
        'add `subresources: { status: {} }` to that version',
      );
    }
    const singular = (primary.crd.spec as { names?: { singular?: unknown } }).names?.singular;
    names = {
      ...kindNames(primary.kind, primary.group, primary.version),
      plural: primary.plural,
      ...(typeof singular === 'string' && singular !== '' ? { singular } : {}),
    };
    crdText = await fs.readFile(o.crd, 'utf8');
  } else {
    names = kindNames(o.kind ?? '', o.group ?? 'example.com', o.version ?? 'v1alpha1');
    const { defaultCrd } = await import('../project/rendered.ts');
    const { parseCrd } = await import('../project/crd.ts');
    primary = parseCrd(defaultCrd(names), 'crd.yaml');
  }

  await checkTarget(dir);
  const files = await projectFiles(templateDir(), {
    names,
    project,
    namespace: o.namespace,
    ...(crdText === undefined ? {} : { crdText }),
    spec: primary.spec,
    types: typesFor(primary, 'crd.yaml'),
  });
  const source =
    o.packages !== undefined
      ? await packages.givenPackages(dir, resolve(o.packages))
      : packages.canPack()
        ? await packages.packFromCheckout(dir, o.progress)
        : packages.registryPackages(await ownVersion());
  const manifest = JSON.parse(files.get('package.json') ?? '{}') as { dependencies?: Record<string, string> };
  manifest.dependencies = { ...manifest.dependencies, ...source.dependencies };
  files.set('package.json', `${JSON.stringify(manifest, null, 2)}\n`);
  await fs.mkdir(dir, { recursive: true });
  for (const [path, text] of files) {
    await fs.mkdir(dirname(join(dir, path)), { recursive: true });
    await fs.writeFile(join(dir, path), text, { flag: 'wx' });
  }
  return {
    dir,
    files: [...files.keys()],
    kind: `${names.kind} (${names.group}/${names.version})`,
    packagesNote: source.note,
  };
}

async function ownVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Scaffold a module project (AssemblyScript) that builds and passes its own tests right away.')
    .argument('<dir>', 'the project directory (new or empty); its name names the reconciler')
    .option('--crd <file>', 'the CRD of the primary kind; typed classes are generated from its schema')
    .option('--kind <Kind>', 'the primary kind, when init writes the CRD (e.g. WebApp)')
    .option('--group <group>', 'its API group (with --kind; default example.com)')
    .option('--version <version>', 'its version (with --kind, default v1alpha1; with --crd, which of its versions)')
    .option('-n, --namespace <ns>', 'the namespace of the WasmReconciler and its objects', 'default')
    .option('--packages <dir>', 'depend on the SDK and CLI tarballs in <dir> (from host/tools/pack.ts)')
    .addHelpText(
      'after',
      '\nWithout --packages, a checkout packs its own SDK and CLI into <dir>/vendor/; an installed CLI depends on ' +
        'the registry versions.\nExit codes: 0 written, 2 usage (a bad --kind, --group or --version), 3 a directory ' +
        'that is not empty, a CRD that is missing, cluster-scoped or has no schema, 4 the SDK is not installed.',
    )
    .action(
      action('init', async (dir: string, opts) => {
        const result = await initProject({
          dir,
          crd: opts.crd,
          kind: opts.kind,
          group: opts.group,
          version: opts.version,
          namespace: opts.namespace,
          packages: opts.packages,
          progress: (line) => process.stderr.write(`${line}\n`),
        });
        process.stdout.write(
          `created ${result.dir} for ${result.kind}; ${result.packagesNote}\n` +
            result.files.map((f) => `  ${f}\n`).join('') +
            `\nnext:\n  cd ${dir}\n  npm install\n  npm test\n`,
        );
      }),
    );
}
