// Measures what one guest call costs on arm64 under emulation (qemu-aarch64-static, Node's linux-arm64 build) against the same call on this machine's own CPU. Run with `node bench/arm64.ts`.
//
// Both sides run this file in a child process (`--calls`) on the same module bytes: a ModuleSlot with the
// default limits, one instance, the call through the guest worker as the host makes it. `<guest>/x64` and
// `<guest>/arm64` are the median of single calls after a warm-up, `<guest>/ratio` their quotient; `fuel`
// is the fuel of that call (equal on both, as test/arm64/run.ts asserts). `budget/*` is one call of the
// loop-forever guest running out of the default budget (50,000,000 fuel): the slowest legitimate call, the
// one the wall-clock deadline must outlast, so `budget/ns-per-fuel` on arm64 against the 20 ns per unit the
// deadline allows (host/src/runtime/limits.ts) says how much WR_DEADLINE_SCALE emulation needs.
// `node-start` is `node -e 0`, start to exit. Emulation figures are qemu's, not an arm64 board's: they
// bound what CI sees, not what a Raspberry Pi does.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, configMap, deployment, input } from '../examples/configmap-app/test/fixtures.ts';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import { reconcileInput } from '../guest-sdk/assemblyscript/tools/input.ts';
import { type CallEvent, ModuleLoader, ModuleSlot } from '../host/src/runtime/index.ts';
import { DEADLINE_SCALE_ENV } from '../host/src/runtime/limits.ts';
import { EMULATION_DEADLINE_SCALE, ensureArm64Node } from '../test/arm64/toolchain.ts';
import { mapReadPort, recordingLogger } from '../test/fixtures/guests/host.ts';
import { fixture } from '../test/fixtures/guests/wat.ts';
import { type BenchResult, main, median, round } from './lib.ts';

const SELF = fileURLToPath(import.meta.url);
const WARMUP_CALLS = 30;
const TIMED_CALLS = 200;
/** The budget runs are long under emulation (about a second each); three give a stable median. */
const BUDGET_CALLS = 3;

interface GuestFigure {
  readonly us: number;
  readonly fuel: number;
}

interface CallFigures {
  readonly guests: Record<string, GuestFigure>;
  readonly budgetMs: number;
}

/** A Deployment-like primary of about 5 KB, the size runtime-calls uses. */
function renderInput(): string {
  const env = Array.from({ length: 60 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(40)}` }));
  return reconcileInput({
    primary: {
      apiVersion: 'demo.io/v1',
      kind: 'App',
      metadata: { name: 'web', namespace: 'shop', uid: '6f1c2a8e-3b7d-4c1e-9a2f-0d5e8b7c6a41', generation: 7 },
      spec: { replicas: 3, image: 'registry.example/shop/web:1.42.0', containers: [{ name: 'web', env }] },
    },
  });
}

/** Child mode: times the calls on this process's CPU, whatever it is, and prints them as JSON. */
async function measureCalls(dir: string): Promise<void> {
  const loader = new ModuleLoader();
  const events: CallEvent[] = [];
  const slot = async (name: string) => {
    const s = new ModuleSlot({
      identity: { name, namespace: 'bench' },
      loader,
      logger: recordingLogger().logger,
      readPort: mapReadPort([]),
      maxInstances: 1,
      observer: { onCall: (e) => events.push(e) },
    });
    await s.load(readFileSync(join(dir, `${name}.wasm`)), null);
    return s;
  };
  const guests: Record<string, GuestFigure> = {};
  const inputs: Record<string, string> = {
    render: renderInput(),
    'configmap-app': input(app(), { children: [configMap('hello-config'), deployment('hello', 2)] }),
  };
  for (const [name, text] of Object.entries(inputs)) {
    const s = await slot(name);
    for (let i = 0; i < WARMUP_CALLS; i++) await s.call('wr_reconcile', text);
    const times: number[] = [];
    for (let i = 0; i < TIMED_CALLS; i++) {
      const started = performance.now();
      await s.call('wr_reconcile', text);
      times.push(performance.now() - started);
    }
    guests[name] = { us: median(times) * 1000, fuel: events.at(-1)?.fuelUsed ?? 0 };
    await s.close();
  }
  const loop = await slot('loop-forever');
  const budget: number[] = [];
  for (let i = 0; i < BUDGET_CALLS; i++) {
    const started = performance.now();
    await loop.call('wr_reconcile', inputs.render!).then(
      () => {
        throw new Error('loop-forever returned');
      },
      (err: { code?: string }) => {
        if (err.code !== 'WR_GUEST_BUDGET_EXCEEDED') throw err;
      },
    );
    budget.push(performance.now() - started);
  }
  await loop.close();
  const figures: CallFigures = { guests, budgetMs: median(budget) };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

function startMs(cmd: string, args: readonly string[]): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const done = spawnSync(cmd, [...args, '-e', '0']);
    if (done.status !== 0) throw new Error(`${cmd} -e 0 exited with ${done.status}`);
    times.push(performance.now() - started);
  }
  return median(times);
}

async function run(): Promise<BenchResult[]> {
  const arm64 = ensureArm64Node();
  const dir = mkdtempSync(join(tmpdir(), 'wr-bench-arm64-'));
  try {
    writeFileSync(join(dir, 'render.wasm'), await fixture('render'));
    writeFileSync(join(dir, 'loop-forever.wasm'), await fixture('loop-forever'));
    writeFileSync(join(dir, 'configmap-app.wasm'), readFileSync((await buildV1()).wasmPath));
    const measure = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
      JSON.parse(
        execFileSync(cmd, [...args, SELF, '--calls', dir], { encoding: 'utf8', env: { ...process.env, ...env } }),
      ) as CallFigures;
    const native = measure(process.execPath, []);
    const [emulator, prefix] = arm64.command([]);
    const emulated = measure(emulator, prefix, arm64.env);

    const results: BenchResult[] = [];
    for (const [name, x64] of Object.entries(native.guests)) {
      const a = emulated.guests[name]!;
      const note = `${x64.fuel.toLocaleString('en-US')} fuel per call${a.fuel === x64.fuel ? ', equal on both' : `, ${a.fuel} on arm64`}`;
      results.push(
        { name: `arm64/${name}/x64`, value: round(x64.us, 1), unit: 'us/call', note },
        { name: `arm64/${name}/arm64`, value: round(a.us, 1), unit: 'us/call', note: 'emulated' },
        { name: `arm64/${name}/ratio`, value: round(a.us / x64.us, 1), unit: 'x' },
      );
    }
    const budgetFuel = 50_000_000;
    results.push(
      {
        name: 'arm64/budget/x64',
        value: round(native.budgetMs),
        unit: 'ms/call',
        note: 'loop-forever, default budget',
      },
      { name: 'arm64/budget/arm64', value: round(emulated.budgetMs), unit: 'ms/call', note: 'emulated' },
      {
        name: 'arm64/budget/ns-per-fuel',
        value: round((emulated.budgetMs * 1e6) / budgetFuel, 1),
        unit: 'ns/fuel',
        note: `emulated; the deadline allows 20 ns/fuel, x${EMULATION_DEADLINE_SCALE} (${DEADLINE_SCALE_ENV}) under emulation`,
      },
      { name: 'arm64/node-start/x64', value: round(startMs(process.execPath, [])), unit: 'ms' },
      { name: 'arm64/node-start/arm64', value: round(startMs(emulator, prefix)), unit: 'ms', note: 'emulated' },
    );
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--calls') await measureCalls(process.argv[3]!);
else await main(import.meta, run);
