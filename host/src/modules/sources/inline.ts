// The inline source: a module carried as base64 in the WasmReconciler itself (small modules only, ~1 MiB).

import { sha256Digest } from '../../digest.ts';
import { WrError } from '../../errors.ts';
import type { InlineSource } from '../spec.ts';
import { verifyDigest } from './internal/digest.ts';
import { decodeBase64Strict, type FetchedModule } from './types.ts';

export function readInlineModule(source: InlineSource, maxBytes: number): FetchedModule {
  // Checked before decoding so an oversized object costs no allocation: 4 base64 chars carry 3 bytes.
  if (Math.floor(source.base64.length / 4) * 3 > maxBytes + 2) {
    throw tooLarge(maxBytes);
  }
  const bytes = decodeBase64Strict(source.base64);
  if (bytes === undefined) {
    throw new WrError('WR_SPEC_INVALID', 'spec.module.inline is not standard padded base64', {
      details: { path: 'spec.module.inline' },
    });
  }
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  if (source.digest !== undefined) verifyDigest(bytes, source.digest, 'inline module');
  return { bytes, digest: source.digest ?? sha256Digest(bytes) };
}

function tooLarge(maxBytes: number): WrError {
  return new WrError('WR_MODULE_TOO_LARGE', `the inline module is larger than ${maxBytes} bytes`, {
    details: { limitBytes: maxBytes },
  });
}
