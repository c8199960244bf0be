import { type INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RealtimeModule, RealtimeWsAdapter } from '@nest-realtime/server';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import { expectNothingSince } from '../support/frame-helpers';
import { connect, type TestClient, tryConnect } from '../support/ws-client';

/** An app's own gateway, declared with no path, as Nest's docs show it. */
@WebSocketGateway()
class ChatGateway {
  @SubscribeMessage('hello')
  hello(@MessageBody() name: string) {
    return { event: 'hi', data: name };
  }
}

@Module({ providers: [ChatGateway] })
class ChatModule {}

@WebSocketGateway({ path: '/ws' })
class SquatterGateway {}

@Module({ providers: [SquatterGateway] })
class SquatterModule {}

const realtime = RealtimeModule.forRoot({ allowAnonymous: true, topics: {} });

async function start(imports: unknown[]): Promise<{ app: INestApplication; port: number }> {
  @Module({ imports: imports as never[] })
  class HostModule {}
  const moduleRef = await Test.createTestingModule({ imports: [HostModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.useWebSocketAdapter(new RealtimeWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  return { app, port: (app.getHttpServer().address() as AddressInfo).port };
}

/** The app's own gateways keep their paths; the realtime one keeps its own. */
describe.each([
  ['imported before RealtimeModule', () => [ChatModule, realtime]],
  ['imported after RealtimeModule', () => [realtime, ChatModule]],
])("an app's gateway without a path, %s", (_order, imports) => {
  let app: INestApplication;
  let port: number;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    ({ app, port } = await start(imports()));
  });
  afterAll(async () => {
    for (const client of clients) await client.close();
    await app.close();
  });

  it('gets its own server: one session per realtime client, one reply per request', async () => {
    const client = await connect(`ws://127.0.0.1:${port}/ws`);
    clients.push(client);
    const pong = await client.request('ping');
    await expectNothingSince(client, client.frames.indexOf(pong) + 1);
    expect(client.frames.filter((f) => f.event === 'connected')).toHaveLength(1);
  });

  it('is reached on its own path', async () => {
    const chat = await tryConnect(`ws://127.0.0.1:${port}/`);
    if (chat.kind !== 'open') throw new Error(`the app's gateway refused: ${chat.kind}`);
    clients.push(chat.client);
    chat.client.sendRaw(JSON.stringify({ event: 'hello', data: 'ada' }));
    expect(await chat.client.waitFor((f) => f.event === 'hi')).toEqual({
      event: 'hi',
      data: 'ada',
    });
  });
});

describe("an app's gateway on the realtime path", () => {
  it('stops start-up, naming the path', async () => {
    await expect(start([SquatterModule, realtime])).rejects.toThrow(/RealtimeModule serves \/ws/);
    await expect(start([realtime, SquatterModule])).rejects.toThrow(/RealtimeModule serves \/ws/);
  });
});
