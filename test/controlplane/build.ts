// Builds the control plane's binaries once into a versioned cache outside the repo: kube-apiserver and
// kube-controller-manager of one Kubernetes minor, a datastore (etcd or kine), and kustomize (for the
// deploy/ tests).
//
// Each component (one Go wrapper module) is an entry of its own, keyed by its version, its go.mod/go.sum
// and the exact build recipe, so a version bump or a flag change builds that entry and nothing else, and
// flavours share what they have in common (kine and etcd runs share one kube-apiserver). A build happens in a
// `.partial` directory that is renamed into place only after every binary exists, so a killed or
// failed build never counts as done. A lock file keeps two processes from building the same entry.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';
import { describeExit, findExecutable, isAlive, logTail, spawnGuarded } from './process.ts';
import {
  type ControlPlaneFlavour,
  type Datastore,
  ETCD_MODULE_DIR,
  GO_MODULES_DIR,
  KINE_MODULE_DIR,
  KUSTOMIZE_MODULE_DIR,
  kubernetesModuleDir,
  type PinnedVersions,
  pinnedVersions,
  resolveFlavour,
} from './versions.ts';

export interface ControlPlaneBinaries {
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  /** The store kube-apiserver talks to: etcd itself, or kine serving the etcd API from SQLite. */
  readonly datastore: { readonly kind: Datastore; readonly binary: string };
  /** kustomize, built with the control plane so tests can render deploy/'s kustomizations. */
  readonly kustomize: string;
  readonly versions: PinnedVersions;
  /** The cache entries holding the binaries: one per component (Kubernetes, datastore, kustomize). */
  readonly dirs: readonly string[];
}

export interface EnsureBinariesOptions {
  /** Which Kubernetes minor and datastore; unset fields follow $WR_TEST_KUBERNETES/$WR_TEST_DATASTORE, else the default. */
  readonly flavour?: Partial<ControlPlaneFlavour>;
  /** Where progress lines go; defaults to stderr. */
  readonly report?: (line: string) => void;
  /** Overrides the cache root (default: $WR_CONTROLPLANE_CACHE, else $XDG_CACHE_HOME or ~/.cache). */
  readonly cacheRoot?: string;
  /** The go command (default: $WR_GO, else `go` on PATH, else /usr/local/go/bin/go). */
  readonly goCommand?: string;
}

export interface Progress {
  readonly report: (line: string) => void;
  /** Rewrite one terminal line every second instead of printing a line every 30 s. */
  readonly inPlace: boolean;
}

export interface BuildStep {
  readonly binary: string;
  readonly moduleDir: string;
  readonly goPackage: string;
  readonly ldflags: string;
}

/** One Go wrapper module and what it builds: the unit of caching, with its own version key. */
export interface Component {
  /** `kubernetes-1.37`, `etcd`, `kine`, `kustomize`. */
  readonly name: string;
  /** The release the module pins, e.g. `v1.37.2`. */
  readonly version: string;
  readonly moduleDir: string;
  readonly steps: readonly BuildStep[];
}

const COMPLETE_MARKER = 'complete.json';
/** A cold Kubernetes build takes 10-25 minutes on 2 cores; waiting on another builder is bounded. */
const FOREIGN_BUILD_WAIT_MS = 90 * 60_000;

export function defaultCacheRoot(): string {
  const override = process.env.WR_CONTROLPLANE_CACHE;
  if (override !== undefined && override !== '') return override;
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache');
  return join(base, 'wasm-reconciler', 'controlplane');
}

function kubernetesComponent(minor: string, version: string): Component {
  const moduleDir = kubernetesModuleDir(minor);
  const k8s = /^v(\d+)\.(\d+)\./.exec(version);
  const versionFlags = [
    ['gitVersion', version],
    ['gitMajor', k8s?.[1] ?? ''],
    ['gitMinor', k8s?.[2] ?? ''],
    ['gitTreeState', 'clean'],
  ]
    .flatMap(([key, value]) => [
      `-X k8s.io/component-base/version.${key}=${value}`,
      `-X k8s.io/client-go/pkg/version.${key}=${value}`,
    ])
    .join(' ');
  // -s -w only changes the link step, so the compile cache is shared with any plain `go build`.
  const step = (binary: string): BuildStep => ({
    binary,
    moduleDir,
    goPackage: `k8s.io/kubernetes/cmd/${binary}`,
    ldflags: `-s -w ${versionFlags}`,
  });
  return {
    name: `kubernetes-${minor}`,
    version,
    moduleDir,
    steps: [step('kube-apiserver'), step('kube-controller-manager')],
  };
}

function datastoreComponent(kind: Datastore, version: string): Component {
  if (kind === 'etcd') {
    return {
      name: 'etcd',
      version,
      moduleDir: ETCD_MODULE_DIR,
      steps: [{ binary: 'etcd', moduleDir: ETCD_MODULE_DIR, goPackage: 'go.etcd.io/etcd/server/v3', ldflags: '-s -w' }],
    };
  }
  // CGO_ENABLED=0 selects kine's pure-Go SQLite driver (modernc.org/sqlite), kine's own "nocgo" build.
  return {
    name: 'kine',
    version,
    moduleDir: KINE_MODULE_DIR,
    steps: [
      {
        binary: 'kine',
        moduleDir: KINE_MODULE_DIR,
        goPackage: 'github.com/k3s-io/kine',
        ldflags: `-s -w -X github.com/k3s-io/kine/pkg/version.Version=${version}`,
      },
    ],
  };
}

function kustomizeComponent(version: string): Component {
  // `kustomize version` reads the module version from the build info; no -X flags needed.
  return {
    name: 'kustomize',
    version,
    moduleDir: KUSTOMIZE_MODULE_DIR,
    steps: [
      {
        binary: 'kustomize',
        moduleDir: KUSTOMIZE_MODULE_DIR,
        goPackage: 'sigs.k8s.io/kustomize/kustomize/v5',
        ldflags: '-s -w',
      },
    ],
  };
}

/** Build environment: fixed so that the user's GOFLAGS or a stray go.work cannot change what gets cached. */
function buildEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=readonly' };
}

/** `<component>-<version>-<os>-<arch>-<hash>`: the hash covers the recipe and the module's go.mod/go.sum. */
export function cacheKey(component: Component): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({ steps: component.steps.map(({ moduleDir: _, ...step }) => step), env: 'CGO_ENABLED=0' }),
  );
  for (const file of ['go.mod', 'go.sum'])
    hash.update(`\0${file}\0`).update(readFileSync(join(component.moduleDir, file)));
  return `${component.name}-${component.version}-${process.platform}-${process.arch}-${hash.digest('hex').slice(0, 12)}`;
}

/** Returns the cached binaries of a flavour, building each missing component first. */
export async function ensureControlPlaneBinaries(options: EnsureBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  const progress: Progress =
    options.report === undefined
      ? { report: (line) => process.stderr.write(`${line}\n`), inPlace: process.stderr.isTTY === true }
      : { report: options.report, inPlace: false };
  const flavour = resolveFlavour(options.flavour);
  const versions = pinnedVersions(flavour);
  const root = options.cacheRoot ?? defaultCacheRoot();
  const goCommand = options.goCommand ?? process.env.WR_GO;
  const kubernetes = await ensureComponent(
    kubernetesComponent(flavour.kubernetes, versions.kubernetes),
    root,
    progress,
    goCommand,
  );
  const datastore = await ensureComponent(
    datastoreComponent(flavour.datastore, versions.datastoreVersion),
    root,
    progress,
    goCommand,
  );
  const kustomize = await ensureComponent(kustomizeComponent(versions.kustomize), root, progress, goCommand);
  return {
    kubeApiserver: join(kubernetes, 'bin', 'kube-apiserver'),
    kubeControllerManager: join(kubernetes, 'bin', 'kube-controller-manager'),
    datastore: { kind: flavour.datastore, binary: join(datastore, 'bin', flavour.datastore) },
    kustomize: join(kustomize, 'bin', 'kustomize'),
    versions,
    dirs: [kubernetes, datastore, kustomize],
  };
}

/** The cache entry of one component, built first when the cache has no complete one. */
async function ensureComponent(
  component: Component,
  root: string,
  progress: Progress,
  goCommand: string | undefined,
): Promise<string> {
  const key = cacheKey(component);
  const dir = join(root, key);
  if (isComplete(dir)) return dir;
  mkdirSync(root, { recursive: true });
  const lockPath = join(root, `${key}.lock`);
  // Another process may finish the same entry while we wait for its lock.
  if (!(await acquireBuildLock(lockPath, () => isComplete(dir), progress))) return dir;
  try {
    if (!isComplete(dir)) await build(component, root, key, progress, goCommand === '' ? undefined : goCommand);
    return dir;
  } finally {
    rmSync(lockPath, { force: true });
  }
}

function isComplete(dir: string): boolean {
  return existsSync(join(dir, COMPLETE_MARKER));
}

async function build(
  component: Component,
  root: string,
  key: string,
  progress: Progress,
  goCommand: string | undefined,
): Promise<void> {
  const { report } = progress;
  const go = await findGoToolchain(goCommand, component.moduleDir);
  const partial = join(root, `${key}.partial`);
  const final = join(root, key);
  const logDir = join(root, 'logs', key);
  // Leftovers of an interrupted build (or an entry without its marker) are never trusted.
  rmSync(partial, { recursive: true, force: true });
  rmSync(final, { recursive: true, force: true });
  mkdirSync(join(partial, 'bin'), { recursive: true });
  mkdirSync(logDir, { recursive: true });

  report(`Building ${component.name} ${component.version} for the local control plane with ${go.version}.`);
  report(`This happens once per version; the binaries are cached in ${final}`);
  const seconds: Record<string, number> = {};
  const started = Date.now();
  try {
    for (const step of component.steps) {
      seconds[step.binary] = await buildOne(go.path, step, join(partial, 'bin', step.binary), logDir, progress);
    }
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(
    join(partial, COMPLETE_MARKER),
    `${JSON.stringify({ component: component.name, version: component.version, goVersion: go.version, builtAt: new Date().toISOString(), seconds }, null, 2)}\n`,
  );
  renameSync(partial, final);
  report(`${component.name} ${component.version} built in ${formatElapsed(Date.now() - started)}.`);
}

export async function buildOne(
  go: string,
  step: BuildStep,
  output: string,
  logDir: string,
  progress: Progress,
): Promise<number> {
  const logPath = join(logDir, `${step.binary}.log`);
  rmSync(logPath, { force: true });
  const started = Date.now();
  const child = spawnGuarded({
    name: `go build ${step.binary}`,
    command: go,
    args: ['build', '-trimpath', '-ldflags', step.ldflags, '-o', output, step.goPackage],
    cwd: step.moduleDir,
    env: buildEnv(),
    logPath,
  });
  const ticker = startTicker(`building ${step.binary}`, started, progress);
  const status = await child.exited;
  ticker.stop();
  if (status.code !== 0 || !existsSync(output)) {
    throw new ControlPlaneError(
      'CP_BUILD_FAILED',
      `go build of ${step.binary} ${describeExit(status)}. Last lines of ${logPath}:\n${logTail(logPath, 30)}\n` +
        'Fix the cause above (network access to the Go module proxy, disk space, Go version) and run again; ' +
        'the half-built entry is discarded.',
      { logPath },
    );
  }
  const elapsed = Date.now() - started;
  progress.report(`built ${step.binary} in ${formatElapsed(elapsed)}`);
  return Math.round(elapsed / 1000);
}

export interface GoToolchain {
  readonly path: string;
  readonly version: string;
}

/** A Go that can build `moduleDir` (default: every wrapper module under go/). */
export async function findGoToolchain(explicit: string | undefined, moduleDir?: string): Promise<GoToolchain> {
  // The official tarball installs to /usr/local/go, which non-login shells often miss on PATH.
  const path =
    explicit ?? findExecutable('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  const needed = minimumGoVersion(moduleDir === undefined ? wrapperModuleDirs() : [moduleDir]);
  if (path === undefined || !existsSync(path)) {
    throw new ControlPlaneError(
      'CP_GO_MISSING',
      `No Go toolchain found${path === undefined ? '' : ` at ${path}`}: the first start builds the control plane ` +
        `from source and needs Go >= ${needed}. Install it from https://go.dev/dl/ (or your package manager), ` +
        'put `go` on PATH (or set WR_GO to its path), and run again. Later runs use the cached binaries and need no Go.',
    );
  }
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(path, ['env', 'GOVERSION', 'GOTOOLCHAIN'], { env: buildEnv() }));
  } catch (cause) {
    throw new ControlPlaneError(
      'CP_GO_MISSING',
      `${path} does not run (\`go env\` failed); reinstall Go >= ${needed}.`,
      {
        cause,
      },
    );
  }
  const [version = '', toolchain = ''] = stdout.trim().split('\n');
  // With GOTOOLCHAIN=auto (the default) an older go downloads the toolchain go.mod asks for by itself.
  if (compareGoVersions(version.replace(/^go/, ''), needed) < 0 && toolchain.startsWith('local')) {
    throw new ControlPlaneError(
      'CP_GO_MISSING',
      `${path} is ${version} but the control plane needs Go >= ${needed}, and GOTOOLCHAIN=local forbids ` +
        'downloading it. Install a newer Go or unset GOTOOLCHAIN.',
    );
  }
  return { path, version };
}

function wrapperModuleDirs(): string[] {
  return readdirSync(GO_MODULES_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(GO_MODULES_DIR, entry.name));
}

function minimumGoVersion(moduleDirs: readonly string[]): string {
  let highest = '1.0';
  for (const dir of moduleDirs) {
    const directive = /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(readFileSync(join(dir, 'go.mod'), 'utf8'))?.[1];
    if (directive !== undefined && compareGoVersions(directive, highest) > 0) highest = directive;
  }
  return highest;
}

function compareGoVersions(a: string, b: string): number {
  const pa = a.split(/[.a-z]/).map(Number);
  const pb = b.split(/[.a-z]/).map(Number);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] || 0) - (pb[i] || 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/**
 * Takes the build lock, waiting (with progress) while a live process holds it. Returns false, without the
 * lock, when the holder completed the entry meanwhile.
 */
export async function acquireBuildLock(
  lockPath: string,
  doneByOther: () => boolean,
  progress: Progress,
): Promise<boolean> {
  const started = Date.now();
  let ticker: { stop(): void } | undefined;
  try {
    for (;;) {
      try {
        writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = lockOwner(lockPath);
      if (owner === undefined) {
        await sleep(100);
        continue;
      }
      if (Number.isNaN(owner) || !isAlive(owner)) {
        rmSync(lockPath, { force: true });
        continue;
      }
      if (doneByOther()) return false;
      ticker ??= startTicker(`waiting for the control-plane build in process ${owner}`, started, progress);
      if (Date.now() - started > FOREIGN_BUILD_WAIT_MS) {
        throw new ControlPlaneError(
          'CP_BUILD_FAILED',
          `Process ${owner} has held ${lockPath} for over ${FOREIGN_BUILD_WAIT_MS / 60_000} minutes. ` +
            'If that build is stuck, stop it (or delete the lock file) and run again.',
        );
      }
      await sleep(1000);
    }
  } finally {
    ticker?.stop();
  }
}

/** The pid in a lock file: NaN when abandoned, undefined while its creator has not written it yet. */
function lockOwner(lockPath: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  if (Number.isInteger(pid)) return pid;
  // An empty lock older than a few seconds belongs to a process that died between create and write.
  try {
    return Date.now() - statSync(lockPath).mtimeMs > 5000 ? Number.NaN : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Prints "<what>… 1m20s" while a long step runs: rewritten in place every second on a terminal, one line
 * every 30 s otherwise (CI logs), so a cold build is never silent.
 */
function startTicker(what: string, started: number, progress: Progress): { stop(): void } {
  const { report, inPlace: interactive } = progress;
  const line = () => `${what}… ${formatElapsed(Date.now() - started)}`;
  if (interactive) process.stderr.write(line());
  else report(line());
  const timer = setInterval(
    () => {
      if (interactive) process.stderr.write(`\r\x1b[K${line()}`);
      else report(line());
    },
    interactive ? 1000 : 30_000,
  );
  return {
    stop() {
      clearInterval(timer);
      if (interactive) process.stderr.write('\r\x1b[K');
    },
  };
}

export function formatElapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
}
