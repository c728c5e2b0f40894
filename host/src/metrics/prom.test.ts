import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as prom from 'prom-client';
import { collectDefaultMetrics, Registry } from './prom.ts';

test('the default metrics are the series prom-client collectDefaultMetrics registers, with the same help', async () => {
  const ours = new Registry();
  collectDefaultMetrics(ours);
  const theirs = new prom.Registry();
  prom.collectDefaultMetrics({ register: theirs });
  const shape = async (r: prom.Registry) =>
    (await r.getMetricsAsJSON())
      .map((m) => ({ name: m.name, help: m.help, type: m.type }))
      .sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(await shape(ours), await shape(theirs));
});

test('the CPU counters count this process', async () => {
  const registry = new Registry();
  collectDefaultMetrics(registry);
  const until = process.cpuUsage().user + 20_000;
  while (process.cpuUsage().user < until);
  const values = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  const user = await values('process_cpu_user_seconds_total');
  assert.ok(user >= 0.02, `user CPU ${user} s`);
  assert.ok((await values('process_cpu_seconds_total')) >= user);
});

test("the host's metrics load prom-client without @opentelemetry/api", async () => {
  const { execFileSync } = await import('node:child_process');
  const loaded = execFileSync(process.execPath, [
    '--input-type=module',
    '-e',
    `import { createRequire } from 'node:module';
     await import(${JSON.stringify(new URL('./registry.ts', import.meta.url).href)}).then((m) => m.createMetrics());
     const require = createRequire(import.meta.url);
     console.log(Object.keys(require.cache).some((p) => p.includes('@opentelemetry')));`,
  ]).toString();
  assert.equal(loaded.trim(), 'false');
});
