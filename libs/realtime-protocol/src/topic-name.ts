export const MAX_NAMESPACE_LENGTH = 32;
export const MAX_KEY_LENGTH = 100;
/** `namespace:key` at its longest (PROTOCOL.md §4). */
export const MAX_TOPIC_LENGTH = MAX_NAMESPACE_LENGTH + 1 + MAX_KEY_LENGTH;

export const NAMESPACE_PATTERN = new RegExp(`^[a-z][a-z0-9_-]{0,${MAX_NAMESPACE_LENGTH - 1}}$`);
export const KEY_PATTERN = new RegExp(`^[A-Za-z0-9_.@=-]{1,${MAX_KEY_LENGTH}}$`);
export const MAX_USER_ID_LENGTH = 128;
/**
 * A user id (a token's `sub`): printable ASCII without space, `"` and `\`, so
 * that identity providers' subjects (`auth0|5f7c…`, `google-oauth2|1234`,
 * `jo+x@example.com`, URNs) are user ids, while a log line or a JSON string
 * still carries one as it is. Only an id that is also a topic key can own a
 * `user:<id>` topic.
 */
export const USER_ID_PATTERN = new RegExp(`^[!#-\\[\\]-~]{1,${MAX_USER_ID_LENGTH}}$`);
/** USER_ID_PATTERN in words, for error messages. */
export const USER_ID_RULE = `1 to ${MAX_USER_ID_LENGTH} printable ASCII characters, without space, " or \\`;

export interface TopicName {
  topic: string;
  namespace: string;
  key: string | undefined;
}

/** Parses `namespace` or `namespace:key` (PROTOCOL.md §4); undefined when invalid. */
export function parseTopic(topic: unknown): TopicName | undefined {
  if (typeof topic !== 'string' || topic.length > MAX_TOPIC_LENGTH) return undefined;
  const colon = topic.indexOf(':');
  const namespace = colon === -1 ? topic : topic.slice(0, colon);
  const key = colon === -1 ? undefined : topic.slice(colon + 1);
  if (!NAMESPACE_PATTERN.test(namespace)) return undefined;
  if (key !== undefined && !KEY_PATTERN.test(key)) return undefined;
  return { topic, namespace, key };
}

/** The namespace of a topic already validated. */
export function namespaceOf(topic: string): string {
  const colon = topic.indexOf(':');
  return colon === -1 ? topic : topic.slice(0, colon);
}
