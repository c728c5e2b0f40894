// Builds the example's two module versions with the SDK's own build tool (cached in build/ by input hash).

import { fileURLToPath } from 'node:url';
import { type BuildResult, buildModule } from '@wasm-reconciler/sdk-assemblyscript/tools/build';

const ASSEMBLY = fileURLToPath(new URL('../assembly/', import.meta.url));

export function buildV1(): Promise<BuildResult> {
  return buildModule({ entry: `${ASSEMBLY}index.ts`, name: 'configmap-app' });
}

export function buildV2(): Promise<BuildResult> {
  return buildModule({ entry: `${ASSEMBLY}v2.ts`, name: 'configmap-app-v2' });
}
