// Lists the fuel cases of the arm64 run and writes the exact module bytes both architectures will load.
//
// Two sources: every fixture guest (test/fixtures/guests/*.wat, compiled here once) called as the
// conformance suite calls them, and every YAML fixture of every example (examples/*/test/fixtures/) run
// against each module that example builds. Modules and fixtures are copied into the run's directory, so the
// arm64 pass reads what the amd64 pass read even if someone rebuilds or edits an example meanwhile.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture } from '../fixtures/guests/wat.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GUESTS_DIR = join(ROOT, 'test/fixtures/guests');
const EXAMPLES_DIR = join(ROOT, 'examples');

/** One fixture guest: loaded with `config` null and called once with wr_reconcile. */
export interface GuestCase {
  readonly kind: 'guest';
  readonly id: string;
  /** Relative to the run directory. */
  readonly wasm: string;
}

/** One example fixture run through the host's offline pipeline, as `wasm-reconciler test` runs it. */
export interface FixtureCase {
  readonly kind: 'fixture';
  readonly id: string;
  readonly wasm: string;
  /** The YAML fixture, relative to the run directory; the example's own YAML files sit where it expects them. */
  readonly fixture: string;
}

export type FuelCase = GuestCase | FixtureCase;

export const CASES_FILE = 'cases.json';

/** Writes the modules and cases.json into `dir`; returns the cases. */
export async function writeCases(dir: string): Promise<FuelCase[]> {
  const cases: FuelCase[] = [];
  mkdirSync(join(dir, 'guests'), { recursive: true });
  for (const file of readdirSync(GUESTS_DIR)
    .filter((f) => f.endsWith('.wat'))
    .sort()) {
    const name = basename(file, '.wat');
    const wasm = `guests/${name}.wasm`;
    writeFileSync(join(dir, wasm), await fixture(name));
    cases.push({ kind: 'guest', id: `guest/${name}`, wasm });
  }
  for (const example of examplesWithFixtures()) {
    const fixtures = join(EXAMPLES_DIR, example, 'test/fixtures');
    const files = readdirSync(fixtures)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    const modules = buildExample(example);
    mkdirSync(join(dir, 'modules', example), { recursive: true });
    // A fixture names its WasmReconciler by a relative path (reconciler: ../../wasmreconciler.yaml).
    const copy = join(dir, 'examples', example);
    mkdirSync(join(copy, 'test/fixtures'), { recursive: true });
    for (const file of readdirSync(join(EXAMPLES_DIR, example)).filter((f) => /\.ya?ml$/.test(f))) {
      copyFileSync(join(EXAMPLES_DIR, example, file), join(copy, file));
    }
    for (const file of files) copyFileSync(join(fixtures, file), join(copy, 'test/fixtures', file));
    for (const module of modules) {
      const wasm = `modules/${example}/${module}`;
      copyFileSync(join(EXAMPLES_DIR, example, 'build', module), join(dir, wasm));
      for (const file of files) {
        cases.push({
          kind: 'fixture',
          id: `${example}/${basename(module, '.wasm')}/${file}`,
          wasm,
          fixture: `examples/${example}/test/fixtures/${file}`,
        });
      }
    }
  }
  writeFileSync(join(dir, CASES_FILE), `${JSON.stringify(cases, null, 2)}\n`);
  return cases;
}

function examplesWithFixtures(): string[] {
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .filter((name) => {
      const dir = join(EXAMPLES_DIR, name, 'test/fixtures');
      return existsSync(dir) && readdirSync(dir).some((f) => /\.ya?ml$/.test(f));
    })
    .sort();
}

/**
 * Runs the example's own build (its package.json `build` script: the SDK's cached build) and returns the
 * modules it wrote, by their build manifests. An example with fixtures and no module is an error.
 */
function buildExample(example: string): string[] {
  const dir = join(EXAMPLES_DIR, example);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: { build?: string } };
  const where = relative(ROOT, dir);
  if (manifest.scripts?.build === undefined) throw new Error(`${where} has fixtures but no build script`);
  execFileSync('npm', ['run', 'build', '--silent', `--workspace=${where}`], { cwd: ROOT, stdio: 'inherit' });
  const built = join(dir, 'build');
  const modules = readdirSync(built)
    .filter((f) => f.endsWith('.build.json'))
    .map((f) => `${basename(f, '.build.json')}.wasm`)
    .filter((f) => existsSync(join(built, f)))
    .sort();
  if (modules.length === 0) throw new Error(`${where}: npm run build wrote no module into build/`);
  return modules;
}
