// The arm64 run: the same .wasm and the same host on arm64 under emulation, with fuel equal to amd64's.
//
// Usage: node test/arm64/run.ts     (CI runs it from .ci/run; docs/operations.md, "arm64")
//
// 1. Installs what is missing: qemu-aarch64-static and the arm64 sysroot (test/setup/install-system-deps.sh)
//    and the arm64 Node of this Node's version (toolchain.ts); fails, never skips, when it cannot.
// 2. Writes the fuel cases (cases.ts) and runs them natively and emulated (fuel-probe.ts); any difference in
//    module bytes, result or the fuel of any call fails the run.
// 3. Runs the runtime conformance suite and the examples' tests on the emulated Node (the files left out are
//    printed with the reason, see suiteFiles).
// Emulated processes get WR_DEADLINE_SCALE (toolchain.ts): qemu runs the JIT's code many times slower than
// the CPU the deadlines are priced for, and a deadline must not fire before the fuel it backs up runs out.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEADLINE_SCALE_ENV } from '../../host/src/runtime/limits.ts';
import { writeCases } from './cases.ts';
import { type FuelRecord, fuelByCase, fuelDifferences } from './compare.ts';
import { type Arm64Node, EMULATION_DEADLINE_SCALE, ensureArm64Node } from './toolchain.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('fuel-probe.ts', import.meta.url));
/** A bound on each emulated process, so a hang fails the run instead of stalling CI. */
const PROCESS_TIMEOUT_MS = 30 * 60_000;

interface Finished {
  readonly code: number;
  readonly stdout: string;
  readonly ms: number;
}

function run(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; capture: boolean }) {
  const started = Date.now();
  return new Promise<Finished>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', options.capture ? 'pipe' : 'inherit', 'inherit'],
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === 'SIGKILL' ? 124 : 128), stdout, ms: Date.now() - started });
    });
  });
}

async function probe(dir: string, arm64: Arm64Node | undefined): Promise<{ record: FuelRecord; ms: number }> {
  const [cmd, args] = arm64 === undefined ? [process.execPath, [PROBE, dir]] : arm64.command([PROBE, dir]);
  const done = await run(cmd, args, { capture: true, ...(arm64 === undefined ? {} : { env: arm64.env }) });
  const which = arm64 === undefined ? process.arch : 'arm64 (emulated)';
  if (done.code !== 0) throw new Error(`the fuel probe on ${which} exited with ${done.code}`);
  return { record: JSON.parse(done.stdout) as FuelRecord, ms: done.ms };
}

/** Test files the emulated run leaves out for a reason of their own; printed with it, never silently. */
const NOT_EMULATED: Readonly<Record<string, string>> = {
  'test/conformance/swap.test.ts':
    'streams calls with no bound on those in flight until each version has answered 150 (30 s at most); ' +
    'emulated calls are 30 to 90 times slower, so the backlog passed 13 GB of RSS before the window closed',
};

/**
 * The runtime conformance suite without the files that need a cluster, and the examples' tests without
 * those that start a child Node: user-mode qemu cannot follow an exec of the arm64 binary (no binfmt_misc
 * in a container), so --test-isolation=none runs every file in the emulated process itself. The fixtures
 * the excluded example tests run through the CLI are the fuel cases, run in process by the probe.
 */
/** Starts a child Node itself, or through the SDK's `wasm-reconciler test` runner (tools/fixtures). */
const STARTS_NODE = /process\.execPath|sdk-assemblyscript\/tools\/fixtures/;

function suiteFiles(): { files: string[]; excluded: string[] } {
  const candidates = [
    ...testFilesIn('test/conformance'),
    ...readdirSync(join(ROOT, 'examples')).flatMap((e) => testFilesIn(`examples/${e}/test`)),
  ];
  const files: string[] = [];
  const excluded: string[] = [];
  for (const file of candidates) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const reason = NOT_EMULATED[file];
    if (reason !== undefined) excluded.push(`${file} (${reason})`);
    else if (/support\/cluster\.ts/.test(text)) excluded.push(`${file} (needs a cluster)`);
    else if (STARTS_NODE.test(text)) excluded.push(`${file} (starts a child Node)`);
    else files.push(file);
  }
  return { files, excluded };
}

function testFilesIn(dir: string): string[] {
  try {
    return readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => relative(ROOT, join(ROOT, dir, f)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<number> {
  const started = Date.now();
  const arm64 = ensureArm64Node();
  process.stdout.write(`── arm64: ${arm64.emulator} -L /usr/aarch64-linux-gnu ${arm64.node} (v${arm64.version})\n`);

  const dir = mkdtempSync(join(tmpdir(), 'wasm-reconciler-arm64-'));
  let keep = false;
  try {
    const cases = await writeCases(dir);
    process.stdout.write(`── arm64: ${cases.length} fuel cases, native ${process.arch} then emulated arm64\n`);
    const native = await probe(dir, undefined);
    const emulated = await probe(dir, arm64);
    writeFileSync(join(dir, `fuel-${native.record.arch}.json`), JSON.stringify(native.record, null, 2));
    writeFileSync(join(dir, 'fuel-arm64.json'), JSON.stringify(emulated.record, null, 2));
    const fuel = fuelByCase(native.record);
    const width = Math.max(...Object.keys(fuel).map((id) => id.length));
    for (const [id, units] of Object.entries(fuel)) {
      process.stdout.write(
        `  ${id.padEnd(width)}  ${String(units).padStart(11)} fuel  ${native.record.cases[id]?.result}\n`,
      );
    }
    const differences = fuelDifferences(native.record, emulated.record);
    for (const line of differences) process.stdout.write(`  DIFFERS ${line}\n`);

    const { files, excluded } = suiteFiles();
    process.stdout.write(`── arm64: ${files.length} test files on the emulated Node\n`);
    for (const line of excluded) process.stdout.write(`  not run under emulation: ${line}\n`);
    const [cmd, args] = arm64.command(['--test', '--test-isolation=none', '--test-reporter=spec', ...files]);
    const suite = await run(cmd, args, { env: arm64.env, capture: false });

    const fuelOk = differences.length === 0;
    keep = !fuelOk;
    const lines = [
      '',
      '── wasm-reconciler arm64 run ──',
      `emulator:    qemu-aarch64-static, Node v${arm64.version} linux-arm64, ${DEADLINE_SCALE_ENV}=${EMULATION_DEADLINE_SCALE}`,
      `fuel:        ${fuelOk ? 'equal' : `DIFFERENT in ${differences.length} place(s)`} on ${cases.length} cases (${process.arch} ${seconds(native.ms)}, arm64 ${seconds(emulated.ms)})`,
      `tests:       ${suite.code === 0 ? 'passed' : `FAILED (node --test exit code ${suite.code})`} in ${seconds(suite.ms)} (${files.length} files)`,
      `wall time:   ${seconds(Date.now() - started)}`,
      ...(keep ? [`records:     ${dir}`] : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return fuelOk && suite.code === 0 ? 0 : 1;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`\narm64 run failed: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
