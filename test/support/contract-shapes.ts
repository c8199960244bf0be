/**
 * The wire contract's reply shapes (PROTOCOL.md §2, §3), as checks a
 * property test can run on any frame the server sends: exactly these keys,
 * these types, these codes. Each returns a problem, or undefined when the
 * frame keeps the contract.
 */
export const ERROR_CODES: ReadonlySet<string> = new Set([
  'BAD_REQUEST',
  'UNKNOWN_EVENT',
  'UNAUTHORIZED',
  'INVALID_TOPIC',
  'FORBIDDEN_TOPIC',
  'SUBSCRIPTION_LIMIT',
  'RATE_LIMITED',
  'INTERNAL',
]);

/** The success reply of each client event. */
export const REPLY_OF: Readonly<Record<string, string>> = {
  subscribe: 'subscribed',
  unsubscribe: 'unsubscribed',
  ping: 'pong',
  auth: 'authenticated',
  publish: 'published',
  ack: 'acked',
  presence: 'presence',
};

type Check = (data: Record<string, unknown>) => string | undefined;

const isString = (value: unknown) => typeof value === 'string';
const isNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value);
const isStringList = (value: unknown) => Array.isArray(value) && value.every(isString);

function keys(
  data: Record<string, unknown>,
  required: string[],
  optional: string[] = [],
): string | undefined {
  for (const key of required) if (!(key in data)) return `missing ${key}`;
  const allowed = new Set([...required, ...optional, 'ref']);
  const extra = Object.keys(data).find((key) => !allowed.has(key));
  if (extra !== undefined) return `unexpected key ${extra}`;
  if ('ref' in data && !isString(data.ref)) return 'ref is not a string';
  return undefined;
}

const SHAPES: Readonly<Record<string, Check>> = {
  error: (d) =>
    keys(d, ['code', 'message'], ['topic']) ??
    (!ERROR_CODES.has(d.code as string)
      ? `code ${String(d.code)} is not in the contract`
      : undefined) ??
    (!isString(d.message) || d.message.length === 0 ? 'no message' : undefined) ??
    ('topic' in d && !isString(d.topic) ? 'topic is not a string' : undefined),
  subscribed: (d) =>
    keys(d, ['topics']) ??
    (Array.isArray(d.topics) &&
    d.topics.every(
      (t: Record<string, unknown>) =>
        typeof t === 'object' &&
        t !== null &&
        isString(t.topic) &&
        isString(t.offset) &&
        (!('recovered' in t) || typeof t.recovered === 'boolean') &&
        Object.keys(t).every((k) => ['topic', 'offset', 'recovered'].includes(k)),
    )
      ? undefined
      : 'topics are not [{topic, offset, recovered?}]'),
  unsubscribed: (d) =>
    keys(d, ['topics']) ?? (isStringList(d.topics) ? undefined : 'topics are not strings'),
  pong: (d) => keys(d, ['ts']) ?? (isNumber(d.ts) ? undefined : 'ts is not a number'),
  authenticated: (d) =>
    keys(d, ['userId', 'expiresAt']) ??
    (d.userId !== null && !isString(d.userId) ? 'userId' : undefined) ??
    (d.expiresAt !== null && !isNumber(d.expiresAt) ? 'expiresAt' : undefined),
  published: (d) =>
    keys(d, ['offset']) ?? (isString(d.offset) ? undefined : 'offset is not a string'),
  acked: (d) => keys(d, ['ids']) ?? (isStringList(d.ids) ? undefined : 'ids are not strings'),
  presence: (d) => keys(d, ['topic', 'connections', 'users', 'members', 'cursor']),
  message: (d) =>
    keys(d, ['topic', 'type', 'payload', 'ts'], ['offset', 'id']) ??
    (isString(d.topic) && isString(d.type) && isNumber(d.ts) ? undefined : 'message fields'),
};

/** A problem with `frame` as the contract shapes it, or undefined. */
export function contractProblem(frame: unknown): string | undefined {
  if (typeof frame !== 'object' || frame === null) return 'not an object';
  const { event, data, ...rest } = frame as Record<string, unknown>;
  if (Object.keys(rest).length > 0)
    return `keys besides event and data: ${Object.keys(rest).join()}`;
  if (typeof event !== 'string' || !(event in SHAPES))
    return `event ${String(event)} is not a reply`;
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return 'data is not an object';
  return SHAPES[event](data as Record<string, unknown>);
}

const LEAKS: readonly RegExp[] = [
  /\n\s*at\s/,
  /\bat\s+\S+\s+\(/,
  /\.(ts|js|mjs):\d+/,
  /\/(work|home|tmp|usr)\//,
  /node_modules/,
  /\b[A-Z][A-Za-z]*Error\b/,
];

/** What in `text` gives away a stack trace, a source path or an exception name; undefined when nothing does. */
export function leakIn(text: string): RegExp | undefined {
  return LEAKS.find((pattern) => pattern.test(text));
}
