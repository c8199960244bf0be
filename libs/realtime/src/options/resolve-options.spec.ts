import { DEV_JWT_SECRET } from '../realtime.constants';
import { defaultHistoryTotalBytes, machineMemoryBytes } from './machine-memory';
import { defaultMaxConnections } from './open-file-limit';
import type { JwtAlgorithm, RealtimeModuleOptions } from './realtime-module-options.interface';
import { resolveRealtimeOptions } from './resolve-options';
import { RealtimeOptionsError } from './validate-options';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STRONG_SECRET = 's'.repeat(40);

describe('resolveRealtimeOptions', () => {
  it('gives safe defaults', () => {
    const options = resolveRealtimeOptions();
    expect(options).toMatchObject({
      profile: 'development',
      path: '/ws',
      allowAnonymous: false,
      allowedOrigins: [],
      topics: {},
      perMessageDeflate: false,
      jwt: { algorithms: ['HS256'], clockToleranceSec: 30 },
      limits: {
        maxConnectionsPerIp: 10,
        maxConnectionsPerUser: 3,
        connectRate: 10,
        messageRate: 100,
        maxSubscriptions: 50,
        maxMessageBytes: 65_536,
        subscriptionChurnRate: 60,
        maxPendingPerIp: 16,
        maxQueuedMessages: 100,
      },
      heartbeat: { intervalMs: 30_000, pongTimeoutMs: 10_000 },
      history: { size: 100, ttlSeconds: 300 },
      shutdown: { closeCode: 1001 },
    });
    expect(options.limits.maxConnections).toBe(defaultMaxConnections());
    expect(options.history.maxTotalBytes).toBe(defaultHistoryTotalBytes(machineMemoryBytes()));
  });

  it('lays user options over the profile preset', () => {
    const options = resolveRealtimeOptions({
      profile: 'secure',
      jwt: { secret: STRONG_SECRET },
      limits: { messageRate: 7 },
    });
    expect(options.limits).toMatchObject({
      messageRate: 7,
      maxConnectionsPerIp: 5,
      maxMessageBytes: 16_384,
    });
    expect(options.heartbeat).toEqual({ intervalMs: 15_000, pongTimeoutMs: 5_000 });
    expect(options.allowAnonymous).toBe(false);
  });

  it('uses the high-scale preset', () => {
    const options = resolveRealtimeOptions({ profile: 'high-scale' });
    expect(options.limits.maxConnectionsPerIp).toBe(1_000);
    expect(options.history.size).toBe(50);
  });

  it('takes a key set alone for public-key tokens: RS256, and no development secret', () => {
    const { jwt } = resolveRealtimeOptions({ jwt: { jwksUrl: 'https://idp.example.com/jwks' } });
    expect(jwt).toMatchObject({
      algorithms: ['RS256'],
      secret: undefined,
      jwksRefreshMs: 600_000,
      jwksCooldownMs: 30_000,
    });
  });

  it.each([
    [{ path: 'ws' }, 'path'],
    [{ limits: { maxConnections: 0 } }, 'limits.maxConnections'],
    [{ limits: { messageRate: 1.5 } }, 'limits.messageRate'],
    [{ heartbeat: { intervalMs: 1000, pongTimeoutMs: 1000 } }, 'heartbeat.pongTimeoutMs'],
    [{ allowedOrigins: ['example.com'] }, 'allowedOrigins'],
    [{ jwt: { algorithms: ['none' as never] } }, 'jwt.algorithms'],
    [{ jwt: { algorithms: ['HS256', 'RS256'] as JwtAlgorithm[], secret: 'x' } }, 'jwt.algorithms'],
    [{ jwt: { algorithms: ['RS256'] as JwtAlgorithm[] } }, 'jwt.publicKey'],
    [{ jwt: { keys: {} as never } }, 'jwt.keys'],
    [{ jwt: { keys: Array.from({ length: 17 }, () => ({ secret: 'x' })) } }, 'jwt.keys'],
    [{ jwt: { keys: ['x' as never] } }, 'jwt.keys[0]'],
    [{ jwt: { keys: [{ secret: 'x', publicKey: 'y' }] } }, 'jwt.keys[0]'],
    [{ jwt: { keys: [{ kid: 'k' }] } }, 'jwt.keys[0]'],
    [{ jwt: { keys: [{ secret: 'x', sceret: 'y' } as never] } }, 'jwt.keys[0].sceret'],
    [{ jwt: { keys: [{ secret: 1 as never }] } }, 'jwt.keys[0].secret'],
    [{ jwt: { keys: [{ kid: '', secret: 'x' }] } }, 'jwt.keys[0].kid'],
    [
      {
        jwt: {
          keys: [
            { kid: 'k', secret: 'x' },
            { kid: 'k', secret: 'y' },
          ],
        },
      },
      'jwt.keys[1].kid',
    ],
    [
      { jwt: { algorithms: ['HS256'], secret: 'x', keys: [{ publicKey: 'pem' }] } },
      'jwt.keys[0].secret',
    ],
    [{ jwt: { jwksUrl: 'https://idp.example.com/jwks', algorithms: ['HS256'] } }, 'jwt.jwksUrl'],
    [{ jwt: { jwksUrl: 'ftp://idp.example.com/jwks' } }, 'jwt.jwksUrl'],
    [{ jwt: { jwksUrl: 'not a url' } }, 'jwt.jwksUrl'],
    [{ jwt: { jwksUrl: 'https://idp.example.com/jwks', jwksRefreshMs: 0 } }, 'jwt.jwksRefreshMs'],
    [{ jwt: { jwksUrl: 7 as never } }, 'jwt.jwksUrl'],
    [
      { jwt: { jwksUrl: 'https://idp.example.com/jwks', jwksRefreshMs: 2 ** 31 } },
      'jwt.jwksRefreshMs',
    ],
    [{ jwt: { keys: [{ kid: 'clé', secret: 'x' }] } }, 'jwt.keys[0].kid'],
    [{ topics: { Bad: { subscribe: 'public' } } }, 'topics.Bad'],
    [{ topics: { chat: { subscribe: 'everyone' as never } } }, 'topics.chat.subscribe'],
    [
      { topics: { chat: { subscribe: 'public', maxPerConnection: -1 } } },
      'topics.chat.maxPerConnection',
    ],
    [
      { topics: { chat: { subscribe: 'public', history: { size: 0 } } } },
      'topics.chat.history.size',
    ],
    [
      { topics: { chat: { subscribe: 'public', history: { ttl: 5 } as never } } },
      'topics.chat.history.ttl',
    ],
    [{ history: { maxBytes: 0 } }, 'history.maxBytes'],
    [{ history: { maxTotalBytes: 0 } }, 'history.maxTotalBytes'],
    [{ history: { maxTotalBytes: 2 ** 60 } }, 'history.maxTotalBytes'],
    [{ redis: { options: { keyPrefix: 'x:' } } }, 'redis.options.keyPrefix'],
    [
      { redis: { cluster: { nodes: [{ port: 7000 }] }, keyPrefix: '{shop}:rt:' } },
      'redis.keyPrefix',
    ],
    [{ redis: { cluster: { nodes: [{ port: 7000 }] }, keyPrefix: 'rt}' } }, 'redis.keyPrefix'],
    [{ redis: { pingIntervalMs: 0 } }, 'redis.pingIntervalMs'],
    // Misspelt: a default would otherwise stay in place without a word.
    [{ limits: { maxConection: 5 } } as never, 'limits.maxConection'],
    [{ allowAnonymus: true } as never, 'allowAnonymus'],
    [{ topics: { chat: { subscibe: 'public' } } } as never, 'topics.chat.subscibe'],
    [
      { topics: { chat: { presence: { joinleave: true } } } } as never,
      'topics.chat.presence.joinleave',
    ],
    [
      { topics: { chat: { subscribe: 'public', presence: 'on' } } } as never,
      'topics.chat.presence',
    ],
    [{ redis: { url: 'redis://x', keyprefix: 'a:' } } as never, 'redis.keyprefix'],
    [{ redis: { pingTimeoutMs: 60_000 } }, 'redis.pingTimeoutMs'],
    [
      { redis: { cluster: { nodes: [{ port: 7000 }], options: { keyPrefix: 'x:' } } } },
      'redis.cluster.options.keyPrefix',
    ],
    [
      {
        redis: {
          cluster: { nodes: [{ port: 7000 }], options: { redisOptions: { keyPrefix: 'x:' } } },
        },
      },
      'redis.cluster.options.redisOptions.keyPrefix',
    ],
    [{ shutdown: { closeCode: 1000 as never } }, 'shutdown.closeCode'],
    // Values whose own toString is no function (found by options.property.spec.ts).
    [{ jwt: { clockToleranceSec: { toString: '' } as never } }, 'jwt.clockToleranceSec'],
    [{ limits: { maxConnections: Object.create(null) as never } }, 'limits.maxConnections'],
    [{ path: { toString: 1 } as never }, 'path'],
    [{ allowedOrigins: [{ toString: '' }] as never }, 'allowedOrigins'],
    [{ network: { trustedProxies: [{ toString: '' }] } as never }, 'network.trustedProxies'],
  ] as Array<[RealtimeModuleOptions, string]>)('refuses %j naming %s', (options, name) => {
    expect(() => resolveRealtimeOptions(options)).toThrow(RealtimeOptionsError);
    expect(() => resolveRealtimeOptions(options)).toThrow(`"${name}"`);
  });

  it.each(['production', 'secure'] as const)(
    'the %s profile refuses development shortcuts',
    (profile) => {
      expect(() => resolveRealtimeOptions({ profile })).toThrow('"jwt.secret"');
      expect(() => resolveRealtimeOptions({ profile, jwt: { secret: DEV_JWT_SECRET } })).toThrow(
        'development secret',
      );
      expect(() => resolveRealtimeOptions({ profile, jwt: { secret: 'short' } })).toThrow(
        'at least 32',
      );
      expect(() => resolveRealtimeOptions({ profile, jwt: { secret: ' '.repeat(40) } })).toThrow(
        'is blank',
      );
      expect(() =>
        resolveRealtimeOptions({
          profile,
          jwt: { secret: STRONG_SECRET, keys: [{ kid: 'old', secret: 'short' }] },
        }),
      ).toThrow('"jwt.keys[0].secret" must be at least 32');
      expect(() =>
        resolveRealtimeOptions({ profile, jwt: { jwksUrl: 'http://idp.example.com/jwks' } }),
      ).toThrow('"jwt.jwksUrl" must be an https URL');
      const jwksUrl = 'https://idp.example.com/jwks';
      expect(() => resolveRealtimeOptions({ profile, jwt: { jwksUrl } })).toThrow(
        '"jwt.jwksUrl" needs jwt.issuer and jwt.audience',
      );
      expect(() =>
        resolveRealtimeOptions({
          profile,
          jwt: {
            jwksUrl,
            issuer: 'https://idp.example.com/',
            audience: 'shop',
            jwksCooldownMs: 10,
          },
        }),
      ).toThrow('"jwt.jwksCooldownMs" must be an integer from 1000');
      expect(() =>
        resolveRealtimeOptions({ profile, jwt: { secret: STRONG_SECRET }, allowedOrigins: ['*'] }),
      ).toThrow('"allowedOrigins"');
      expect(resolveRealtimeOptions({ profile, jwt: { secret: STRONG_SECRET } }).profile).toBe(
        profile,
      );
    },
  );
});

describe('defaultMaxConnections', () => {
  it('keeps a reserve under the open-file limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'limits-'));
    const file = join(dir, 'limits');
    writeFileSync(
      file,
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n',
    );
    expect(defaultMaxConnections(file)).toBe(19_000);
    expect(defaultMaxConnections(join(dir, 'missing'))).toBe(10_240 - 512);
  });
});

describe('defaultHistoryTotalBytes', () => {
  const MiB = 1024 * 1024;

  it('takes a sixteenth of the machine, at least 16 MiB and at most 1 GiB', () => {
    expect(defaultHistoryTotalBytes(2048 * MiB)).toBe(128 * MiB);
    expect(defaultHistoryTotalBytes(128 * MiB)).toBe(16 * MiB);
    expect(defaultHistoryTotalBytes(64 * 1024 * MiB)).toBe(1024 * MiB);
  });

  it('reads the container limit when it is below the machine', () => {
    expect(machineMemoryBytes()).toBeGreaterThan(0);
    expect(Number.isSafeInteger(machineMemoryBytes())).toBe(true);
  });
});
