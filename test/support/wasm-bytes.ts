// Minimal valid Wasm binaries for source and cache tests: an empty module plus a custom section of chosen bytes.

/** `\0asm` version 1, then one custom section named "wr-test" holding `payload` (distinct payload, distinct digest). */
export function wasmWithPayload(payload: string | Uint8Array): Buffer {
  const name = Buffer.from('wr-test');
  const body = Buffer.concat([Buffer.from([name.length]), name, Buffer.from(payload)]);
  return Buffer.concat([
    Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00]),
    leb128(body.length),
    body,
  ]);
}

function leb128(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return Buffer.from(out);
}
