// `wr-as-build <entry.ts>...`: builds guest modules and prints each one's size and sha256.

import { parseArgs } from 'node:util';
import { AsBuildError, buildModule, DEFAULT_RUNTIME, RUNTIMES, type Runtime } from './build.ts';

const USAGE = `usage: wr-as-build [options] <entry.ts>...

  --out-dir <dir>     output directory (default: build/ beside the entry's assembly/ folder)
  --name <name>       output name without .wasm (one entry only; default: the entry's file name)
  --runtime <r>       ${RUNTIMES.join(' | ')} (default: ${DEFAULT_RUNTIME})
  --size              optimise for size instead of speed
  --max-memory <n>    maximum memory in 64 KiB pages (default: 256 = the host's default cap)
  --debug             keep function names (readable trap stacks)
  --no-cache          compile even when no input changed`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'out-dir': { type: 'string' },
      name: { type: 'string' },
      runtime: { type: 'string' },
      size: { type: 'boolean', default: false },
      'max-memory': { type: 'string' },
      debug: { type: 'boolean', default: false },
      'no-cache': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (values.name !== undefined && positionals.length > 1) {
    process.stderr.write('wr-as-build: --name needs exactly one entry\n');
    return 2;
  }
  for (const entry of positionals) {
    const result = await buildModule({
      entry,
      outDir: values['out-dir'],
      name: values.name,
      runtime: values.runtime as Runtime | undefined,
      optimize: values.size ? 'size' : 'speed',
      maximumMemoryPages: values['max-memory'] === undefined ? undefined : Number(values['max-memory']),
      debug: values.debug,
      cache: !values['no-cache'],
    });
    const how = result.cached ? 'cached' : `${Math.round(result.durationMs)} ms`;
    process.stdout.write(`${result.wasmPath}  ${result.bytes} bytes  sha256:${result.sha256}  (${how})\n`);
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof AsBuildError) {
    process.stderr.write(`wr-as-build: ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } else if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`wr-as-build: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
