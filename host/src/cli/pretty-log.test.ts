// Unit tests of the terminal log printer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLine, prettyStream } from './pretty-log.ts';

describe('pretty log lines', () => {
  const json = JSON.stringify({
    level: 40,
    time: Date.UTC(2026, 11, 3, 12, 4, 5, 123),
    pid: 1,
    hostname: 'h',
    component: 'wasm-reconciler',
    msg: 'WasmReconciler not applied',
    reconciler: 'ns/app',
    code: 'WR_MODULE_MALFORMED',
    err: 'bad magic',
  });

  it('shows time, level, message and the fields that are not on every line', () => {
    assert.equal(
      formatLine(json, false),
      '12:04:05.123 WARN  WasmReconciler not applied  reconciler=ns/app code=WR_MODULE_MALFORMED err="bad magic"',
    );
  });

  it('colours the level only for a terminal', () => {
    assert.ok(formatLine(json, true)!.includes('\u001b[33mWARN \u001b[0m'));
  });

  it('passes a line that is not pino JSON through untouched', () => {
    const written: string[] = [];
    prettyStream({ write: (s: string) => written.push(s), isTTY: false } as never).write(`not json\n${json}\n`);
    assert.equal(written[0], 'not json\n');
    assert.ok(written[1]!.startsWith('12:04:05.123 WARN'));
  });
});
