import { DemoApp } from './support/demo-app';

/**
 * Pins the toolchain: if the babel transform of Nest's ESM ever stops loading
 * @nestjs/websockets, the gateway silently disappears and upgrades get 404.
 */
describe('smoke: a real socket reaches the gateway', () => {
  let demo: DemoApp;

  beforeAll(async () => {
    demo = await DemoApp.start();
  });

  afterAll(() => demo.stop());

  it('upgrades, greets with connected and answers ping', async () => {
    const client = await demo.connect();
    expect(client.frames[0]).toEqual({
      event: 'connected',
      data: {
        connectionId: expect.any(String),
        userId: null,
        heartbeatMs: 30_000,
        expiresAt: null,
      },
    });
    const pong = await client.request('ping');
    expect(pong).toEqual({
      event: 'pong',
      data: { ref: expect.any(String), ts: expect.any(Number) },
    });
  });
});
