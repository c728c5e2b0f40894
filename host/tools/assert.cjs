// What the bundle gives pino's stream dependencies (sonic-boom, thread-stream) for `require('assert')`.
//
// They call it only as `assert(value, message)`, a precondition check. Node's assert module brings its
// deep-equality, diff and error-formatting code with it: ~2.2 MiB of RSS in a bare Node 24 process, on an
// idle-footprint budget of 80 MB (docs/benchmarks.md#footprint). This keeps that call's contract, an
// Error with code ERR_ASSERTION when the value is falsy, and nothing else.
'use strict';

function assert(value, message) {
  if (value) return;
  const err = new Error(message === undefined ? 'assertion failed' : String(message));
  err.code = 'ERR_ASSERTION';
  throw err;
}

module.exports = assert;
