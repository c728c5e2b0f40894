// `wasm-reconciler render <module.wasm> -f objects.yaml`: what the module would apply to given objects, as YAML.
//
// The same offline engine as `test` (host/src/offline), so what render prints is what the host would write.
// With --diff, each write is sent to the live cluster as a server-side apply dry run under the reconciler's
// own field manager: the API server answers with exactly the object it would store, which is compared
// with the live one.

import type { Command } from 'commander';
import type { KubeObject } from '../../abi/types.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { ReconcilerSpec } from '../../modules/index.ts';
import type { OfflineResult, OfflineRun } from '../../offline/index.ts';
import { action, CliError, EXIT } from '../exit-codes.ts';
import { readInputFile } from '../files.ts';

interface RenderOptions {
  readonly file: string;
  readonly reconciler?: string;
  readonly diff: boolean;
  readonly kubeconfig?: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The run `file` describes: a fixture-shaped document, or a multi-document YAML of objects. */
async function runFromFile(
  file: string,
  reconcilerFile: string | undefined,
): Promise<{ run: OfflineRun; spec?: ReconcilerSpec }> {
  const { readYaml, loadReconciler, loadFixture, checkObjects, runOf } = await import('../fixtures/fixture.ts');
  const { WR_KIND, WR_CLUSTER_KIND, parseReconcilerSpec } = await import('../../modules/index.ts');
  const docs = await readYaml(file, 'the objects to render (YAML)');
  const first = docs[0];
  if (docs.length === 1 && isObject(first) && 'primary' in first) {
    // Read as `test` reads it (trigger, config, expected kinds for an inferred reconciler): the same run.
    const fixture = await loadFixture(file, reconcilerFile);
    return { run: fixture.run, ...(fixture.reconcilerFile === undefined ? {} : { spec: fixture.run.spec }) };
  }
  let spec = reconcilerFile === undefined ? undefined : await loadReconciler(reconcilerFile);
  const objects = docs.filter(isObject);
  const wr = objects.find((d) => d.kind === WR_KIND || d.kind === WR_CLUSTER_KIND);
  if (spec === undefined && wr !== undefined) {
    try {
      spec = parseReconcilerSpec(wr);
    } catch (err) {
      throw new CliError(
        EXIT.INPUT,
        `${file}: the host would refuse this reconciler: ${(err as Error).message}`,
        'fix the manifest',
      );
    }
  }
  const rest = objects.filter((d) => d !== wr);
  const primary =
    spec === undefined ? rest[0] : rest.find((d) => d.kind === spec.for.kind && d.apiVersion === spec.for.apiVersion);
  if (primary === undefined) {
    throw new CliError(
      EXIT.INPUT,
      `${file}: no primary${spec === undefined ? '' : ` (a ${spec.for.apiVersion} ${spec.for.kind})`} among its objects`,
      'put the object to reconcile in the file, beside the objects the cache holds',
    );
  }
  const run = runOf(
    file,
    checkObjects(
      file,
      primary,
      rest.filter((d) => d !== primary),
    ),
    {
      ...(spec === undefined ? {} : { spec }),
      trigger: { reason: 'created' },
    },
  );
  return { run, ...(spec === undefined ? {} : { spec }) };
}

/** The writes as YAML documents: children, then the status, then deletions and events as comments. */
export async function renderYaml(result: OfflineResult, primary: KubeObject): Promise<string> {
  const yaml = await import('js-yaml');
  const dump = (o: unknown) => yaml.dump(o, { lineWidth: 120, noRefs: true });
  const docs: string[] = [];
  const where = `${primary.kind} ${primary.metadata.namespace ? `${primary.metadata.namespace}/` : ''}${primary.metadata.name}`;
  for (const child of result.children) docs.push(`# apply (field manager ${result.fieldManager})\n${dump(child)}`);
  if (result.status !== undefined) {
    const note = result.statusWritten ? 'apply status' : 'status (unchanged: nothing written)';
    docs.push(
      `# ${note} of ${where}\n${dump({ apiVersion: primary.apiVersion, kind: primary.kind, metadata: { name: primary.metadata.name, ...(primary.metadata.namespace ? { namespace: primary.metadata.namespace } : {}) }, status: result.status })}`,
    );
  }
  const notes: string[] = [];
  for (const d of result.deleted)
    notes.push(`# delete ${d.apiVersion} ${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name}`);
  for (const e of result.events) notes.push(`# event ${e.type} ${e.reason}: ${e.message}`);
  if (result.finalizer !== 'none') notes.push(`# finalizer ${result.finalizer}`);
  if (result.requeueAfterMs !== undefined) notes.push(`# requeue after ${result.requeueAfterMs} ms`);
  if (notes.length > 0) docs.push(`${notes.join('\n')}\n`);
  return docs.map((d) => `---\n${d}`).join('');
}

/** Server bookkeeping that changes on every write and says nothing about the module's fields. */
function comparable(o: KubeObject): KubeObject {
  const { managedFields: _m, resourceVersion: _r, generation: _g, ...metadata } = o.metadata;
  return { ...o, metadata };
}

async function diffAgainstCluster(client: KubeClient, result: OfflineResult, primary: KubeObject): Promise<string> {
  const [{ unifiedDiff }, yaml] = await Promise.all([import('../diff.ts'), import('js-yaml')]);
  const dump = (o: unknown) => yaml.dump(o, { lineWidth: 120, noRefs: true, sortKeys: true });
  const out: string[] = [];
  const live = async (o: KubeObject): Promise<KubeObject | undefined> => {
    const res = await client.resource(o.apiVersion, o.kind);
    return client.get(res, o.metadata.namespace, o.metadata.name).catch((err: { code?: string }) => {
      if (err.code === 'WR_KUBE_NOT_FOUND') return undefined;
      throw err;
    });
  };
  const name = (o: { kind: string; metadata: { name: string; namespace?: string } }) =>
    `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
  for (const child of result.children) {
    const [current, stored] = await Promise.all([
      live(child),
      client.apply(child, { fieldManager: result.fieldManager, force: true, dryRun: true }),
    ]);
    const d = unifiedDiff(current === undefined ? '' : dump(comparable(current)), dump(comparable(stored)), {
      before: current === undefined ? `${name(child)} (does not exist)` : `${name(child)} (live)`,
      after: `${name(child)} (after apply)`,
    });
    out.push(d === '' ? `= ${name(child)}: no change\n` : d);
  }
  if (result.statusWritten && result.status !== undefined) {
    const body: KubeObject = {
      apiVersion: primary.apiVersion,
      kind: primary.kind,
      metadata: {
        name: primary.metadata.name,
        ...(primary.metadata.namespace ? { namespace: primary.metadata.namespace } : {}),
      },
      status: result.status,
    };
    const current = await live(primary);
    if (current === undefined) {
      // The status subresource of an object that does not exist cannot be applied, not even as a dry run.
      out.push(`~ ${name(primary)} status: not compared, ${name(primary)} does not exist in the cluster\n`);
    } else {
      const stored = await client.apply(body, {
        fieldManager: result.fieldManager,
        force: true,
        dryRun: true,
        subresource: 'status',
      });
      const d = unifiedDiff(dump(current.status ?? {}), dump(stored.status ?? {}), {
        before: `${name(primary)} status (live)`,
        after: `${name(primary)} status (after apply)`,
      });
      out.push(d === '' ? `= ${name(primary)} status: no change\n` : d);
    }
  }
  if (result.finalizer !== 'none') out.push(`~ ${name(primary)}: finalizer ${result.finalizer}\n`);
  for (const d of result.deleted)
    out.push(`- delete ${d.apiVersion} ${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name}\n`);
  return out.join('');
}

async function render(moduleFile: string, opts: RenderOptions): Promise<void> {
  const bytes = await readInputFile(moduleFile, 'a module (.wasm), e.g. build/my-reconciler.wasm');
  const { run, spec } = await runFromFile(opts.file, opts.reconciler);
  if (opts.diff && spec === undefined) {
    throw new CliError(
      EXIT.USAGE,
      '--diff needs the WasmReconciler: its name is the field manager the dry run applies with',
      'pass --reconciler <wasmreconciler.yaml>, or put it in the objects file',
    );
  }
  const [{ OfflineEngine }, { isWrError }] = await Promise.all([
    import('../../offline/index.ts'),
    import('../../errors.ts'),
  ]);
  const engine = new OfflineEngine(bytes);
  let result: OfflineResult;
  try {
    result = await engine.run(run);
  } catch (err) {
    if (!isWrError(err)) throw err;
    throw new CliError(
      EXIT.FAILED,
      `the host would not run this module: ${err.code}: ${err.message}`,
      'see docs/errors.md for the code',
    );
  } finally {
    await engine.close();
  }
  if (result.outcome === 'skipped') {
    throw new CliError(
      EXIT.FAILED,
      "the host would not reconcile this primary: it is outside the reconciler's scope, or being deleted without the reconciler's finalizer",
      'check spec.for (namespaces, labelSelector) and metadata.finalizers',
    );
  }
  if (opts.diff) {
    const { connect } = await import('../cluster.ts');
    const client = await connect(opts.kubeconfig);
    try {
      process.stdout.write(await diffAgainstCluster(client, result, run.primary));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code?.startsWith('WR_KUBE') !== true) throw err;
      throw new CliError(
        EXIT.UNAVAILABLE,
        `the dry run failed: ${e.code}: ${e.message}`,
        'check --kubeconfig, the context and your RBAC (patch on each child kind)',
      );
    } finally {
      client.close();
    }
  } else {
    process.stdout.write(await renderYaml(result, run.primary));
  }
  if (result.error !== undefined) {
    throw new CliError(
      EXIT.FAILED,
      `the reconcile failed: ${result.error.code}: ${result.error.message}`,
      result.error.retryable
        ? 'the host would retry it with backoff'
        : 'the host would not retry it until the primary changes',
    );
  }
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description(
      'Print what a module would apply to given objects (YAML), or with --diff what would change in the cluster.',
    )
    .argument('<module.wasm>', 'the module file')
    .requiredOption(
      '-f, --file <objects.yaml>',
      'the primary and the objects the cache holds: a fixture, or multi-document YAML',
    )
    .option(
      '--reconciler <file>',
      'the WasmReconciler manifest (capabilities, config, limits); else taken from the file or inferred',
    )
    .option('--diff', 'compare against the live cluster with server-side apply dry runs (kubeconfig)', false)
    .option('--kubeconfig <path>', 'kubeconfig file for --diff (default: $KUBECONFIG, ~/.kube/config)')
    .addHelpText(
      'after',
      '\nExit codes: 0 rendered, 1 the reconcile failed or the host would refuse the module, 2 usage, ' +
        '3 an unreadable module or objects file, 4 cluster unreachable (--diff).',
    )
    .action(action('render', render));
}
