// Public surface of host ABI v1: names and numbers, payload types, input encoding and output validation.

export * from './constants.ts';
export { encodeInitInput, encodeReconcileInput } from './encode.ts';
export type * from './types.ts';
export { type OutputLimits, validateReconcileOutput } from './validate.ts';
