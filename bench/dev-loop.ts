// Measures `wasm-reconciler dev --local`'s save-to-live time: a source file saved -> the first reconcile by the rebuilt module (its child written). Run with `node bench/dev-loop.ts`.
//
// Everything is what `dev --local` runs: the local control plane, the host in this process, the project
// the SDK template is (init's Widget project), the watcher, the in-process rebuild and push's code path.
// Each iteration saves assembly/index.ts with a new `version` in the ConfigMap the module writes, and
// waits until the API server has that ConfigMap: save -> chokidar -> rebuild -> push -> host load ->
// swap -> resync -> reconcile -> server-side apply. The build, push and swap-to-child parts come from dev's
// own events. The small module is the template's (40 KB unoptimised).

import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDev } from '../host/src/cli/commands/dev.ts';
import type { DevEvent } from '../host/src/cli/dev/session.ts';
import { KubeClient, loadKubeConfig } from '../host/src/kube/index.ts';
import { watcher } from '../host/src/watch/index.ts';
import { type BenchResult, main, median, percentile, round } from './lib.ts';

const ROOT = path.join(import.meta.dirname, '..');
const TEMPLATE = path.join(ROOT, 'guest-sdk/assemblyscript/template');
const WARMUP = 2;
const ITERATIONS = 12;
const ITERATION_TIMEOUT_MS = 30_000;
const MARK = 'const data = cm.data();';

async function run(): Promise<BenchResult[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wr-bench-dev-'));
  const project = path.join(dir, 'my-reconciler');
  await cp(TEMPLATE, project, { recursive: true });
  await mkdir(path.join(project, 'node_modules/@wasm-reconciler'), { recursive: true });
  await symlink(
    path.join(ROOT, 'guest-sdk/assemblyscript'),
    path.join(project, 'node_modules/@wasm-reconciler/sdk-assemblyscript'),
  );
  const source = path.join(project, 'assembly/index.ts');
  const original = await readFile(source, 'utf8');
  if (!original.includes(MARK)) throw new Error(`the template's index.ts no longer has "${MARK}"`);

  const events: (DevEvent & { t: number })[] = [];
  const dev = await startDev(project, {
    local: true,
    print: (line) => process.stderr.write(`${line}\n`),
    onEvent: (e) => events.push({ ...e, t: performance.now() }),
  });
  const client = await KubeClient.fromKubeConfig(await loadKubeConfig({ path: dev.kubeconfigPath ?? '' }));
  const stop = new AbortController();
  try {
    // The ConfigMap the sample Widget gets, followed by a watch: its versions in the order they land.
    const seen: { version: string; t: number }[] = [];
    const configMaps = await client.resource('v1', 'ConfigMap');
    const following = (async () => {
      for await (const e of watcher(
        client,
        { resource: configMaps, namespace: 'default', fieldSelector: 'metadata.name=hello-widget' },
        { signal: stop.signal },
      )) {
        if (e.type !== 'apply' && e.type !== 'initApply') continue;
        const version = (e.object.data as Record<string, string> | undefined)?.version;
        if (version !== undefined) seen.push({ version, t: performance.now() });
      }
    })();

    const total: number[] = [];
    const build: number[] = [];
    const push: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < WARMUP + ITERATIONS; i++) {
      const version = `v${i}-${Date.now()}`;
      const from = events.length;
      const saved = performance.now();
      await writeFile(source, original.replace(MARK, `${MARK}\n  data.str("version", "${version}");`));
      const deadline = saved + ITERATION_TIMEOUT_MS;
      let landed = seen.find((s) => s.version === version);
      while (landed === undefined) {
        if (performance.now() > deadline) {
          throw new Error(
            `version ${version} never reached the ConfigMap; dev said: ${JSON.stringify(events.slice(from))}`,
          );
        }
        await new Promise((r) => setTimeout(r, 2));
        landed = seen.find((s) => s.version === version);
      }
      const mine = events.slice(from);
      const built = mine.find((e) => e.type === 'built');
      const pushed = mine.find((e) => e.type === 'pushed');
      if (built === undefined || pushed === undefined) throw new Error(`no build or push for ${version}`);
      if (i < WARMUP) continue;
      total.push(landed.t - saved);
      build.push(built.t - saved);
      push.push(pushed.t - built.t);
      live.push(landed.t - pushed.t);
    }
    stop.abort();
    await following;
    const note = `template module (-O0), ${ITERATIONS} saves after ${WARMUP} warm-up`;
    return [
      {
        name: 'dev-loop/save-to-reconcile/p50',
        value: round(median(total)),
        unit: 'ms',
        note: `${note}; save -> child written by the new version`,
      },
      {
        name: 'dev-loop/save-to-reconcile/max',
        value: round(Math.max(...total)),
        unit: 'ms',
        note: 'worst of the saves',
      },
      {
        name: 'dev-loop/save-to-built/p50',
        value: round(median(build)),
        unit: 'ms',
        note: 'save -> module rebuilt (watcher + debounce + in-process asc -O0 + checks)',
      },
      {
        name: 'dev-loop/push/p50',
        value: round(median(push)),
        unit: 'ms',
        note: "push's code path: spec.module inline by server-side apply",
      },
      {
        name: 'dev-loop/pushed-to-reconcile/p50',
        value: round(median(live)),
        unit: 'ms',
        note: 'host: watch -> load -> swap -> resync -> reconcile -> apply',
      },
      { name: 'dev-loop/save-to-reconcile/p90', value: round(percentile(total, 90)), unit: 'ms', note: '' },
    ];
  } finally {
    stop.abort();
    client.close();
    await dev.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main(import.meta, run);
