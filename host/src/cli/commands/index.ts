// Registers the module author's commands (inspect, push, test, render, init, generate, dev) and --version on the program.
//
// Each command's implementation is imported when it runs, so `run` never loads the toolchain's code.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ABI_MAJOR } from '../../abi/constants.ts';
import { EXIT } from '../exit-codes.ts';
import { registerDev } from './dev.ts';
import { registerGenerate } from './generate.ts';
import { registerInit } from './init.ts';
import { registerInspect } from './inspect.ts';
import { registerPush } from './push.ts';
import { registerRender } from './render.ts';
import { registerTest } from './test.ts';

/** `wasm-reconciler 0.1.0 (host ABI v1, Node v24.21.0)`. */
export function versionLine(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `wasm-reconciler ${manifest.version} (host ABI v${ABI_MAJOR}, Node ${process.version})`;
}

export function registerCommands(program: Command): void {
  program.version(versionLine(), '-V, --version', 'print the version, the host ABI version and the Node version');
  // Program options only before the command name: `init --version v1alpha1` is init's API version.
  program.enablePositionalOptions();
  registerInspect(program);
  registerPush(program);
  registerTest(program);
  registerRender(program);
  registerInit(program);
  registerGenerate(program);
  registerDev(program);
  // Usage errors exit 2 (docs/cli.md), in every command; --help and --version stay 0.
  for (const command of [program, ...program.commands]) {
    command.exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));
  }
}
