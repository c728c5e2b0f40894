// Wasm bytes for tests and benches: custom sections change a module's digest without changing what it does.

const EMPTY_MODULE = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** `\0asm` version 1, then one custom section named "wr-test" holding `payload` (distinct payload, distinct digest). */
export function wasmWithPayload(payload: string | Uint8Array): Buffer {
  return Buffer.concat([EMPTY_MODULE, customSection('wr-test', payload)]);
}

/** One custom section (id 0): appended to any valid module it keeps the module valid and its behaviour unchanged. */
export function customSection(name: string, payload: string | Uint8Array): Buffer {
  const nameBytes = Buffer.from(name);
  const body = Buffer.concat([leb128(nameBytes.length), nameBytes, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0x00]), leb128(body.length), body]);
}

export function leb128(n: number): Buffer {
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
