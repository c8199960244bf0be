import type { ServerEvent } from '../protocol';

/** FIN set, opcode 1 (text): a whole, unfragmented text frame (RFC 6455 §5.2). */
const FIN_TEXT = 0x81;
const LENGTH_16 = 126;
const LENGTH_64 = 127;

/**
 * A server frame serialized once: the complete WebSocket frame bytes, the
 * same for every recipient (server frames are never masked). Only the bytes
 * are kept, so what a retained frame costs is what it sends.
 */
export class OutboundFrame {
  constructor(readonly bytes: Buffer) {}

  /** The frame's payload (its JSON text, UTF-8), for sockets that frame their own copy (per-message deflate). */
  get payload(): Buffer {
    const length = this.bytes[1];
    return this.bytes.subarray(length < LENGTH_16 ? 2 : length === LENGTH_16 ? 4 : 10);
  }
}

/**
 * Frames a JSON text given in parts (strings, or bytes already UTF-8): the
 * header and the parts are written into one buffer, no intermediate copy. A
 * `retainable` frame (one history may keep) gets a buffer of its own: a
 * small slice of Node's shared pool would keep a whole 8 KiB slab alive.
 */
export function frameParts(
  parts: ReadonlyArray<string | Buffer>,
  retainable = false,
): OutboundFrame {
  let length = 0;
  for (const part of parts)
    length += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  const header = length < LENGTH_16 ? 2 : length <= 0xffff ? 4 : 10;
  const size = header + length;
  const bytes = retainable ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
  bytes[0] = FIN_TEXT;
  if (header === 2) {
    bytes[1] = length;
  } else if (header === 4) {
    bytes[1] = LENGTH_16;
    bytes.writeUInt16BE(length, 2);
  } else {
    bytes[1] = LENGTH_64;
    bytes.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    bytes.writeUInt32BE(length >>> 0, 6);
  }
  let at = header;
  for (const part of parts) {
    at += typeof part === 'string' ? bytes.write(part, at, 'utf8') : part.copy(bytes, at);
  }
  return new OutboundFrame(bytes);
}

/** Serializes and frames a one-off server frame (a reply, a notice). */
export function encodeFrame(event: ServerEvent, data: unknown): OutboundFrame {
  return frameParts([JSON.stringify({ event, data })]);
}
