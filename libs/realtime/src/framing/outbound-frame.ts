import type { ServerEvent } from '../protocol';

/** A frame serialized once: as text, and as the complete WebSocket frame bytes. */
export interface OutboundFrame {
  readonly text: string;
  readonly bytes: Buffer;
}

/** FIN set, opcode 1 (text): a whole, unfragmented text frame (RFC 6455 §5.2). */
const FIN_TEXT = 0x81;
const LENGTH_16 = 126;
const LENGTH_64 = 127;

/**
 * Serializes and frames a server frame once; the same bytes then go to every
 * recipient (server frames are never masked, so they are identical). The
 * header and the UTF-8 text are written into one buffer: no intermediate
 * copy, one allocation.
 */
export function encodeFrame(event: ServerEvent, data: unknown): OutboundFrame {
  const text = JSON.stringify({ event, data });
  const length = Buffer.byteLength(text);
  const header = length < LENGTH_16 ? 2 : length <= 0xffff ? 4 : 10;
  const bytes = Buffer.allocUnsafe(header + length);
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
  bytes.write(text, header, 'utf8');
  return { text, bytes };
}
