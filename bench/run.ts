// Runs the bench files, each in its own Node process, and writes docs/benchmarks.md (and its JSON) from the results.
//
// `npm run bench` runs every bench; `npm run bench -- queue runtime-swap` runs those and keeps the other
// sections of the previous run (docs/benchmarks.json), each labelled with when and on what it ran.
// A separate process per bench keeps one bench's heap, JIT state and leftover timers out of the next one.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type BenchResult, formatTable, JSON_LINE_PREFIX, JSON_MODE_ENV } from './lib.ts';
import { ASSERTED_BY_TESTS, isMet, TARGETS, type Target } from './targets.ts';

interface BenchSpec {
  /** File name without `.ts`; also the name on the command line. */
  readonly name: string;
  /** Node flags the bench needs. */
  readonly flags: readonly string[];
  /** Starts a local control plane (etcd + kube-apiserver + kube-controller-manager). */
  readonly controlPlane: boolean;
  readonly timeoutMs: number;
}

const MINUTE = 60_000;

/** Every bench file; a file in bench/ missing here is an error, so none is silently skipped. */
const BENCHES: readonly BenchSpec[] = [
  { name: 'runtime-calls', flags: [], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'guest-assemblyscript', flags: [], controlPlane: false, timeoutMs: 10 * MINUTE },
  { name: 'reconcile-e2e', flags: [], controlPlane: false, timeoutMs: 10 * MINUTE },
  { name: 'metering', flags: [], controlPlane: false, timeoutMs: 10 * MINUTE },
  { name: 'fuzz', flags: [], controlPlane: false, timeoutMs: 30 * MINUTE },
  { name: 'host-imports', flags: [], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'worker-memory', flags: ['--expose-gc'], controlPlane: false, timeoutMs: 2 * MINUTE },
  { name: 'runtime-swap', flags: [], controlPlane: false, timeoutMs: 10 * MINUTE },
  { name: 'queue', flags: [], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'failing-module', flags: [], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'hostile-neighbour', flags: [], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'cache-memory', flags: ['--expose-gc'], controlPlane: false, timeoutMs: 5 * MINUTE },
  { name: 'arm64', flags: [], controlPlane: false, timeoutMs: 15 * MINUTE },
  { name: 'swap-cluster', flags: [], controlPlane: true, timeoutMs: 20 * MINUTE },
  { name: 'converge', flags: [], controlPlane: true, timeoutMs: 30 * MINUTE },
  { name: 'footprint', flags: [], controlPlane: true, timeoutMs: 40 * MINUTE },
  { name: 'anchors', flags: [], controlPlane: true, timeoutMs: 40 * MINUTE },
  { name: 'dev-loop', flags: [], controlPlane: true, timeoutMs: 10 * MINUTE },
  { name: 'sharding', flags: [], controlPlane: true, timeoutMs: 40 * MINUTE },
];

/** bench/ files that are not benches. */
const SUPPORT_FILES = new Set(['lib.ts', 'run.ts', 'targets.ts']);
const KILL_GRACE_MS = 10_000;
/** Kept of a bench's stderr for the report of a failure: the error and its stack, not the whole log. */
const STDERR_TAIL_BYTES = 2048;

/** A mistake on the command line: reported without a stack trace. */
class UsageError extends Error {}

const BENCH_DIR = import.meta.dirname;
const ROOT = path.join(BENCH_DIR, '..');
const DOC_PATH = path.join(ROOT, 'docs/benchmarks.md');
const JSON_PATH = path.join(ROOT, 'docs/benchmarks.json');

interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

/** One bench's outcome, as stored in docs/benchmarks.json. */
interface BenchRecord {
  readonly name: string;
  readonly command: string;
  readonly description: string;
  readonly controlPlane: boolean;
  readonly machine: Machine;
  readonly startedAt: string;
  /** 1, 5 and 15 minute load averages when the bench started. */
  readonly loadAverage: readonly number[];
  readonly durationMs: number;
  readonly results?: readonly BenchResult[];
  readonly error?: string;
  /** The end of the failed bench's stderr: its error and stack. */
  readonly stderrTail?: string;
}

interface Stored {
  readonly benches: Record<string, BenchRecord>;
}

function machine(): Machine {
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Number((totalmem() / 1024 ** 3).toFixed(1)),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}

/** /proc/cpuinfo names the CPU on x86 ("model name"); arm64 kernels often only give part numbers. */
function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => /^(model name|Model|Hardware)\s*:/.test(l));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: the os module's view is the best there is.
  }
  return cpus()[0]?.model ?? 'unknown';
}

function commandOf(spec: BenchSpec): string {
  return ['node', ...spec.flags, `bench/${spec.name}.ts`].join(' ');
}

/** The file's opening comment, paragraphs kept, without its "Run with ..." sentence: the runner states the command. */
function descriptionOf(spec: BenchSpec): string {
  const lines = readFileSync(path.join(BENCH_DIR, `${spec.name}.ts`), 'utf8').split('\n');
  const paragraphs: string[][] = [[]];
  for (const line of lines) {
    const match = /^\/\/ ?(.*)$/.exec(line);
    if (match === null) break;
    const text = match[1]!.trim();
    if (text === '') paragraphs.push([]);
    else paragraphs.at(-1)!.push(text);
  }
  return paragraphs
    .map((p) =>
      p
        .join(' ')
        .replace(/\s*Run with `[^`]*`[^.]*\.\s*/, ' ')
        .trim(),
    )
    .filter((p) => p !== '')
    .join('\n\n');
}

function checkRegistry(): void {
  const files = readdirSync(BENCH_DIR).filter((f) => f.endsWith('.ts') && !SUPPORT_FILES.has(f));
  const known = new Set(BENCHES.map((b) => `${b.name}.ts`));
  const unregistered = files.filter((f) => !known.has(f));
  if (unregistered.length > 0) {
    throw new UsageError(`bench/run.ts does not know ${unregistered.join(', ')}: add them to BENCHES`);
  }
  for (const b of BENCHES) {
    if (!existsSync(path.join(BENCH_DIR, `${b.name}.ts`))) throw new UsageError(`bench/${b.name}.ts is missing`);
  }
}

function select(args: readonly string[]): readonly BenchSpec[] {
  if (args.length === 0) return BENCHES;
  const unknown = args.filter((a) => !BENCHES.some((b) => b.name === a));
  if (unknown.length > 0) {
    throw new UsageError(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  }
  return BENCHES.filter((b) => args.includes(b.name));
}

/** Runs one bench file in a child process; its stderr passes through (tail kept), its stdout is scanned for the JSON line. */
async function runOne(spec: BenchSpec): Promise<BenchRecord> {
  const startedAt = new Date().toISOString();
  const loadAverage = loadavg().map((n) => Number(n.toFixed(2)));
  const started = performance.now();
  const child = spawn(process.execPath, [...spec.flags, path.join(BENCH_DIR, `${spec.name}.ts`)], {
    cwd: ROOT,
    env: { ...process.env, [JSON_MODE_ENV]: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  let results: BenchResult[] | undefined;
  let parseError: string | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (!line.startsWith(JSON_LINE_PREFIX)) {
      process.stderr.write(`[${spec.name}] ${line}\n`);
      return;
    }
    try {
      results = parseResults(JSON.parse(line.slice(JSON_LINE_PREFIX.length)));
    } catch (err) {
      parseError = `malformed results line: ${(err as Error).message}`;
    }
  });
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  }, spec.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  clearTimeout(killer);
  const base = {
    name: spec.name,
    command: commandOf(spec),
    description: descriptionOf(spec),
    controlPlane: spec.controlPlane,
    machine: machine(),
    startedAt,
    loadAverage,
    durationMs: Math.round(performance.now() - started),
  };
  let error: string | undefined;
  if (timedOut) error = `timed out after ${spec.timeoutMs / 1000} s`;
  else if (code !== 0) error = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
  else if (parseError !== undefined) error = parseError;
  else if (results === undefined) error = 'exited without printing its results';
  if (error === undefined) return { ...base, results: results! };
  const tail = stderrTail.trim();
  return tail === '' ? { ...base, error } : { ...base, error, stderrTail: tail };
}

function parseResults(value: unknown): BenchResult[] {
  if (!Array.isArray(value)) throw new Error('not an array');
  return value.map((r: Partial<BenchResult>) => {
    if (typeof r?.name !== 'string' || typeof r.value !== 'number' || typeof r.unit !== 'string') {
      throw new Error(`not a BenchResult: ${JSON.stringify(r).slice(0, 200)}`);
    }
    return { name: r.name, value: r.value, unit: r.unit, ...(typeof r.note === 'string' ? { note: r.note } : {}) };
  });
}

function loadStored(): Stored {
  if (!existsSync(JSON_PATH)) return { benches: {} };
  const parsed = JSON.parse(readFileSync(JSON_PATH, 'utf8')) as Stored;
  return { benches: parsed.benches ?? {} };
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const formatValue = (n: number) =>
  Number.isInteger(n) && Math.abs(n) >= 10_000 ? n.toLocaleString('en-US') : String(n);

function targetCell(target: Target | undefined, unit: string): string {
  return target === undefined ? '' : `${target.op} ${formatValue(target.value)} ${unit}`;
}

function verdictOf(target: Target, record: BenchRecord | undefined): { value: string; verdict: string } {
  if (record === undefined) return { value: '', verdict: 'not run' };
  if (record.error !== undefined) return { value: '', verdict: 'bench failed' };
  const result = record.results?.find((r) => r.name === target.result);
  if (result === undefined) return { value: '', verdict: 'figure missing' };
  return {
    value: `${formatValue(result.value)} ${result.unit}`,
    verdict: isMet(target, result.value) ? 'met' : '**missed**',
  };
}

function sameMachine(a: Machine, b: Machine): boolean {
  return a.cpu === b.cpu && a.cores === b.cores && a.node === b.node;
}

function render(stored: Stored, current: Machine): string {
  const records = BENCHES.map((b) => stored.benches[b.name]).filter((r): r is BenchRecord => r !== undefined);
  const out: string[] = [];
  out.push('# Benchmarks', '');
  out.push(
    'Generated by `npm run bench` (bench/run.ts) from docs/benchmarks.json; do not edit by hand. Each bench runs',
    'in its own Node process. `npm run bench -- <name> [<name>...]` re-runs some and keeps the others.',
    'Throughputs are mostly the best batch of many (the notes say when a median is used instead) and latencies',
    "nearest-rank percentiles, so that figures track the code's cost more than the neighbours' load. Latencies",
    "do include the load: compare them with the load average recorded at each bench's start.",
    '',
  );
  out.push('## Machine', '');
  out.push(`- CPU: ${current.cpu}`);
  out.push(`- Cores: ${current.cores}`);
  out.push(`- Memory: ${current.memoryGiB} GiB`);
  out.push(`- Node: ${current.node} (${current.platform})`);
  const latest = records.map((r) => r.startedAt).sort();
  if (latest.length > 0) out.push(`- Runs: ${latest[0]} to ${latest.at(-1)}`);
  const loads = records.map((r) => r.loadAverage[0] ?? 0);
  if (loads.length > 0) {
    out.push(
      `- Load average (1 min) at bench start: ${Math.min(...loads)} to ${Math.max(...loads)} on ${current.cores} cores` +
        (Math.max(...loads) > current.cores ? ' (shared, busy machine: expect throughputs below an idle run)' : ''),
    );
  }
  out.push('');

  out.push('## Targets', '');
  out.push('| Goal | Figure | Measured | Verdict |', '|---|---|---|---|');
  for (const target of TARGETS) {
    const { value, verdict } = verdictOf(target, stored.benches[target.bench]);
    out.push(`| ${cell(target.goal)} | \`${target.bench}\` ${cell(target.result)} | ${value} | ${verdict} |`);
  }
  for (const t of ASSERTED_BY_TESTS) out.push(`| ${cell(t.goal)} | asserted by ${t.where} | | test |`);
  out.push('');

  for (const record of records) {
    out.push(`## ${record.name}`, '');
    if (record.description !== '') out.push(record.description, '');
    out.push(`Reproduce: \`npm run bench -- ${record.name}\`, or directly \`${record.command}\` (the repo's Node 24).`);
    if (record.controlPlane) out.push('Starts a local control plane (etcd, kube-apiserver, kube-controller-manager).');
    const where = sameMachine(record.machine, current) ? '' : ` on ${record.machine.cpu}, Node ${record.machine.node}`;
    out.push(
      '',
      `Measured ${record.startedAt}${where}; load average ${record.loadAverage.join(' / ')}; took ${(record.durationMs / 1000).toFixed(0)} s.`,
      '',
    );
    if (record.error !== undefined) {
      out.push(`**Failed:** ${cell(record.error)}.`, '');
      if (record.stderrTail !== undefined) out.push('```', record.stderrTail.replaceAll('```', "'''"), '```', '');
      continue;
    }
    out.push('| Figure | Value | Unit | Target | Verdict | Note |', '|---|--:|---|---|---|---|');
    for (const r of record.results ?? []) {
      const target = TARGETS.find((t) => t.bench === record.name && t.result === r.name);
      const verdict = target === undefined ? '' : isMet(target, r.value) ? 'met' : '**missed**';
      out.push(
        `| ${cell(r.name)} | ${formatValue(r.value)} | ${cell(r.unit)} | ${targetCell(target, r.unit)} | ${verdict} | ${cell(r.note ?? '')} |`,
      );
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

async function mainRun(): Promise<number> {
  checkRegistry();
  const selected = select(process.argv.slice(2));
  let failed = 0;
  for (const spec of selected) {
    process.stderr.write(`bench ${spec.name}: ${commandOf(spec)}\n`);
    const record = await runOne(spec);
    // Read again now, not at the start: a run beside this one (several benches at once on one working
    // tree) may have stored its results meanwhile, and writing an older copy back would undo them.
    const stored = loadStored();
    stored.benches[spec.name] = record;
    if (record.error !== undefined) {
      failed++;
      process.stderr.write(`bench ${spec.name} failed: ${record.error}\n`);
    } else {
      process.stdout.write(
        `\n## ${spec.name} (${(record.durationMs / 1000).toFixed(0)} s)\n${formatTable(record.results ?? [])}\n`,
      );
    }
    // Written after every bench, so an interrupted run keeps what it measured.
    writeFileSync(JSON_PATH, `${JSON.stringify(stored, null, 2)}\n`);
    writeFileSync(DOC_PATH, render(stored, machine()));
  }
  process.stderr.write(`\nwrote ${path.relative(ROOT, DOC_PATH)} and ${path.relative(ROOT, JSON_PATH)}\n`);
  return failed === 0 ? 0 : 1;
}

try {
  process.exitCode = await mainRun();
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 2;
}
