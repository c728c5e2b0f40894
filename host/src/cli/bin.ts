#!/usr/bin/env node
// The `wasm-reconciler` executable: checks the Node version, then loads the command line.
//
// The import is dynamic so that nothing but this check runs on a Node too old for the rest.

import { requireNode } from './node-version.ts';

requireNode(new URL('../../package.json', import.meta.url), 'wasm-reconciler');
await import('./main.ts');
