// Refuses, with a message saying what to do, a Node older than the package's `engines.node` floor.
//
// Launchers call this before importing anything else, so an old Node prints this instead of a stack trace
// from deep inside a dependency (ERR_UNKNOWN_FILE_EXTENSION, a missing API, a syntax error).

import { readFileSync } from 'node:fs';

/** `[major, minor]` from an `engines.node` range of the form `>=X.Y` or `>=X.Y.Z`. */
export function engineFloor(range: string): [number, number] {
  const m = /^>=\s*(\d+)(?:\.(\d+))?/.exec(range.trim());
  if (m === null) throw new Error(`engines.node must be of the form ">=X.Y", got "${range}"`);
  return [Number(m[1]), Number(m[2] ?? 0)];
}

/** The complaint for `version` (process.versions.node) under `range`, or undefined when it is new enough. */
export function nodeTooOld(version: string, range: string, program: string): string | undefined {
  const [major, minor] = engineFloor(range);
  const [hasMajor = 0, hasMinor = 0] = version.split('.').map(Number);
  if (hasMajor > major || (hasMajor === major && hasMinor >= minor)) return undefined;
  return (
    `${program} needs Node ${range.trim()} (Node 24 recommended); this is Node ${version} (${process.execPath}).\n` +
    `Install Node 24, or add it to the project with \`npm install --save-dev node@24\`: npm scripts then run ` +
    'under it whatever node is on PATH.'
  );
}

/** Exits with code 5 (docs/cli.md) when this Node is older than `packageJson`'s engines.node. */
export function requireNode(packageJson: URL, program: string): void {
  const manifest = JSON.parse(readFileSync(packageJson, 'utf8')) as { engines?: { node?: string } };
  const range = manifest.engines?.node;
  if (range === undefined) return;
  const problem = nodeTooOld(process.versions.node, range, program);
  if (problem === undefined) return;
  process.stderr.write(`${problem}\n`);
  process.exit(5);
}
