/** Event names on the wire (PROTOCOL.md §2, §3). Nothing else in the library spells them. */
export const ClientEvent = {
  Subscribe: 'subscribe',
  Unsubscribe: 'unsubscribe',
  Ping: 'ping',
  Auth: 'auth',
  Publish: 'publish',
  Ack: 'ack',
} as const;
export type ClientEvent = (typeof ClientEvent)[keyof typeof ClientEvent];

export const ServerEvent = {
  Connected: 'connected',
  Subscribed: 'subscribed',
  Unsubscribed: 'unsubscribed',
  Pong: 'pong',
  Authenticated: 'authenticated',
  Published: 'published',
  Acked: 'acked',
  Message: 'message',
  Error: 'error',
} as const;
export type ServerEvent = (typeof ServerEvent)[keyof typeof ServerEvent];

/** Pseudo-topics of messages that bypass topics and history. */
export const BROADCAST_TOPIC = '$broadcast';
export const DIRECT_TOPIC = '$user';

/** Event the frame parser emits for frames it refuses; the gateway answers it with an `error`. */
export const INVALID_FRAME_EVENT = '$invalid';

export const MAX_REF_LENGTH = 64;

/** `ack` takes 1 to this many ids of retained `$user` messages (§2). */
export const MAX_ACK_IDS = 100;
export const MAX_MESSAGE_ID_LENGTH = 64;
