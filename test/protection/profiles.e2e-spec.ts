import { Test } from '@nestjs/testing';
import {
  DEV_JWT_SECRET,
  RealtimeModule,
  type RealtimeModuleOptions,
  RealtimeOptionsError,
  resolveRealtimeOptions,
} from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { PROTECTED_JWT_SECRET } from '../support/protected-app';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

const STRONG_SECRET = 'a-production-secret-that-is-long-enough-0123456789';

/** Starts a module with only RealtimeModule; resolves with the start-up error, if any. */
async function startUpError(options: RealtimeModuleOptions): Promise<Error | undefined> {
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [RealtimeModule.forRoot(options)],
    }).compile();
    await moduleRef.close();
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** Profiles: hardened ones refuse development shortcuts at start-up, naming the option. */
describe('profiles', () => {
  describe('production refuses development settings at start-up', () => {
    it('refuses the development JWT secret, implicit or explicit', async () => {
      for (const jwt of [undefined, { secret: DEV_JWT_SECRET }]) {
        const error = await startUpError({
          profile: 'production',
          jwt,
          allowedOrigins: ['https://app.example.com'],
        });
        expect(error).toBeInstanceOf(RealtimeOptionsError);
        expect(error?.message).toContain('"jwt.secret"');
        expect(error?.message).toContain('development secret');
        expect(error?.message).toContain('production');
      }
    });

    it('refuses a `*` origin', async () => {
      const error = await startUpError({
        profile: 'production',
        jwt: { secret: STRONG_SECRET },
        allowedOrigins: ['https://app.example.com', '*'],
      });
      expect(error).toBeInstanceOf(RealtimeOptionsError);
      expect(error?.message).toContain('"allowedOrigins"');
      expect(error?.message).toContain('"*"');
    });

    it('refuses a short secret', async () => {
      const error = await startUpError({ profile: 'production', jwt: { secret: 'short' } });
      expect(error?.message).toContain('"jwt.secret"');
    });

    it('starts with a real secret and explicit origins', async () => {
      expect(
        await startUpError({
          profile: 'production',
          jwt: { secret: STRONG_SECRET },
          allowedOrigins: ['https://app.example.com'],
        }),
      ).toBeUndefined();
    });

    it('development accepts what production refuses', () => {
      const resolved = resolveRealtimeOptions({ allowedOrigins: ['*'] });
      expect(resolved.profile).toBe('development');
      expect(resolved.jwt.secret).toBe(DEV_JWT_SECRET);
      expect(resolved.allowedOrigins).toEqual(['*']);
    });
  });

  describe('the demo app in production (NODE_ENV=production)', () => {
    it('refuses to start without JWT_SECRET, or with the development one, or with `*` origins', async () => {
      await expect(DemoApp.start({ NODE_ENV: 'production', JWT_SECRET: '' })).rejects.toThrow(
        'JWT_SECRET',
      );
      await expect(
        DemoApp.start({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET }),
      ).rejects.toThrow('"jwt.secret"');
      await expect(
        DemoApp.start({
          NODE_ENV: 'production',
          JWT_SECRET: STRONG_SECRET,
          REALTIME_ALLOWED_ORIGINS: '*',
        }),
      ).rejects.toThrow('"allowedOrigins"');
    });

    it('starts with a real secret, and has no dev token route', async () => {
      const demo = await DemoApp.start({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET });
      try {
        expect((await demo.http('POST', '/auth/token', { userId: 'alice' })).status).toBe(404);
        expect((await demo.http('GET', '/health')).status).toBe(200);
      } finally {
        await demo.stop();
      }
    });
  });

  describe('presets', () => {
    it('secure resolves to its preset and is hardened', () => {
      const resolved = resolveRealtimeOptions({
        profile: 'secure',
        jwt: { secret: PROTECTED_JWT_SECRET },
      });
      expect(resolved).toMatchObject({
        profile: 'secure',
        allowAnonymous: false,
        perMessageDeflate: false,
        limits: {
          maxConnectionsPerIp: 5,
          maxConnectionsPerUser: 3,
          connectRate: 5,
          messageRate: 60,
          maxSubscriptions: 20,
          maxMessageBytes: 16 * 1024,
          maxQueuedMessages: 50,
          maxQueuedBytes: 256 * 1024,
        },
        heartbeat: { intervalMs: 15_000, pongTimeoutMs: 5_000 },
        jwt: { clockToleranceSec: 5, algorithms: ['HS256'] },
      });
      expect(() => resolveRealtimeOptions({ profile: 'secure' })).toThrow('"jwt.secret"');
      expect(() =>
        resolveRealtimeOptions({
          profile: 'secure',
          jwt: { secret: PROTECTED_JWT_SECRET },
          allowedOrigins: ['*'],
        }),
      ).toThrow('"allowedOrigins"');
    });

    it('secure lets explicit options win over the preset, key by key', () => {
      const resolved = resolveRealtimeOptions({
        profile: 'secure',
        jwt: { secret: PROTECTED_JWT_SECRET, clockToleranceSec: 0 },
        allowAnonymous: true,
        limits: { messageRate: 10 },
        heartbeat: { intervalMs: 300, pongTimeoutMs: 150 },
      });
      expect(resolved.allowAnonymous).toBe(true);
      expect(resolved.jwt.clockToleranceSec).toBe(0);
      expect(resolved.limits).toMatchObject({
        messageRate: 10,
        maxConnectionsPerIp: 5,
        maxMessageBytes: 16 * 1024,
      });
      expect(resolved.heartbeat).toEqual({ intervalMs: 300, pongTimeoutMs: 150 });
    });

    it('high-scale resolves to its preset and is not hardened', () => {
      const resolved = resolveRealtimeOptions({ profile: 'high-scale' });
      expect(resolved).toMatchObject({
        profile: 'high-scale',
        limits: {
          maxConnectionsPerIp: 1_000,
          maxConnectionsPerUser: 10,
          connectRate: 600,
          maxQueuedMessages: 500,
          maxQueuedBytes: 4 * 1024 * 1024,
          maxTrackedKeys: 1_000_000,
        },
        heartbeat: { intervalMs: 45_000, pongTimeoutMs: 15_000 },
        history: { size: 50, ttlSeconds: 120 },
      });
      expect(resolved.jwt.secret).toBe(DEV_JWT_SECRET);
    });

    it('a hardened profile applies the preset at start-up too', async () => {
      expect(
        await startUpError({ profile: 'secure', jwt: { secret: PROTECTED_JWT_SECRET } }),
      ).toBeUndefined();
      expect((await startUpError({ profile: 'secure' }))?.message).toContain('"jwt.secret"');
    });
  });
});
