/** Event names on the wire (PROTOCOL.md §2, §3). Nothing else spells them. */
export const ClientEvent = {
  Subscribe: 'subscribe',
  Unsubscribe: 'unsubscribe',
  Ping: 'ping',
  Auth: 'auth',
  Publish: 'publish',
  Ack: 'ack',
  Presence: 'presence',
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
  /** The reply to `presence`: a topic's counts and one page of its members. */
  Presence: 'presence',
  /** Joins and leaves of a topic, batched per interval (PROTOCOL.md §5). */
  PresenceDiff: 'presence_diff',
} as const;
export type ServerEvent = (typeof ServerEvent)[keyof typeof ServerEvent];

/** Pseudo-topics of messages that bypass topics and history (PROTOCOL.md §3). */
export const BROADCAST_TOPIC = '$broadcast';
export const DIRECT_TOPIC = '$user';
