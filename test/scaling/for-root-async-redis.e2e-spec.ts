import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BroadcastService, RealtimeModule, RealtimeWsAdapter } from '@nest-realtime/server';
import Redis from 'ioredis';
import type { AddressInfo } from 'node:net';
import { TestRedis } from '../support/redis-server';
import { connect } from '../support/ws-client';

/** Stands in for @nestjs/config's ConfigService: values known only once DI runs. */
@Injectable()
class ConfigService {
  constructor(private readonly values: Record<string, string>) {}

  get(key: string): string | undefined {
    return this.values[key];
  }
}

/** The Redis engine selected by options that only a factory knows (forRootAsync). */
describe('RealtimeModule.forRootAsync with Redis from a config service', () => {
  let redis: TestRedis;
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    redis = await TestRedis.start();
    @Module({
      providers: [
        { provide: ConfigService, useValue: new ConfigService({ REDIS_URL: redis.url }) },
      ],
      exports: [ConfigService],
    })
    class ConfigModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [
        RealtimeModule.forRootAsync({
          usesRedis: true,
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            allowAnonymous: true,
            topics: { news: { subscribe: 'public' } },
            redis: { url: config.get('REDIS_URL'), options: { db: 3 }, keyPrefix: 'shop:' },
          }),
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('runs the Redis engine, with the configured database and key prefix', async () => {
    const realtime = app.get(BroadcastService);
    expect((await realtime.detailedStats()).engine).toMatchObject({ engine: 'redis', state: 'up' });
    const client = await connect(`ws://127.0.0.1:${port}/ws?subscribe=news`);
    await client.waitFor((f) => f.event === 'subscribed');
    const offset = await realtime.publish('news', 'headline', { title: 'hi' });
    const message = await client.waitFor((f) => f.event === 'message');
    expect(message.data).toMatchObject({ topic: 'news', offset, payload: { title: 'hi' } });
    const db3 = new Redis(`${redis.url}/3`);
    try {
      expect(await db3.exists('shop:history:news', 'shop:meta:news')).toBe(2);
    } finally {
      db3.disconnect();
    }
    expect(await redis.command('EXISTS', 'shop:history:news')).toBe(':0');
    await client.close();
  });
});
