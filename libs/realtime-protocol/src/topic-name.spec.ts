import fc from 'fast-check';
import { KEY_PATTERN, NAMESPACE_PATTERN, parseTopic } from './topic-name';

describe('parseTopic', () => {
  it.each([
    ['orders', { topic: 'orders', namespace: 'orders', key: undefined }],
    ['user:42', { topic: 'user:42', namespace: 'user', key: '42' }],
    [
      'inventory:SKU-1.a_b@c=d',
      { topic: 'inventory:SKU-1.a_b@c=d', namespace: 'inventory', key: 'SKU-1.a_b@c=d' },
    ],
    ['a', { topic: 'a', namespace: 'a', key: undefined }],
    ['chat:a:b'.replace(':b', ''), { topic: 'chat:a', namespace: 'chat', key: 'a' }],
  ])('accepts %s', (topic, expected) => {
    expect(parseTopic(topic)).toEqual(expected);
  });

  it.each([
    '',
    'Orders',
    '1orders',
    '_orders',
    'orders:',
    ':42',
    'user:4 2',
    'user:a/b',
    'chat:a:b',
    'x'.repeat(33),
    `user:${'k'.repeat(101)}`,
    '$broadcast',
    'orders\n',
  ])('refuses %j', (topic) => {
    expect(parseTopic(topic)).toBeUndefined();
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 42, {}, ['orders']])
      expect(parseTopic(value)).toBeUndefined();
  });

  it('accepts exactly the names the patterns describe, for any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 150 }), (topic) => {
        const colon = topic.indexOf(':');
        const namespace = colon === -1 ? topic : topic.slice(0, colon);
        const key = colon === -1 ? undefined : topic.slice(colon + 1);
        const valid =
          NAMESPACE_PATTERN.test(namespace) && (key === undefined || KEY_PATTERN.test(key));
        expect(parseTopic(topic) !== undefined).toBe(valid);
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips generated valid names', () => {
    const namespace = fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/);
    const key = fc.stringMatching(/^[A-Za-z0-9_.@=-]{1,100}$/);
    fc.assert(
      fc.property(namespace, key, (ns, k) => {
        expect(parseTopic(`${ns}:${k}`)).toEqual({ topic: `${ns}:${k}`, namespace: ns, key: k });
      }),
    );
  });
});
