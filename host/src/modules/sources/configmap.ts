// The ConfigMap source: a module stored under one `binaryData` key of a ConfigMap beside the WasmReconciler.

import { sha256Digest } from '../../digest.ts';
import { isWrError, WrError } from '../../errors.ts';
import type { ConfigMapSource } from '../spec.ts';
import { verifyDigest } from './internal/digest.ts';
import { type ConfigMapGetter, decodeBase64Strict, type FetchedModule } from './types.ts';

export async function readConfigMapModule(
  source: ConfigMapSource,
  getConfigMap: ConfigMapGetter,
  maxBytes: number,
): Promise<FetchedModule> {
  const where = `ConfigMap ${source.namespace}/${source.name}`;
  const details = { namespace: source.namespace, name: source.name, key: source.key };
  let binaryData: Record<string, string> | undefined;
  try {
    binaryData = await getConfigMap(source.namespace, source.name);
  } catch (err) {
    if (isWrError(err)) throw err;
    throw new WrError('WR_SOURCE_UNREACHABLE', `${where} could not be read`, { cause: err, details });
  }
  if (binaryData === undefined) throw new WrError('WR_SOURCE_NOT_FOUND', `${where} does not exist`, { details });
  const text = Object.hasOwn(binaryData, source.key) ? binaryData[source.key] : undefined;
  if (text === undefined) {
    throw new WrError('WR_SOURCE_NOT_FOUND', `${where} has no binaryData key "${source.key}"`, { details });
  }
  if (Math.floor(text.length / 4) * 3 > maxBytes + 2) {
    throw new WrError('WR_MODULE_TOO_LARGE', `${where} key "${source.key}" is larger than ${maxBytes} bytes`, {
      details: { ...details, limitBytes: maxBytes },
    });
  }
  const bytes = decodeBase64Strict(text);
  if (bytes === undefined) {
    throw new WrError('WR_SOURCE_INVALID', `${where} key "${source.key}" is not valid base64`, { details });
  }
  if (bytes.byteLength > maxBytes) {
    throw new WrError('WR_MODULE_TOO_LARGE', `${where} key "${source.key}" is larger than ${maxBytes} bytes`, {
      details: { ...details, limitBytes: maxBytes },
    });
  }
  if (source.digest !== undefined) verifyDigest(bytes, source.digest, `${where} key "${source.key}"`);
  return { bytes, digest: source.digest ?? sha256Digest(bytes) };
}
