// Public surface of the OCI source: reference parsing, pull by digest, push, and registry credentials.

export type { AuthChallenge, RegistryCredentials } from './auth.ts';
export { credentialsFromSecret, parseChallenge } from './auth.ts';
export type { RegistryAccessOptions } from './client.ts';
export * from './media-types.ts';
export type { Descriptor, OciPullOptions, PulledModule } from './pull.ts';
export { pullModule } from './pull.ts';
export type { OciPushOptions, PushedModule } from './push.ts';
export { pushModule } from './push.ts';
export type { OciReference } from './reference.ts';
export { formatOciReference, parseOciReference } from './reference.ts';
