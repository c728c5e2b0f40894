// Keeps docs/errors.md in step with the three error-code tables: every code documented once, none invented.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { AS_BUILD_ERROR_CODES } from '../../guest-sdk/assemblyscript/tools/errors.ts';
import { ERROR_CODES, type ErrorSpec } from '../../host/src/errors.ts';
import { CONTROL_PLANE_ERROR_CODES } from '../controlplane/errors.ts';

const DOC = new URL('../../docs/errors.md', import.meta.url);

const SECTIONS = {
  host: 'Host codes',
  controlPlane: 'Control-plane harness codes',
  sdkBuild: 'SDK build tool codes',
} as const;

/** A documented host code: a heading "### `WR_X` (terminal)" or a table row "| `WR_X` | terminal |". */
const HOST_HEADING = /^#{2,6} `([A-Z0-9_]+)` \((retryable|deterministic|terminal)\)\s*$/gm;
const HOST_ROW = /^\| `([A-Z0-9_]+)` +\| (retryable|deterministic|terminal) +\|/gm;

/** The word docs/errors.md uses for a code: deterministic codes are retryable, but only once. */
function retryWord(spec: ErrorSpec): string {
  if (spec.deterministic === true) return 'deterministic';
  return spec.retryable ? 'retryable' : 'terminal';
}
/** A row of the harness or SDK tables: the code in the first cell. */
const TABLE_ROW = /^\| `([A-Z0-9_]+)` +\|/gm;

/** The text under each `## ` heading, by heading title. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    out.set(part.slice(0, newline).trim(), part.slice(newline + 1));
  }
  return out;
}

function section(all: Map<string, string>, title: string): string {
  const text = all.get(title);
  assert.ok(text !== undefined, `docs/errors.md has no "## ${title}" section`);
  return text;
}

/** Every match of `pattern` as [code, ...groups], in document order. */
function matches(text: string, pattern: RegExp): string[][] {
  return [...text.matchAll(pattern)].map((m) => m.slice(1));
}

function duplicates(codes: readonly string[]): string[] {
  return codes.filter((c, i) => codes.indexOf(c) !== i);
}

describe('docs/errors.md', () => {
  let doc: string;
  let parts: Map<string, string>;

  before(async () => {
    doc = await readFile(DOC, 'utf8');
    parts = sections(doc);
  });

  it('documents every host code once, with the retryable/deterministic/terminal word of ERROR_CODES', () => {
    const text = section(parts, SECTIONS.host);
    const entries = [...matches(text, HOST_HEADING), ...matches(text, HOST_ROW)];
    const documented = entries.map(([code]) => code as string);
    assert.deepEqual(duplicates(documented), [], 'a host code is documented more than once');
    const known = new Set(Object.keys(ERROR_CODES));
    assert.deepEqual(
      documented.filter((c) => !known.has(c)),
      [],
      'documented as host codes but absent from ERROR_CODES',
    );
    const missing = [...known].filter((c) => !documented.includes(c));
    assert.deepEqual(missing, [], 'in ERROR_CODES but not documented');
    for (const [code, word] of entries) {
      const spec: ErrorSpec = ERROR_CODES[code as keyof typeof ERROR_CODES];
      assert.equal(word, retryWord(spec), `${code} is documented as ${word}`);
      if (spec.deterministic === true) assert.ok(spec.retryable, `${code} is deterministic, so retried once`);
    }
  });

  it('lists exactly the control-plane harness codes in its table', () => {
    const documented = matches(section(parts, SECTIONS.controlPlane), TABLE_ROW).map(([code]) => code as string);
    assert.deepEqual(duplicates(documented), []);
    assert.deepEqual([...documented].sort(), [...CONTROL_PLANE_ERROR_CODES].sort());
  });

  it('lists exactly the SDK build tool codes in its table', () => {
    const documented = matches(section(parts, SECTIONS.sdkBuild), TABLE_ROW).map(([code]) => code as string);
    assert.deepEqual(duplicates(documented), []);
    assert.deepEqual([...documented].sort(), Object.keys(AS_BUILD_ERROR_CODES).sort());
  });

  it('names no WR_ or CP_ code that does not exist, anywhere in the page', () => {
    const known = new Set<string>([
      ...Object.keys(ERROR_CODES),
      ...Object.keys(AS_BUILD_ERROR_CODES),
      ...CONTROL_PLANE_ERROR_CODES,
    ]);
    const named = [...doc.matchAll(/\b(?:WR|CP)_[A-Z0-9_]+\b/g)].map((m) => m[0]);
    assert.ok(named.length > 0);
    assert.deepEqual([...new Set(named.filter((n) => !known.has(n)))], [], 'unknown codes named');
  });
});
