/** CRC16-CCITT (XMODEM) lookup table, the checksum Redis Cluster hashes keys with. */
const TABLE = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[byte] = crc & 0xffff;
}

export const HASH_SLOTS = 16384;

/**
 * The Redis Cluster slot of a key or shard channel: CRC16 of its hash tag
 * (what is between the first `{` and the next `}`, when not empty), else of
 * the whole name, modulo 16384 (the cluster specification's HASH_SLOT).
 */
export function hashSlot(key: string): number {
  let bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc % HASH_SLOTS;
}
