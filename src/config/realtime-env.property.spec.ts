import { resolveRealtimeOptions } from '@nest-realtime/server';
import fc from 'fast-check';
import { demoConfigFromEnv } from './realtime-env';

/** The demo's environment (PROTOCOL.md §7), the variables it reads. */
const VARIABLES = [
  'PORT',
  'NODE_ENV',
  'JWT_SECRET',
  'JWT_PREVIOUS_SECRET',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_CLUSTER_USERNAME',
  'REDIS_CLUSTER_PASSWORD',
  'METRICS_PUBLIC',
  'DEMO_CONNECTED_HANDLER',
  'REALTIME_ALLOWED_ORIGINS',
  'REALTIME_ALLOW_ANONYMOUS',
  'REALTIME_MAX_CONNECTIONS',
  'REALTIME_MAX_CONNECTIONS_PER_IP',
  'REALTIME_MAX_CONNECTIONS_PER_USER',
  'REALTIME_CONNECT_RATE_PER_MIN',
  'REALTIME_MESSAGE_RATE_PER_MIN',
  'REALTIME_MAX_SUBSCRIPTIONS',
  'REALTIME_MAX_MESSAGE_BYTES',
  'REALTIME_MAX_QUEUED_MESSAGES',
  'REALTIME_HEARTBEAT_MS',
  'REALTIME_PONG_TIMEOUT_MS',
  'REALTIME_HISTORY_SIZE',
  'REALTIME_HISTORY_TTL_S',
  'REALTIME_HISTORY_MAX_TOPICS',
  'REALTIME_MAX_PENDING_PER_IP',
  'REALTIME_CLEANUP_INTERVAL_MS',
  'REALTIME_JOB_ATTEMPTS',
  'REALTIME_JOB_BACKOFF_MS',
  'REALTIME_PRESENCE_DIFF_MS',
  'REALTIME_PRESENCE_MAX_DIFF_USERS',
  'REALTIME_PRESENCE_TTL_S',
  'REALTIME_OFFLINE_GRACE_MS',
];

/** What an environment holds: numbers of every form, words, blanks, any unicode. */
const value = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 100_000 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '0',
      '-1',
      '1.5',
      '1e3',
      '0x10',
      '9007199254740993',
      'NaN',
      'Infinity',
      'true',
      'false',
      '1',
      'production',
      'development',
      'test',
      'http://localhost:3000,https://a.example.com',
      '*',
      'redis://127.0.0.1:1',
      '127.0.0.1:7000,127.0.0.1:7001',
      'localhost:0,:1',
      's'.repeat(40),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
const environment = fc.dictionary(fc.constantFrom(...VARIABLES), value, { maxKeys: 6 });

/**
 * The demo's configuration from any environment: it starts with a
 * configuration the module accepts, or refuses to start with an error that
 * names the variable (or the module's option) at fault, never a TypeError.
 */
describe('demo configuration, whatever the environment holds', () => {
  it('starts sound or names the variable at fault', () => {
    fc.assert(
      fc.property(environment, (env) => {
        let realtime;
        try {
          realtime = demoConfigFromEnv(env).realtime;
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect(error).not.toBeInstanceOf(TypeError);
          const named = Object.keys(env).filter((name) => (error as Error).message.includes(name));
          expect({ env, named: named.length > 0 }).toEqual({ env, named: true });
          return;
        }
        try {
          const options = resolveRealtimeOptions(realtime);
          expect(options.limits.maxConnections).toBeGreaterThan(0);
        } catch (error) {
          expect((error as Error).name).toBe('RealtimeOptionsError');
        }
      }),
      { numRuns: 3_000 },
    );
  });
});
