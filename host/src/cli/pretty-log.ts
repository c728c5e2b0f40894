// Human log lines for a terminal: what pino writes as JSON, as `12:04:05.123 INFO  message key=value`.
//
// Loaded only when the log goes to a TTY (or --log-format pretty), so production pays nothing for it.
// A line that is not pino's JSON is passed through untouched: this printer never loses a line.

import type { Writable } from 'node:stream';

const LEVELS: Readonly<Record<number, { name: string; colour: string }>> = {
  10: { name: 'TRACE', colour: '90' },
  20: { name: 'DEBUG', colour: '36' },
  30: { name: 'INFO ', colour: '32' },
  40: { name: 'WARN ', colour: '33' },
  50: { name: 'ERROR', colour: '31' },
  60: { name: 'FATAL', colour: '35' },
};
/** Fields every line carries (or pino's own): shown by the line's shape, not repeated as key=value. */
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One pino JSON line as a human line, without its newline; undefined when it is not pino's JSON. */
export function formatLine(line: string, colour: boolean): string | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null || typeof record.level !== 'number') return undefined;
  const level = LEVELS[record.level] ?? { name: String(record.level).padEnd(5), colour: '0' };
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  const name = colour ? `\u001b[${level.colour}m${level.name}\u001b[0m` : level.name;
  return `${time} ${name} ${String(record.msg ?? '')}${fields === '' ? '' : `  ${fields}`}`;
}

/** A destination for pino that writes human lines to `out`. */
export function prettyStream(out: Writable & { isTTY?: boolean }): { write(chunk: string): void } {
  const colour = out.isTTY === true;
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line === '') continue;
        out.write(`${formatLine(line, colour) ?? line}\n`);
      }
    },
  };
}
