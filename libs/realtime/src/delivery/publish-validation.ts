import { ErrorCode, RealtimeException, MAX_TYPE_LENGTH, parseTopic } from '../protocol';

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
