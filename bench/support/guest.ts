// One guest instance on the calling thread, with no cache behind its reads: what the call benches measure.

import { GuestInstance, localReads, ModuleLoader, resolveLimits } from '../../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../../test/fixtures/guests/host.ts';

export async function openGuest(bytes: Uint8Array): Promise<GuestInstance> {
  const limits = resolveLimits();
  const compiled = await new ModuleLoader().load(bytes, limits);
  return GuestInstance.instantiate(compiled, {
    initInput: '{"abi":1,"reconciler":{"name":"bench"},"config":null}',
    limits,
    logger: recordingLogger().logger,
    logBindings: {},
    reads: localReads(mapReadPort([]), limits.resultBytes),
  });
}
