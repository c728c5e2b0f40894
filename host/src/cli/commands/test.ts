// `wasm-reconciler test <module.wasm> <fixtures...>`: runs YAML fixtures offline through the host's own pipeline.
//
// Each fixture is one reconcile on the offline engine (host/src/offline): production's loader, limits and
// fuel, cache reads, input encoding, output validation and executor planning with the WasmReconciler's
// capabilities; its result is checked against the fixture's `expect` block. --update rewrites that block
// from the result; --record captures a new fixture from a live cluster first.

import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { action, CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { readInputFile } from '../files.ts';

interface TestOptions {
  readonly reporter: 'spec' | 'tap' | 'junit';
  readonly output?: string;
  readonly update: boolean;
  readonly record?: string;
  readonly reconciler?: string;
  readonly kubeconfig?: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

/** Fixture arguments: files as given, directories as their .yaml/.yml files in name order. */
async function expand(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (info?.isDirectory() === true) {
      const names = (await readdir(p)).filter((n) => /\.ya?ml$/.test(n)).sort();
      if (names.length === 0)
        throw new CliError(EXIT.INPUT, `${p} holds no .yaml fixtures`, 'give fixture files or a directory of them');
      files.push(...names.map((n) => join(p, n)));
    } else {
      files.push(p);
    }
  }
  return files;
}

async function record(fixture: string, opts: TestOptions): Promise<void> {
  if (opts.reconciler === undefined) {
    throw new CliError(
      EXIT.USAGE,
      '--record needs --reconciler <wasmreconciler.yaml>',
      'it says which children and related objects to capture',
    );
  }
  if (await stat(fixture).catch(() => undefined)) {
    throw new CliError(
      EXIT.INPUT,
      `${fixture} exists; --record writes a new fixture`,
      'give a new path, or remove the file first',
    );
  }
  const [{ loadReconciler }, { recordObjects, parseTarget, fixtureText }, { connect }] = await Promise.all([
    import('../fixtures/fixture.ts'),
    import('../fixtures/record.ts'),
    import('../cluster.ts'),
  ]);
  const spec = await loadReconciler(opts.reconciler);
  const target = parseTarget(opts.record ?? '', spec);
  const client = await connect(opts.kubeconfig);
  try {
    const objects = await recordObjects(client, spec, target);
    await mkdir(dirname(resolve(fixture)), { recursive: true });
    await writeFile(
      fixture,
      fixtureText(dirname(resolve(fixture)), resolve(opts.reconciler), objects, `the cluster (${opts.record})`),
    );
    process.stderr.write(
      `recorded ${opts.record}: the primary and ${objects.observed.length} observed object(s) into ${fixture}\n`,
    );
    // A module may read a Secret's data, so it is recorded as stored; the file is then as sensitive as the Secret.
    const secrets = objects.observed.filter((o) => o.apiVersion === 'v1' && o.kind === 'Secret').length;
    if (secrets > 0) {
      process.stderr.write(
        `note: ${secrets} Secret(s) recorded with their data: review ${fixture} before committing it\n`,
      );
    }
  } finally {
    client.close();
  }
}

async function runTests(moduleFile: string, fixtureArgs: string[], opts: TestOptions): Promise<void> {
  const bytes = await readInputFile(moduleFile, 'a module (.wasm), e.g. build/my-reconciler.wasm');
  if (opts.record !== undefined) {
    if (fixtureArgs.length !== 1)
      throw new CliError(EXIT.USAGE, '--record writes exactly one fixture', 'give one fixture path to write');
    await record(fixtureArgs[0]!, opts);
  }
  const [{ runFixtures }, { format, formatSpec }, { expectationsOf }, { updateExpectations }] = await Promise.all([
    import('../fixtures/runner.ts'),
    import('../fixtures/report.ts'),
    import('../fixtures/expect.ts'),
    import('../fixtures/update.ts'),
  ]);
  const files = await expand(fixtureArgs);
  let reports = await runFixtures(bytes, files, { logLevel: opts.logLevel });
  if (opts.update || opts.record !== undefined) {
    let updated = 0;
    for (const r of reports) {
      if (r.outcome === undefined) continue;
      await updateExpectations(r.file, expectationsOf(r.outcome, r.fixture?.expect));
      updated++;
    }
    process.stderr.write(`updated the expect block of ${updated} fixture(s)\n`);
    // Checked again from the files as written, so what is reported is what the next run will see.
    if (updated > 0) reports = await runFixtures(bytes, files, { logLevel: opts.logLevel });
  }
  if (opts.output !== undefined) {
    await writeFile(opts.output, format(opts.reporter, reports));
    process.stdout.write(formatSpec(reports));
  } else {
    process.stdout.write(format(opts.reporter, reports));
  }
  const exit: ExitCode = reports.some((r) => r.verdict === 'invalid')
    ? EXIT.INPUT
    : reports.some((r) => r.verdict === 'failed')
      ? EXIT.FAILED
      : EXIT.OK;
  process.exitCode = exit;
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description(
      "Run YAML fixtures against a module offline, through the host's own load, read, validate and plan code.",
    )
    .argument('<module.wasm>', 'the module file')
    .argument('<fixtures...>', 'fixture files (.yaml), or directories of them')
    .addOption(new Option('--reporter <name>', 'output format').choices(['spec', 'tap', 'junit']).default('spec'))
    .option('--output <file>', 'write the report there (e.g. JUnit XML for CI) and a summary to stdout')
    .option(
      '--update',
      "rewrite each fixture's expect block from the module's result (keeping /patterns/ that still match)",
      false,
    )
    .option('--record <kind/ns/name>', 'capture the fixture from the cluster first (needs --reconciler; kubeconfig)')
    .option('--reconciler <file>', 'the WasmReconciler manifest --record reads capabilities from')
    .option('--kubeconfig <path>', 'kubeconfig file for --record (default: $KUBECONFIG, ~/.kube/config)')
    .addOption(
      new Option('--log-level <level>', 'guest log level (the guest sees the same level check)')
        .choices(['trace', 'debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .addHelpText(
      'after',
      '\nFixture format: docs/cli.md ("Fixtures").\n' +
        'Exit codes: 0 every fixture passed, 1 an expectation failed, 2 usage, 3 an unreadable module or fixture, ' +
        '4 cluster unreachable (--record).',
    )
    .action(action('test', runTests));
}
