/** `error.code` values (PROTOCOL.md §3). An error never closes the connection by itself. */
export const ErrorCode = {
  BadRequest: 'BAD_REQUEST',
  UnknownEvent: 'UNKNOWN_EVENT',
  Unauthorized: 'UNAUTHORIZED',
  InvalidTopic: 'INVALID_TOPIC',
  ForbiddenTopic: 'FORBIDDEN_TOPIC',
  SubscriptionLimit: 'SUBSCRIPTION_LIMIT',
  RateLimited: 'RATE_LIMITED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
