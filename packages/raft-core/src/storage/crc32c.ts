/**
 * CRC-32C (Castagnoli), the checksum LevelDB, ext4 and iSCSI use: polynomial 0x1EDC6F41 in its
 * reflected form 0x82F63B78. It detects every burst error up to 32 bits, which is what a flipped
 * or torn disk sector looks like. Table-driven, one byte per step.
 */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

/** CRC of every single-byte value: the 256-entry table of the classic byte-wise algorithm. */
const BYTE_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ CASTAGNOLI_REFLECTED : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

/**
 * Continues a CRC-32C over `bytes[start..end)`: pass the result of a previous call (or of
 * {@link crc32c}) to checksum several buffers as if they were one.
 *
 * @example
 * const whole = crc32c(new TextEncoder().encode("123456789"));
 * const split = crc32cUpdate(crc32c(new TextEncoder().encode("1234")), new TextEncoder().encode("56789"));
 * // whole === split === 0xe3069283
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let state = ~crc >>> 0;
  for (let i = start; i < end; i++) {
    state = (BYTE_TABLE[(state ^ (bytes[i] as number)) & 0xff] as number) ^ (state >>> 8);
  }
  return ~state >>> 0;
}

/**
 * CRC-32C of `bytes`, as an unsigned 32-bit integer.
 *
 * @example
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 */
export function crc32c(bytes: Uint8Array): number {
  return crc32cUpdate(0, bytes);
}
