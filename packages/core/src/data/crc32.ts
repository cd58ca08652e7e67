import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE) of a string's UTF-8 bytes or of a byte range. Node >= 20.15 has it natively in
 * zlib; older 20.x releases fall back to a table implementation that gives the same values.
 */
type Crc32 = (data: string | Uint8Array) => number;

const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

let table: Uint32Array | undefined;

function fallback(data: string | Uint8Array): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export const crc32: Crc32 = native ?? fallback;

/** Exposed for the test that checks both implementations agree. */
export const crc32Fallback: Crc32 = fallback;
