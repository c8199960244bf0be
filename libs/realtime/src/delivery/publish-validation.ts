import {
  CloseCode,
  ErrorCode,
  MAX_TYPE_LENGTH,
  parseTopic,
  RealtimeException,
  USER_ID_PATTERN,
  USER_ID_RULE,
} from '../protocol';

/** What every publish must satisfy, whoever publishes (domain code, clients, the testing recorder). */
export function assertPublishable(topic: string, type: string): void {
  if (!parseTopic(topic))
    throw new RealtimeException(ErrorCode.InvalidTopic, 'invalid topic name', topic);
  assertType(type);
}

export function assertType(type: string): void {
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    throw new RealtimeException(
      ErrorCode.BadRequest,
      `type must be a string of 1 to ${MAX_TYPE_LENGTH} characters`,
    );
  }
}

/** A user id is what a token's `sub` may be: no other id can ever connect, or be logged as one. */
export function assertUserId(userId: string): void {
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    throw new RealtimeException(
      ErrorCode.BadRequest,
      `userId must be a possible token sub: ${USER_ID_RULE}`,
    );
  }
}

const CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode));

/** A close code the server may send: the protocol's own (ws refuses some others, e.g. 1005). */
export function assertCloseCode(code: number): void {
  if (!CLOSE_CODES.has(code)) {
    throw new RealtimeException(
      ErrorCode.BadRequest,
      `close code must be one of ${[...CLOSE_CODES].join(', ')}`,
    );
  }
}
