// Conformance: docs/abi/v1.md, the host's ABI constants and the registered host imports say the same thing.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import {
  ABI_MARKER,
  DEFAULT_LIMITS,
  EXPORTS,
  GUEST_STATUS,
  HOST_CALL_FUEL,
  HOST_STATUS,
  IMPORT_NAMESPACE,
  IMPORTS,
  LOG_LEVEL,
  OUTPUT_LIMITS,
} from '../../host/src/abi/constants.ts';
import { ERROR_CODES } from '../../host/src/errors.ts';
import { localReads, resolveLimits } from '../../host/src/runtime/index.ts';
import { HOST_IMPORT_SIGNATURES, HostBridge } from '../../host/src/runtime/internal/host-bridge.ts';
import { GUEST_FUNCTION_EXPORTS } from '../../host/src/runtime/loader.ts';
import { mapReadPort, recordingLogger } from '../fixtures/guests/host.ts';

type Row = Record<string, string>;

/** The rows of the first markdown table whose header row is exactly `header`, keyed by column name. */
function table(markdown: string, header: readonly string[]): Row[] {
  const lines = markdown.split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  const start = lines.findIndex((l) => l.startsWith('|') && cells(l).join('|') === header.join('|'));
  assert.ok(start >= 0, `docs/abi/v1.md has no table with columns ${header.join(', ')}`);
  const rows: Row[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const values = cells(line);
    rows.push(Object.fromEntries(header.map((h, i) => [h, values[i] ?? ''])));
  }
  return rows;
}

/** `name` out of a cell like "`name`". */
const code = (cell: string) => cell.match(/^`([^`]*)`/)?.[1] ?? '';
/** Value types out of a cell like "`level: i32, ptr: i32`" or "`i32`". */
const types = (cell: string) =>
  cell === ''
    ? []
    : code(cell)
        .split(',')
        .map((p) => p.split(':').at(-1)!.trim());
/** The number a Default cell starts with: "8 MiB" -> 8388608, "50,000,000 units" -> 50000000. */
function amount(cell: string): number {
  const m = cell.match(/^([\d,]+)( MiB)?/);
  assert.ok(m, `no number in "${cell}"`);
  return Number(m[1]!.replaceAll(',', '')) * (m[2] ? 1024 * 1024 : 1);
}

describe('ABI v1 contract', () => {
  let doc: string;
  before(async () => {
    doc = await readFile(new URL('../../docs/abi/v1.md', import.meta.url), 'utf8');
  });

  it('lists exactly the host imports the constants name and the bridge registers, with their signatures', () => {
    const rows = table(doc, ['Import', 'Params', 'Results', 'Meaning']);
    const documented = Object.fromEntries(
      rows.map((r) => [code(r.Import!), { params: types(r.Params!), results: types(r.Results!) }]),
    );
    const constants = Object.values(IMPORTS).sort();
    assert.deepEqual(Object.keys(documented).sort(), constants);
    assert.deepEqual(Object.keys(HOST_IMPORT_SIGNATURES).sort(), constants);
    assert.deepEqual(documented, { ...HOST_IMPORT_SIGNATURES });

    const bridge = new HostBridge({
      limits: resolveLimits(),
      logger: recordingLogger().logger,
      logBindings: {},
      reads: localReads(mapReadPort([]), resolveLimits().resultBytes),
      clock: Date.now,
    });
    const registered = bridge.imports();
    assert.deepEqual(Object.keys(registered), [IMPORT_NAMESPACE]);
    const functions = registered[IMPORT_NAMESPACE]!;
    assert.deepEqual(Object.keys(functions).sort(), constants);
    for (const [name, fn] of Object.entries(functions)) {
      assert.equal(typeof fn, 'function');
      assert.equal((fn as (...args: unknown[]) => unknown).length, HOST_IMPORT_SIGNATURES[name]!.params.length, name);
    }
    assert.ok(doc.includes(`namespace **\`${IMPORT_NAMESPACE}\`**`));
  });

  it('lists exactly the guest exports the loader checks, with their signatures and whether required', () => {
    const rows = table(doc, ['Export', 'Signature', 'Required', 'Meaning']);
    const render = (s: { params: readonly string[]; results: readonly string[] }) =>
      `(${s.params.join(', ')}) -> (${s.results.join(', ')})`;
    const documented = rows.map((r) => ({
      name: code(r.Export!),
      // "(ptr: i32, len: i32) -> i32" and "() -> ()" normalised to the loader's rendering.
      signature: (code(r.Signature!) || r.Signature!).replace(/\w+: /g, '').replace(/-> (\w+)$/, '-> ($1)'),
      required: r.Required === 'yes',
    }));
    assert.deepEqual(documented[0], { name: EXPORTS.memory, signature: 'memory', required: true });
    assert.deepEqual(
      documented.slice(1),
      GUEST_FUNCTION_EXPORTS.map((e) => ({ name: e.name, signature: render(e.signature), required: e.required })),
    );
    assert.deepEqual(documented.map((d) => d.name).sort(), [...Object.values(EXPORTS), ABI_MARKER].sort());
  });

  it('documents the status and level numbers the constants define', () => {
    const values = (header: string[]) =>
      Object.fromEntries(table(doc, header).map((r) => [code(r[header[0]!]!), Number(r.Value)]));
    assert.deepEqual(values(['Status', 'Value', 'Returned by', 'Meaning']), HOST_STATUS);
    assert.deepEqual(values(['Status', 'Value', 'Meaning']), GUEST_STATUS);
    assert.deepEqual(values(['Level', 'Value']), LOG_LEVEL);
  });

  it('documents every default limit with its value', () => {
    const rows = table(doc, ['Limit', 'Default', 'Exceeded']);
    const documented = Object.fromEntries(rows.map((r) => [code(r.Limit!), amount(r.Default!)]));
    const expected: Record<string, number> = { ...DEFAULT_LIMITS };
    for (const [k, v] of Object.entries(OUTPUT_LIMITS)) expected[`OUTPUT_LIMITS.${k}`] = v;
    assert.deepEqual(documented, expected);
    assert.ok(doc.includes(`costs \`HOST_CALL_FUEL.base\` (${HOST_CALL_FUEL.base})`));
    assert.ok(doc.includes(`\`HOST_CALL_FUEL.bytesPerUnit\` (${HOST_CALL_FUEL.bytesPerUnit})`));
    const prices = table(doc, ['Price', 'Fuel', 'Charged for']);
    assert.deepEqual(
      Object.fromEntries(prices.map((r) => [code(r.Price!), amount(r.Fuel!)])),
      Object.fromEntries(Object.entries(HOST_CALL_FUEL).map(([k, v]) => [`HOST_CALL_FUEL.${k}`, v])),
    );
  });

  it('mentions only error codes that exist', () => {
    for (const mention of doc.match(/WR_[A-Z_]+/g) ?? []) {
      assert.ok(Object.hasOwn(ERROR_CODES, mention), `${mention} is not in host/src/errors.ts`);
    }
  });
});
