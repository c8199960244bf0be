/**
 * The control frames the writer sends itself (RFC 6455 §5.5), unmasked as
 * every server frame is. Close frames are ws's to write: it runs the close
 * handshake.
 */
/** FIN set, opcode 9 (ping), no payload: the heartbeat's probe (RFC 6455 §5.5.2). */
export const PING_FRAME: Buffer = Buffer.from([0x89, 0x00]);
/** FIN set, opcode 10 (pong). */
const FIN_PONG = 0x8a;

/** The pong answering a client's ping: its payload echoed (at most 125 bytes, as ws's receiver enforces). */
export function encodePong(payload: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(2 + payload.length);
  bytes[0] = FIN_PONG;
  bytes[1] = payload.length;
  payload.copy(bytes, 2);
  return bytes;
}
