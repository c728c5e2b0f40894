// Cuts a string to a UTF-8 byte budget without splitting a character.

const ELLIPSIS = '...';

/** `text` itself when it fits; otherwise a prefix plus '...' that together fit in `maxBytes`. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  let cut = Math.max(0, maxBytes - ELLIPSIS.length);
  // Back up over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return `${bytes.subarray(0, cut).toString('utf8')}${ELLIPSIS}`;
}
