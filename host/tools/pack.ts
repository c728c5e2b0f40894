// Stages a workspace package as it is installed outside this repo (compiled JS), and packs it with `npm pack`.
//
// In the repo, Node runs the packages' TypeScript directly; under node_modules it refuses to
// (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING). So a package leaves the repo as the JS and declarations
// tsc emits for its sources (same layout, relative `.ts` specifiers rewritten to `.js`), non-TypeScript
// files copied as they are, and a manifest whose `exports` and `bin` name the `.js` files. The staged
// directory is itself installable (`file:` path); the tarball is `npm pack` of it.
//
// Usage: node host/tools/pack.ts <package dir>... [--out <dir>]   (prints one tarball path per package)

import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');

/** What each package ships: TypeScript run by Node (compiled), and files copied verbatim. */
export interface PackLayout {
  /** Folders whose `.ts` files (tests excepted) are Node code, compiled to `.js` + `.d.ts`. */
  readonly compile: readonly string[];
  /** Files and folders shipped as they are (AssemblyScript sources are `.ts` read by asc, not Node). */
  readonly copy: readonly string[];
  /** Repo-relative declarations the sources rely on without importing them (not shipped). */
  readonly ambient?: readonly string[];
}

/** Why the layout is per package: the SDK's `assembly/` is AssemblyScript, which tsc must never see. */
const LAYOUTS: Record<string, PackLayout> = {
  '@wasm-reconciler/host': { compile: ['src'], copy: ['README.md'] },
  '@wasm-reconciler/sdk-assemblyscript': {
    compile: ['tools'],
    copy: ['assembly', 'template', 'README.md'],
    // The repo's one declaration of the WebAssembly JS API (@types/node has none).
    ambient: ['host/src/runtime/internal/webassembly.d.ts'],
  },
};

interface Manifest {
  name: string;
  version: string;
  exports?: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

const SKIPPED = new Set(['node_modules', 'build']);

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED.has(entry.name)) out.push(...(await sources(path)));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      out.push(path);
    }
  }
  return out;
}

function toJs(target: string): string {
  return target.endsWith('.ts') ? `${target.slice(0, -3)}.js` : target;
}

/** `exports` and `bin` as they resolve in the staged package: `.js` targets, with their declarations. */
export function stagedManifest(manifest: Manifest): Manifest {
  const { scripts: _scripts, devDependencies: _dev, ...rest } = manifest;
  const staged: Manifest = { ...rest };
  if (manifest.exports !== undefined) {
    staged.exports = Object.fromEntries(
      Object.entries(manifest.exports).map(([key, target]) => {
        if (typeof target !== 'string' || !target.endsWith('.ts')) return [key, target];
        return [key, { types: `${target.slice(0, -3)}.d.ts`, default: toJs(target) }];
      }),
    );
  }
  if (manifest.bin !== undefined) {
    staged.bin = Object.fromEntries(Object.entries(manifest.bin).map(([name, target]) => [name, toJs(target)]));
  }
  return staged;
}

/**
 * Worker entry points are addressed as `new URL('./x.ts', import.meta.url)`, a string tsc does not
 * rewrite: the staged copy names the emitted `.js` instead.
 */
export function rewriteModuleUrls(js: string): string {
  return js.replace(
    /new URL\((['"])(\.{1,2}\/[^'"]+)\.ts\1, import\.meta\.url\)/g,
    (_m, quote: string, path: string) => `new URL(${quote}${path}.js${quote}, import.meta.url)`,
  );
}

function compile(packageDir: string, files: string[], outDir: string): void {
  const base = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.base.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (base === undefined) throw new Error('tsconfig.base.json could not be read');
  const options: ts.CompilerOptions = {
    ...base.options,
    noEmit: false,
    allowImportingTsExtensions: false,
    rewriteRelativeImportExtensions: true,
    declaration: true,
    rootDir: packageDir,
    outDir,
  };
  const program = ts.createProgram(files, options);
  const result = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    const text = ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => '\n',
    });
    throw new Error(`tsc failed for ${packageDir}:\n${text}`);
  }
}

async function walk(dir: string, visit: (path: string) => Promise<void>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, visit);
    else await visit(path);
  }
}

/** Writes the installable form of the package at `packageDir` into `stageDir` (emptied first). */
export async function stagePackage(packageDir: string, stageDir: string): Promise<Manifest> {
  const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as Manifest;
  const layout = LAYOUTS[manifest.name];
  if (layout === undefined) throw new Error(`${manifest.name} has no pack layout in host/tools/pack.ts`);
  await rm(stageDir, { recursive: true, force: true });
  await mkdir(stageDir, { recursive: true });
  const files = (await Promise.all(layout.compile.map((d) => sources(join(packageDir, d))))).flat();
  compile(packageDir, [...files, ...(layout.ambient ?? []).map((f) => join(ROOT, f))], stageDir);
  // Hand-written declarations (ambient types the emitted ones refer to) are not emitted by tsc.
  for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
    await cp(file, join(stageDir, relative(packageDir, file)));
  }
  for (const dir of layout.compile) {
    await walk(join(stageDir, dir), async (path) => {
      if (!path.endsWith('.js')) return;
      const js = await readFile(path, 'utf8');
      const rewritten = rewriteModuleUrls(js);
      if (rewritten !== js) await writeFile(path, rewritten);
    });
  }
  for (const entry of layout.copy) {
    await cp(join(packageDir, entry), join(stageDir, entry), { recursive: true }).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
  }
  const staged = stagedManifest(manifest);
  await writeFile(join(stageDir, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`);
  return staged;
}

/** Stages under `outDir`/staged/ (an installable directory too) and packs into `outDir`; returns the tarball. */
export async function packPackage(packageDir: string, outDir: string): Promise<string> {
  const name = (JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as Manifest).name;
  const stageDir = join(outDir, 'staged', name.replace(/^@/, '').replace('/', '-'));
  await stagePackage(packageDir, stageDir);
  await mkdir(outDir, { recursive: true });
  const out = execFileSync('npm', ['pack', stageDir, '--pack-destination', outDir, '--json', '--ignore-scripts'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  if (info === undefined) throw new Error(`npm pack printed nothing for ${stageDir}`);
  return join(outDir, basename(info.filename));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node host/tools/pack.ts <package dir>... [--out <dir>]\n');
    process.exit(2);
  }
  const outDir = resolve(values.out ?? join(ROOT, 'build', 'packages'));
  for (const dir of positionals) {
    const tarball = await packPackage(resolve(dir), outDir);
    process.stdout.write(`${relative(process.cwd(), tarball) || tarball}\n`);
  }
}
