// `wasm-reconciler generate --crd crd.yaml --out assembly/types.ts`: typed AssemblyScript classes for a
// primary kind's spec and status, from its CRD's OpenAPI v3 schema.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Command } from 'commander';
import { assemblyScriptTypes } from '../codegen/assemblyscript.ts';
import { action, CliError, EXIT } from '../exit-codes.ts';
import type { PrimaryKind } from '../project/crd.ts';

/** The types file of `primary`, naming `crdFile` (its file name, so the text does not depend on the cwd) in its header. */
export function typesFor(primary: PrimaryKind, crdFile: string): string {
  return assemblyScriptTypes({
    kind: primary.kind,
    apiVersion: `${primary.group}/${primary.version}`,
    source: crdFile,
    spec: primary.spec,
    status: primary.status,
  });
}

export interface GenerateOptions {
  readonly crd: string;
  readonly out: string;
  readonly version?: string;
  /** Compare instead of writing: true when the file is up to date. */
  readonly check?: boolean;
}

/** Writes (or, with `check`, compares) the types file; returns whether it was up to date. */
export async function generateTypes(o: GenerateOptions): Promise<{ upToDate: boolean; text: string }> {
  // The YAML parser is loaded when generate runs, not whenever the CLI starts.
  const { readCrdFile } = await import('../project/crd.ts');
  const primary = await readCrdFile(o.crd, o.version);
  const text = typesFor(primary, basename(o.crd));
  const current = await readFile(o.out, 'utf8').catch(() => undefined);
  const upToDate = current === text;
  if (!o.check && !upToDate) {
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, text);
  }
  return { upToDate, text };
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description("Generate typed AssemblyScript classes for the primary's spec and status from its CRD.")
    .requiredOption('--crd <file>', 'the CRD of the primary kind (YAML)')
    .option('--out <file>', 'the file to write', 'assembly/types.ts')
    .option('--version <version>', 'the CRD version to generate for (default: its storage version)')
    .option('--check', 'write nothing; exit 1 when the file is not what generate would write (for CI)', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 written (or up to date with --check), 1 out of date (--check), 2 usage (an unknown --version), ' +
        '3 a CRD that is missing, not YAML or has no schema.',
    )
    .action(
      action('generate', async (opts: { crd: string; out: string; version?: string; check: boolean }) => {
        const { upToDate } = await generateTypes(opts);
        if (opts.check) {
          if (!upToDate) {
            throw new CliError(EXIT.FAILED, `${opts.out} is out of date with ${opts.crd}`, 'run `npm run generate`');
          }
          process.stdout.write(`${opts.out} is up to date\n`);
          return;
        }
        process.stdout.write(upToDate ? `${opts.out} is up to date\n` : `wrote ${opts.out}\n`);
      }),
    );
}
