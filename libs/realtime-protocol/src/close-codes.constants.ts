/**
 * WebSocket close codes (PROTOCOL.md §6). 1xxx are RFC 6455 codes; 4xxx are ours.
 * Clients reconnect after every code except 4001 without a fresh token and 4003.
 */
export const CloseCode = {
  GoingAway: 1001,
  MessageTooBig: 1009,
  InternalError: 1011,
  ServiceRestart: 1012,
  HeartbeatTimeout: 4000,
  TokenExpired: 4001,
  Revoked: 4003,
  RateLimitExceeded: 4008,
  SlowConsumer: 4009,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close reasons stay short: a close frame's reason is capped at 123 bytes. */
export const CloseReason: Record<CloseCode, string> = {
  [CloseCode.GoingAway]: 'server going away',
  [CloseCode.MessageTooBig]: 'message too big',
  [CloseCode.InternalError]: 'internal error',
  [CloseCode.ServiceRestart]: 'service restart',
  [CloseCode.HeartbeatTimeout]: 'heartbeat timeout',
  [CloseCode.TokenExpired]: 'token expired',
  [CloseCode.Revoked]: 'revoked',
  [CloseCode.RateLimitExceeded]: 'rate limit exceeded',
  [CloseCode.SlowConsumer]: 'slow consumer',
};
