// The worst wall time of one default-budget call, per host-import path: does fuel bound time on every path?
// Run with `node bench/host-imports.ts`.
//
// Each guest loops on one import with one fixed argument until its budget runs out, through the whole
// production path: a ModuleSlot on a guest worker pool, reads answered by the real ScopedReadPort over real
// stores (5,000 ConfigMaps of ~1 KiB, cluster-scoped cache), the same fuel prices. A path priced too low
// shows as more than 2 ns per fuel unit, a call longer than the ~100 ms the default budget should allow.

import { DEFAULT_LIMITS } from '../host/src/abi/constants.ts';
import type { KubeObject } from '../host/src/abi/types.ts';
import { type CacheHandle, createStore } from '../host/src/cache/index.ts';
import { ScopedReadPort } from '../host/src/controller/read-port.ts';
import { KindCaches } from '../host/src/controller/scope.ts';
import { isWrError } from '../host/src/errors.ts';
import { GuestWorkerPool, ModuleLoader, ModuleSlot } from '../host/src/runtime/index.ts';
import { recordingLogger } from '../test/fixtures/guests/host.ts';
import { watToWasm } from '../test/fixtures/guests/wat.ts';
import { type BenchResult, main, round } from './lib.ts';

const OBJECTS = 5000;
const CALLS_PER_PATH = 3;

function configMap(i: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: `ns-${i % 10}`, uid: `uid-${i}`, labels: { app: `a${i % 50}` } },
    data: { payload: 'x'.repeat(900) },
  } as KubeObject;
}

function readPort(): ScopedReadPort {
  const store = createStore();
  for (let i = 0; i < OBJECTS; i++) store.writer.apply(configMap(i));
  const handle = {
    resource: { apiVersion: 'v1', group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
    reader: store.reader,
    hasSynced: true,
    synced: Promise.resolve(),
    subscribe: () => () => undefined,
    release: () => undefined,
  } as unknown as CacheHandle;
  const port = new ScopedReadPort();
  port.update(
    [new KindCaches({ apiVersion: 'v1', kind: 'ConfigMap', namespaced: true }, [handle], [])],
    [
      { apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get', 'list'], namespaces: [] },
      { apiVersion: 'v1', kind: 'Secret', verbs: ['get', 'list'], namespaces: [] },
    ],
  );
  return port;
}

const wat = (text: string) => text.replaceAll('\\', '\\\\').replaceAll('"', '\\"');

/** A guest whose wr_reconcile runs `setup` once, then `body` (which must leave nothing on the stack) forever. */
function loopGuest(data: string, body: string, setup = ''): string {
  return `(module
  (import "wr" "get" (func $get (param i32 i32) (result i32)))
  (import "wr" "list" (func $list (param i32 i32) (result i32)))
  (import "wr" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wr" "log" (func $log (param i32 i32 i32)))
  (import "wr" "log_enabled" (func $log_enabled (param i32) (result i32)))
  (import "wr" "now_ms" (func $now_ms (result f64)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "${wat(data)}")
  (func (export "wr_abi_version_1"))
  (func (export "wr_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "wr_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "wr_reconcile") (param i32 i32) (result i32)
    ${setup}
    (loop $l ${body} (br $l))
    (i32.const 0)))`;
}

const len = (s: string) => new TextEncoder().encode(s).length;
const read = (fn: 'get' | 'list', request: string) =>
  [request, `(drop (call $${fn} (i32.const 1024) (i32.const ${len(request)})))`] as const;

const PATHS: ReadonlyArray<readonly [string, string, string, string?]> = [
  ['log_enabled', '', '(drop (call $log_enabled (i32.const 2)))'],
  ['now_ms', '', '(drop (call $now_ms))'],
  ['log/written-then-dropped', 'a short line', `(call $log (i32.const 2) (i32.const 1024) (i32.const 12))`],
  ['log/disabled-level', 'a short line', `(call $log (i32.const 0) (i32.const 1024) (i32.const 12))`],
  ['log/4KiB', 'x'.repeat(4096), `(call $log (i32.const 2) (i32.const 1024) (i32.const 4096))`],
  ['get/invalid-json', ...read('get', '{not json')],
  ['get/invalid-utf8', '\u00ff', '(drop (call $get (i32.const 1025) (i32.const 1)))'],
  ['get/missing-name', ...read('get', '{"apiVersion":"v1","kind":"ConfigMap"}')],
  ['get/denied', ...read('get', '{"apiVersion":"v1","kind":"Pod","name":"x","namespace":"ns-1"}')],
  ['get/not-watched', ...read('get', '{"apiVersion":"v1","kind":"Secret","name":"x","namespace":"ns-1"}')],
  ['get/not-found', ...read('get', '{"apiVersion":"v1","kind":"ConfigMap","name":"nope","namespace":"ns-1"}')],
  ['get/hit-1KiB', ...read('get', '{"apiVersion":"v1","kind":"ConfigMap","name":"cm-11","namespace":"ns-1"}')],
  [
    'list/selector-matches-nothing',
    ...read('list', '{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app=none"}'),
  ],
  ['list/one-namespace-500', ...read('list', '{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns-3"}')],
  ['list/everything-too-large', ...read('list', '{"apiVersion":"v1","kind":"ConfigMap"}')],
  ['list/bad-selector', ...read('list', '{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"a in (b"}')],
  ['result_read/nothing-held', '', '(drop (call $result_read (i32.const 2048) (i32.const 16)))'],
  [
    'result_read/short-buffer',
    '{"apiVersion":"v1","kind":"ConfigMap","name":"cm-11","namespace":"ns-1"}',
    '(drop (call $result_read (i32.const 8192) (i32.const 1)))',
    '(drop (call $get (i32.const 1024) (i32.const 72)))',
  ],
];

export async function run(): Promise<BenchResult[]> {
  const pool = new GuestWorkerPool({ size: 1 });
  const loader = new ModuleLoader();
  const port = readPort();
  const results: BenchResult[] = [];
  let worst = { name: '', ms: 0 };
  try {
    for (const [name, data, body, setup] of PATHS) {
      const slot = new ModuleSlot({
        identity: { name },
        loader,
        logger: recordingLogger('info').logger,
        readPort: port,
        workers: pool,
      });
      await slot.load(await watToWasm(`${name}.wat`, loopGuest(data, body, setup)), null);
      const times: number[] = [];
      let code = '';
      for (let i = 0; i < CALLS_PER_PATH; i++) {
        const started = performance.now();
        try {
          await slot.call('wr_reconcile', '{}');
          code = 'ok';
        } catch (err) {
          code = isWrError(err) ? err.code : String(err);
        }
        times.push(performance.now() - started);
      }
      await slot.close();
      const ms = Math.max(...times);
      if (ms > worst.ms) worst = { name, ms };
      const nsPerUnit = (ms * 1e6) / DEFAULT_LIMITS.fuel;
      results.push({
        name: `imports/${name}`,
        value: round(ms, 1),
        unit: 'ms',
        note: `${code}; ${round(nsPerUnit, 2)} ns/unit`,
      });
    }
  } finally {
    await pool.close();
  }
  results.push({
    name: 'imports/worst-call',
    value: round(worst.ms, 1),
    unit: 'ms',
    note: `${worst.name}; default budget ${DEFAULT_LIMITS.fuel} units; target <= 100 ms`,
  });
  return results;
}

await main(import.meta, run);
