// Reads a file named on the command line, turning "missing" and "unreadable" into errors that say what to give.

import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.ts';

/** `what` completes "give the path of ...", e.g. "a module (.wasm)". */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(EXIT.INPUT, `no such file: ${path}`, `give the path of ${what}`);
    if (code === 'EISDIR') throw new CliError(EXIT.INPUT, `${path} is a directory`, `give the path of ${what}`);
    throw new CliError(EXIT.INPUT, `cannot read ${path}: ${(err as Error).message}`, `give the path of ${what}`);
  }
}
