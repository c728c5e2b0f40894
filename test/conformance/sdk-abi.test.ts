// Keeps the AssemblyScript SDK's one ABI module in step with the host constants and the loader's signatures.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import {
  ABI_MAJOR,
  ABI_MARKER,
  ABI_MARKER_PREFIX,
  ABI_MINOR,
  EXPORTS,
  FUEL_GLOBAL_EXPORT,
  GUEST_STATUS,
  HOST_STATUS,
  IMPORT_NAMESPACE,
  IMPORTS,
  LOG_LEVEL,
  TRIGGER_REASONS,
} from '../../host/src/abi/constants.ts';
import { HOST_IMPORT_SIGNATURES } from '../../host/src/runtime/internal/host-bridge.ts';

/** `export const NAME(: type)? = value;` -> NAME -> value (strings unquoted, numbers as numbers). */
function constants(source: string): Map<string, string | number> {
  const out = new Map<string, string | number>();
  for (const m of source.matchAll(/^export const (\w+)(?::\s*\w+)?\s*=\s*(.+?);$/gm)) {
    const raw = m[2]!.trim();
    out.set(m[1]!, raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw));
  }
  return out;
}

/** `@external("ns", "name") export declare function f(a: i32, ...): r;` -> name -> wasm signature. */
function externals(source: string) {
  const wasmType = (t: string) => (t === 'usize' || t === 'u32' || t === 'bool' ? 'i32' : t);
  const out = new Map<string, { namespace: string; params: string[]; results: string[] }>();
  const re = /@external\("([^"]+)",\s*"([^"]+)"\)\s*export declare function \w+\(([^)]*)\):\s*(\w+);/g;
  for (const m of source.matchAll(re)) {
    const params = m[3]!.trim() === '' ? [] : m[3]!.split(',').map((p) => wasmType(p.split(':')[1]!.trim()));
    out.set(m[2]!, { namespace: m[1]!, params, results: m[4] === 'void' ? [] : [wasmType(m[4]!)] });
  }
  return out;
}

describe('guest SDK ABI module', () => {
  let guest: Map<string, string | number>;
  let declared: ReturnType<typeof externals>;
  before(async () => {
    const source = await readFile(new URL('../../guest-sdk/assemblyscript/assembly/abi.ts', import.meta.url), 'utf8');
    guest = constants(source);
    declared = externals(source);
  });

  it('declares the same version, marker, namespace and export names as the host', () => {
    assert.equal(guest.get('ABI_MAJOR'), ABI_MAJOR);
    assert.equal(guest.get('ABI_MINOR'), ABI_MINOR);
    assert.equal(guest.get('ABI_MARKER_PREFIX'), ABI_MARKER_PREFIX);
    assert.equal(guest.get('ABI_MARKER'), ABI_MARKER);
    assert.equal(guest.get('IMPORT_NAMESPACE'), IMPORT_NAMESPACE);
    assert.equal(guest.get('FUEL_GLOBAL_EXPORT'), FUEL_GLOBAL_EXPORT);
    assert.deepEqual(
      Object.values(EXPORTS).sort(),
      [...guest]
        .filter(([k]) => k.startsWith('EXPORT_'))
        .map(([, v]) => v)
        .sort(),
    );
  });

  it('imports exactly the host functions, from the one namespace, with the signatures the loader checks', () => {
    assert.deepEqual([...declared.keys()].sort(), Object.values(IMPORTS).sort());
    for (const [name, decl] of declared) {
      assert.equal(decl.namespace, IMPORT_NAMESPACE, name);
      assert.deepEqual({ params: decl.params, results: decl.results }, { ...HOST_IMPORT_SIGNATURES[name] }, name);
    }
    assert.deepEqual(
      [...guest]
        .filter(([k]) => k.startsWith('IMPORT_') && k !== 'IMPORT_NAMESPACE')
        .map(([, v]) => v)
        .sort(),
      Object.values(IMPORTS).sort(),
    );
  });

  it('uses the same status codes, log levels and trigger reasons', () => {
    for (const [name, value] of Object.entries(GUEST_STATUS)) assert.equal(guest.get(`GUEST_STATUS_${name}`), value);
    for (const [name, value] of Object.entries(HOST_STATUS)) assert.equal(guest.get(`HOST_STATUS_${name}`), value);
    for (const [name, value] of Object.entries(LOG_LEVEL)) assert.equal(guest.get(`LOG_LEVEL_${name}`), value);
    const reasons = [...guest].filter(([k]) => k.startsWith('TRIGGER_')).map(([, v]) => v);
    assert.deepEqual(reasons.sort(), [...TRIGGER_REASONS].sort());
  });
});
