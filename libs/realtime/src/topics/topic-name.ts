export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
export const KEY_PATTERN = /^[A-Za-z0-9_.@=-]{1,100}$/;

export interface TopicName {
  topic: string;
  namespace: string;
  key: string | undefined;
}

/** Parses `namespace` or `namespace:key` (PROTOCOL.md §4); undefined when invalid. */
export function parseTopic(topic: unknown): TopicName | undefined {
  if (typeof topic !== 'string' || topic.length > 133) return undefined;
  const colon = topic.indexOf(':');
  const namespace = colon === -1 ? topic : topic.slice(0, colon);
  const key = colon === -1 ? undefined : topic.slice(colon + 1);
  if (!NAMESPACE_PATTERN.test(namespace)) return undefined;
  if (key !== undefined && !KEY_PATTERN.test(key)) return undefined;
  return { topic, namespace, key };
}
