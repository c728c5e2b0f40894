// node:http, required rather than imported. An ES import of a built-in reads every export, and node:http's
// lazy WebSocket, CloseEvent and MessageEvent getters then load undici (Node's fetch), which the host never
// uses: ~45 ms of start-up CPU and ~12 MB of RSS (docs/benchmarks.md#footprint). So every host module takes
// node:http from here: one ES import of it anywhere loads undici again (node-http.test.ts checks).
// node:https is safe to import: it requires node:http inside, which reads no getter.

import type * as Http from 'node:http';
import { createRequire } from 'node:module';

export const http = createRequire(import.meta.url)('node:http') as typeof Http;
