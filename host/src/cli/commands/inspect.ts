// `wasm-reconciler inspect <module.wasm>`: what a module declares and whether this host would load it.
//
// The declarations come from the host's own decoder (runtime/wasm inspectModule) and the verdict from the
// real loader (compileModule with the default limits), so what inspect says is what `run` would do.

import type { Command } from 'commander';
import { action, CliError, EXIT } from '../exit-codes.ts';
import { readInputFile } from '../files.ts';

export interface InspectReport {
  readonly file: string;
  readonly digest: string;
  readonly bytes: number;
  /** From the `wr_abi_version_<n>` marker export; undefined when the module has none. */
  readonly abiVersion: number | undefined;
  readonly imports: ReadonlyArray<{ module: string; name: string; kind: string; signature?: string }>;
  readonly exports: ReadonlyArray<{ name: string; kind: string; signature?: string }>;
  readonly memories: ReadonlyArray<{ min: number; max?: number; imported: boolean }>;
  readonly tables: ReadonlyArray<{ min: number; max?: number; imported: boolean }>;
  readonly customSections: readonly string[];
  /** The loader's verdict with the default limits. */
  readonly load:
    | {
        readonly ok: true;
        readonly instrumentedBytes: number;
        readonly memoryMaxPages: number;
        readonly hasFinalize: boolean;
      }
    | { readonly ok: false; readonly code: string; readonly message: string };
  /** With --fixture: each guest call of one offline reconcile of that fixture, with the fuel it used. */
  readonly fixture?: {
    readonly file: string;
    readonly calls: ReadonlyArray<{ export: string; outcome: string; fuelUsed: number; durationMs: number }>;
  };
}

export async function inspectFile(file: string): Promise<InspectReport> {
  const [{ inspectModule }, { compileModule }, { DEFAULT_RUNTIME_LIMITS }, { sha256Digest }, abi, { isWrError }] =
    await Promise.all([
      import('../../runtime/wasm/index.ts'),
      import('../../runtime/loader.ts'),
      import('../../runtime/limits.ts'),
      import('../../digest.ts'),
      import('../../abi/constants.ts'),
      import('../../errors.ts'),
    ]);
  const bytes = await readInputFile(file, 'a module (.wasm), e.g. build/my-reconciler.wasm');
  let info: ReturnType<typeof inspectModule>;
  try {
    info = inspectModule(bytes);
  } catch (err) {
    if (isWrError(err)) {
      throw new CliError(
        EXIT.INPUT,
        `${file} is not a module this host can decode: ${err.code}: ${err.message}`,
        'build it with wr-as-build (the SDK), or check that the file is a WebAssembly binary',
      );
    }
    throw err;
  }
  const signature = (typeIndex: number | undefined): string | undefined => {
    const type = typeIndex === undefined ? undefined : info.types[typeIndex];
    return type === undefined ? undefined : `(${type.params.join(', ')}) -> (${type.results.join(', ')})`;
  };
  const digest = sha256Digest(bytes);
  const marker = info.exports.find((e) => e.name.startsWith(abi.ABI_MARKER_PREFIX));
  const abiVersion = marker === undefined ? undefined : Number(marker.name.slice(abi.ABI_MARKER_PREFIX.length));
  let load: InspectReport['load'];
  try {
    const compiled = await compileModule(bytes, digest, DEFAULT_RUNTIME_LIMITS);
    load = {
      ok: true,
      instrumentedBytes: compiled.instrumentedBytes,
      memoryMaxPages: compiled.memoryMaxPages,
      hasFinalize: compiled.hasFinalize,
    };
  } catch (err) {
    if (!isWrError(err)) throw err;
    load = { ok: false, code: err.code, message: err.message };
  }
  return {
    file,
    digest,
    bytes: bytes.length,
    abiVersion: Number.isSafeInteger(abiVersion) ? abiVersion : undefined,
    imports: info.imports.map((i) => ({
      module: i.module,
      name: i.name,
      kind: i.kind,
      ...(i.kind === 'function' ? { signature: signature(i.typeIndex) } : {}),
    })),
    exports: info.exports.map((e) => ({
      name: e.name,
      kind: e.kind,
      ...(e.kind === 'function' ? { signature: signature(info.functionTypeIndices[e.index]) } : {}),
    })),
    memories: info.memories.map((m) => ({
      min: m.min,
      ...(m.max === undefined ? {} : { max: m.max }),
      imported: m.imported,
    })),
    tables: info.tables,
    customSections: info.customSections,
    load,
  };
}

/** The guest calls of one offline run of `fixtureFile`, through the runner `test` uses. */
async function fuelOn(moduleFile: string, fixtureFile: string): Promise<NonNullable<InspectReport['fixture']>> {
  const [{ loadFixture }, { runFixture }, { OfflineEngine }] = await Promise.all([
    import('../fixtures/fixture.ts'),
    import('../fixtures/runner.ts'),
    import('../../offline/index.ts'),
  ]);
  const fixture = await loadFixture(fixtureFile);
  const engine = new OfflineEngine(await readInputFile(moduleFile, 'a module (.wasm)'));
  try {
    const outcome = await runFixture(engine, fixture);
    if (!('calls' in outcome)) {
      throw new CliError(
        EXIT.FAILED,
        `${fixtureFile}: ${outcome.error.code}: ${outcome.error.message}`,
        'run `wasm-reconciler test` on it for details',
      );
    }
    return {
      file: fixtureFile,
      calls: outcome.calls.map((c) => ({
        export: c.export,
        outcome: c.outcome,
        fuelUsed: c.fuelUsed,
        durationMs: c.durationMs,
      })),
    };
  } finally {
    await engine.close();
  }
}

function limits(l: { min: number; max?: number; imported: boolean }, unit: string): string {
  return `min ${l.min}${l.max === undefined ? ', no max' : `, max ${l.max}`} ${unit}${l.imported ? ' (imported)' : ''}`;
}

export function formatReport(r: InspectReport): string {
  const lines = [
    `module       ${r.file}`,
    `digest       ${r.digest}`,
    `size         ${r.bytes} bytes`,
    `ABI          ${r.abiVersion === undefined ? 'none (no wr_abi_version_<n> export)' : `v${r.abiVersion}`}`,
    r.load.ok
      ? `loads        yes (instrumented ${r.load.instrumentedBytes} bytes, memory cap ${r.load.memoryMaxPages} pages, ${r.load.hasFinalize ? 'with' : 'no'} wr_finalize)`
      : `loads        no: ${r.load.code}: ${r.load.message}`,
    `imports (${r.imports.length})`,
    ...r.imports.map((i) => `  ${i.module}.${i.name}  ${i.kind}${i.signature === undefined ? '' : ` ${i.signature}`}`),
    `exports (${r.exports.length})`,
    ...r.exports.map((e) => `  ${e.name}  ${e.kind}${e.signature === undefined ? '' : ` ${e.signature}`}`),
    `memories (${r.memories.length})`,
    ...r.memories.map((m) => `  ${limits(m, 'pages of 64 KiB')}`),
    `tables (${r.tables.length})`,
    ...r.tables.map((t) => `  ${limits(t, 'elements')}`),
    `custom sections (${r.customSections.length})${r.customSections.length === 0 ? '' : `: ${r.customSections.join(', ')}`}`,
    ...(r.fixture === undefined
      ? []
      : [
          `fuel per call on ${r.fixture.file}`,
          ...r.fixture.calls.map(
            (c) => `  ${c.export}  ${c.fuelUsed} fuel, ${c.durationMs.toFixed(2)} ms, ${c.outcome}`,
          ),
        ]),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Describe a module: ABI version, imports and exports with signatures, size, digest, limits, sections.')
    .argument('<module.wasm>', 'the module file')
    .option('--json', 'print the report as JSON', false)
    .option(
      '--fixture <fixture.yaml>',
      'also run this fixture offline (as `test` does) and report the fuel of each call',
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 the host would load it, 1 it would refuse it (the reason is printed), 3 unreadable or not a module.',
    )
    .action(
      action('inspect', async (file: string, opts: { json: boolean; fixture?: string }) => {
        let report = await inspectFile(file);
        if (opts.fixture !== undefined && report.load.ok)
          report = { ...report, fixture: await fuelOn(file, opts.fixture) };
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
        if (!report.load.ok) process.exitCode = EXIT.FAILED;
      }),
    );
}
