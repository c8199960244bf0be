import fc from 'fast-check';
import type { RealtimeModuleOptions } from './realtime-module-options.interface';
import { resolveRealtimeOptions } from './resolve-options';
import type { ResolvedRealtimeOptions } from './resolved-options';
import { RealtimeOptionsError } from './validate-options';

/** Values a JavaScript caller, a config file or an environment parser could hand over. */
const anything = fc.oneof(
  fc.constantFrom(0, -1, 1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 1e300, '', 'x', '10', true),
  fc.constantFrom(null, undefined, [], {}, ['x'], { a: 1 }),
  fc.integer(),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }),
);
/** A good value most of the time, anything now and then: the checks behind the first ones are reached too. */
const mostly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: anything });
/** Present one time in three. */
const sometimes = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined, freq: 3 });
const count = mostly(fc.integer({ min: 1, max: 100_000 }));
const section = (keys: string[]) =>
  mostly(fc.dictionary(fc.constantFrom(...keys), count, { maxKeys: 2 }));
const rule = mostly(
  fc.oneof(
    fc.constantFrom('public', 'authenticated', 'owner', 'none'),
    fc.record({ roles: fc.array(fc.string({ maxLength: 5 })) }),
  ),
);
const policy = mostly(fc.record({ subscribe: rule, publish: rule }, { requiredKeys: [] }));
const options = fc.record({
  profile: sometimes(mostly(fc.constantFrom('development', 'secure', 'high-scale', 'production'))),
  path: sometimes(mostly(fc.constantFrom('/ws', '/a/b', '/live.v1'))),
  allowAnonymous: sometimes(mostly(fc.boolean())),
  allowedOrigins: sometimes(
    mostly(fc.array(fc.constantFrom('https://app.example.com', 'http://localhost:3000'))),
  ),
  jwt: sometimes(
    mostly(
      fc.record(
        {
          secret: mostly(fc.constant('s'.repeat(40))),
          keys: mostly(
            fc.array(
              mostly(
                fc.record(
                  {
                    kid: mostly(fc.constantFrom('k1', 'k2', '')),
                    secret: mostly(fc.constantFrom('t'.repeat(40), 'short')),
                    publicKey: mostly(fc.constant('-----BEGIN PUBLIC KEY-----')),
                  },
                  { requiredKeys: [] },
                ),
              ),
              { maxLength: 17 },
            ),
          ),
          algorithms: mostly(fc.constantFrom(['HS256'], ['HS256', 'HS512'])),
          clockToleranceSec: mostly(fc.nat(60)),
        },
        { requiredKeys: [] },
      ),
    ),
  ),
  limits: sometimes(
    section(['maxConnections', 'messageRate', 'maxMessageBytes', 'maxSubscriptions']),
  ),
  heartbeat: sometimes(section(['intervalMs', 'pongTimeoutMs'])),
  history: sometimes(section(['size', 'ttlSeconds', 'maxTopics', 'maxBytes'])),
  offline: sometimes(section(['maxMessagesPerUser', 'maxTtlSeconds', 'deadLetterLimit'])),
  idempotency: sometimes(section(['windowSeconds', 'maxKeys'])),
  jobs: sometimes(section(['cleanupIntervalMs', 'attempts'])),
  shutdown: sometimes(mostly(fc.record({ closeCode: fc.constantFrom(1001, 1012) }))),
  topics: sometimes(
    mostly(fc.dictionary(fc.constantFrom('chat', 'orders', 'user_2'), policy, { maxKeys: 3 })),
  ),
  network: sometimes(mostly(fc.record({ trustedProxies: fc.constant(['127.0.0.1']) }))),
  closeGraceMs: sometimes(mostly(fc.nat(10_000))),
});

const positive = (value: unknown) => Number.isSafeInteger(value) && (value as number) > 0;

/** What every resolved configuration holds, whatever it was given (docs/configuration.md). */
function expectSound(o: ResolvedRealtimeOptions): void {
  expect(['development', 'production', 'secure', 'high-scale']).toContain(o.profile);
  expect(o.path).toMatch(/^\/[\w\-./]*$/);
  expect(typeof o.allowAnonymous).toBe('boolean');
  expect(
    Array.isArray(o.allowedOrigins) && o.allowedOrigins.every((x) => typeof x === 'string'),
  ).toBe(true);
  expect(o.jwt.algorithms.length).toBeGreaterThan(0);
  expect(o.jwt.algorithms.every((a) => typeof a === 'string' && a.toLowerCase() !== 'none')).toBe(
    true,
  );
  for (const group of [o.limits, o.history, o.jobs, o.idempotency, o.heartbeat]) {
    for (const [key, value] of Object.entries(group))
      expect({ [key]: positive(value) }).toEqual({ [key]: true });
  }
  expect(o.heartbeat.pongTimeoutMs).toBeLessThan(o.heartbeat.intervalMs);
  for (const [namespace, policy] of Object.entries(o.topics)) {
    expect(namespace).toMatch(/^[a-z][a-z0-9_-]{0,31}$/);
    expect(typeof policy === 'object' && policy !== null).toBe(true);
  }
}

/**
 * Configuration values of any type (options from JavaScript, a config file,
 * an environment): the module either starts with a sound configuration or
 * refuses to start with RealtimeOptionsError naming the option, never with
 * a TypeError from deep inside.
 */
describe('module options, whatever they hold', () => {
  it('resolve to a sound configuration or a RealtimeOptionsError naming the option', () => {
    fc.assert(
      fc.property(options, (given) => {
        let resolved: ResolvedRealtimeOptions;
        try {
          resolved = resolveRealtimeOptions(given as RealtimeModuleOptions);
        } catch (error) {
          expect(error).toBeInstanceOf(RealtimeOptionsError);
          expect((error as Error).message).toMatch(/^RealtimeModule: option ".*" \S/s);
          return;
        }
        expectSound(resolved);
      }),
      { numRuns: 5_000 },
    );
  });
});
