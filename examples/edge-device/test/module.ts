// Builds the edge-device module with the SDK's own build tool (cached in build/ by input hash).

import { fileURLToPath } from 'node:url';
import { type BuildResult, buildModule } from '@wasm-reconciler/sdk-assemblyscript/tools/build';

export function buildEdgeDevice(): Promise<BuildResult> {
  return buildModule({ entry: fileURLToPath(new URL('../assembly/index.ts', import.meta.url)), name: 'edge-device' });
}
