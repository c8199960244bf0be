/**
 * Wire names and codes, taken from the server library's protocol/ files (not
 * the barrel, which pulls in Nest): these files import nothing, so the bundle
 * stays dependency-free and cannot drift from the server.
 */
export {
  BROADCAST_TOPIC,
  ClientEvent,
  CloseCode,
  DIRECT_TOPIC,
  ErrorCode,
  MAX_REF_LENGTH,
  ServerEvent,
} from '@nest-realtime/protocol';

/**
 * `ack`/`acked` (PROTOCOL.md §2): the server side ships with offline delivery;
 * once protocol/ exports them, take them from there.
 */
export const ACK_EVENT = 'ack';
export const ACKED_EVENT = 'acked';
/** At most this many ids per `ack` frame (PROTOCOL.md §2). */
export const MAX_ACK_IDS = 100;
/** At most this many topics per `subscribe` frame (PROTOCOL.md §2). */
export const MAX_TOPICS_PER_SUBSCRIBE = 50;
