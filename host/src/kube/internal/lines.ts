// Splits a byte stream into newline-delimited text lines, refusing any line longer than a bound.

import { StringDecoder } from 'node:string_decoder';
import { WrError } from '../../errors.ts';

/** Yields each non-empty line. The API server ends every event with a newline, so a tail without one was cut. */
export async function* lines(chunks: AsyncIterable<Buffer>, maxLineChars: number): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += decoder.write(chunk);
    let start = 0;
    for (let nl = pending.indexOf('\n', start); nl !== -1; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      if (line.trim() !== '') yield line;
    }
    pending = start === 0 ? pending : pending.slice(start);
    if (pending.length > maxLineChars) {
      throw new WrError('WR_KUBE_REQUEST', `watch event exceeds ${maxLineChars} characters`, {
        details: { maxLineChars },
      });
    }
  }
  pending += decoder.end();
  if (pending.trim() !== '') {
    throw new WrError('WR_KUBE_UNAVAILABLE', 'watch stream ended in the middle of an event', {
      details: { truncatedChars: pending.length },
    });
  }
}
