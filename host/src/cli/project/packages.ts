// Where a new project gets the SDK and the CLI from: packed tarballs (given, or packed from this checkout)
// or, with neither, the registry a team publishes them to (docs/cli.md, "Installing outside this repo").

import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from '../exit-codes.ts';

export const PACKAGES = {
  host: { name: '@wasm-reconciler/host', file: 'wasm-reconciler-host' },
  sdk: { name: '@wasm-reconciler/sdk-assemblyscript', file: 'wasm-reconciler-sdk-assemblyscript' },
} as const;

/** The pack tool of a checkout (host/tools/pack.ts); absent from an installed host package. */
const PACK_TOOL = new URL('../../../tools/pack.ts', import.meta.url);

export interface PackageSource {
  /** dependency name -> version spec (`file:...` or a range). */
  readonly dependencies: Record<string, string>;
  /** Said to the user: where the packages come from. */
  readonly note: string;
}

/** The tarball of `file` (a package's file-name stem) in `dir`: the only one, or the newest by name. */
async function tarballIn(dir: string, stem: string): Promise<string> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    throw new CliError(
      EXIT.INPUT,
      `--packages ${dir} is not a readable directory`,
      'give the --out directory of `node host/tools/pack.ts host guest-sdk/assemblyscript --out <dir>`',
    );
  }
  const matches = entries.filter((e) => new RegExp(`^${stem}-\\d+\\.\\d+\\.\\d+.*\\.tgz$`).test(e)).sort();
  const found = matches.at(-1);
  if (found === undefined) {
    throw new CliError(
      EXIT.INPUT,
      `no ${stem}-<version>.tgz in ${dir}`,
      'pack both packages there: node host/tools/pack.ts host guest-sdk/assemblyscript --out <dir>',
    );
  }
  return join(dir, found);
}

function fileSpec(projectDir: string, tarball: string): string {
  return `file:${relative(projectDir, tarball)}`;
}

/** Tarballs from `dir` (--packages). */
export async function givenPackages(projectDir: string, dir: string): Promise<PackageSource> {
  const host = await tarballIn(dir, PACKAGES.host.file);
  const sdk = await tarballIn(dir, PACKAGES.sdk.file);
  return {
    dependencies: { [PACKAGES.host.name]: fileSpec(projectDir, host), [PACKAGES.sdk.name]: fileSpec(projectDir, sdk) },
    note: `depends on the tarballs in ${dir}`,
  };
}

/** True when this CLI runs from a checkout, which can pack its own packages. */
export function canPack(): boolean {
  return existsSync(fileURLToPath(PACK_TOOL));
}

/** Packs this checkout's host and SDK into `<project>/vendor/` (kept with the project, so a clone installs). */
export async function packFromCheckout(projectDir: string, progress: (line: string) => void): Promise<PackageSource> {
  // Imported by URL: the tool is no part of the host package, and tsc must not pull it into the package's build.
  const { packPackage } = (await import(PACK_TOOL.href)) as {
    packPackage(packageDir: string, outDir: string): Promise<string>;
  };
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const vendor = join(projectDir, 'vendor');
  await mkdir(vendor, { recursive: true });
  progress('packing @wasm-reconciler/host and @wasm-reconciler/sdk-assemblyscript from this checkout into vendor/');
  // The tool stages each package beside its tarball: only the tarballs belong in the project.
  const out = await mkdtemp(join(tmpdir(), 'wr-init-pack-'));
  const [host = '', sdk = ''] = await (async () => {
    try {
      const packed = [
        await packPackage(join(root, 'host'), out),
        await packPackage(join(root, 'guest-sdk/assemblyscript'), out),
      ];
      return await Promise.all(
        packed.map(async (tarball) => {
          const target = join(vendor, basename(tarball));
          await copyFile(tarball, target);
          return target;
        }),
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  })();
  return {
    dependencies: { [PACKAGES.host.name]: fileSpec(projectDir, host), [PACKAGES.sdk.name]: fileSpec(projectDir, sdk) },
    note: 'depends on vendor/*.tgz, packed from this checkout',
  };
}

/** The registry versions, for a CLI installed from a team's registry. */
export function registryPackages(version: string): PackageSource {
  return {
    dependencies: { [PACKAGES.host.name]: `^${version}`, [PACKAGES.sdk.name]: `^${version}` },
    note: `depends on ^${version} from your npm registry (pass --packages <dir> to use packed tarballs instead)`,
  };
}
