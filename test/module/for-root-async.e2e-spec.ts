import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BroadcastService,
  REALTIME_OPTIONS,
  RealtimeModule,
  RealtimeWsAdapter,
  type ResolvedRealtimeOptions,
} from '@nest-realtime/server';
import { WsAdapter } from '@nestjs/platform-ws';
import type { AddressInfo } from 'node:net';
import { connect, tryConnect } from '../support/ws-client';

@Injectable()
class SettingsService {
  readonly path = '/live';
}

@Module({ providers: [SettingsService], exports: [SettingsService] })
class SettingsModule {}

/** Options from DI (forRootAsync), including a path that decorator metadata could not carry. */
describe('RealtimeModule.forRootAsync', () => {
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        RealtimeModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SettingsService],
          useFactory: (settings: SettingsService) => ({
            path: settings.path,
            allowAnonymous: true,
            topics: { news: { subscribe: 'public' } },
          }),
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(() => app.close());

  it('resolves the options through the factory', () => {
    const options = app.get<ResolvedRealtimeOptions>(REALTIME_OPTIONS);
    expect(options.path).toBe('/live');
    expect(options.limits.maxSubscriptions).toBe(50);
  });

  it('serves the WebSocket on the configured path only', async () => {
    const client = await connect(`ws://127.0.0.1:${port}/live?subscribe=news`);
    await client.waitFor((f) => f.event === 'subscribed');
    const offset = await app.get(BroadcastService).publish('news', 'headline', { title: 'hi' });
    const message = await client.waitFor((f) => f.event === 'message');
    expect(message.data).toEqual({
      topic: 'news',
      type: 'headline',
      payload: { title: 'hi' },
      offset,
      ts: expect.any(Number),
    });
    await client.close();
    expect((await tryConnect(`ws://127.0.0.1:${port}/ws`)).kind).toBe('error');
  });

  it('fails start-up with a message naming a bad option', async () => {
    const compiling = Test.createTestingModule({
      imports: [
        RealtimeModule.forRootAsync({ useFactory: () => ({ limits: { maxSubscriptions: -1 } }) }),
      ],
    }).compile();
    await expect(compiling).rejects.toThrow('"limits.maxSubscriptions"');
  });

  it('refuses to start without its adapter, saying which line is missing', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RealtimeModule.forRoot({ allowAnonymous: true })],
    }).compile();
    const bare = moduleRef.createNestApplication({ logger: false });
    bare.useWebSocketAdapter(new WsAdapter(bare));
    await expect(bare.init()).rejects.toThrow('RealtimeWsAdapter');
    await bare.close();
  });
});
