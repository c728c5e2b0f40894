#!/usr/bin/env node
// The `wr-as-build` executable: checks the Node version, then loads the build command.
//
// The import is dynamic so that nothing but this check runs on a Node too old for the rest.

import { requireNode } from '@wasm-reconciler/host/node-version';

requireNode(new URL('../package.json', import.meta.url), 'wr-as-build');
await import('./cli.ts');
