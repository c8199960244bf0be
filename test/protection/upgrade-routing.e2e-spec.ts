import { type INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { RealtimeModule, RealtimeWsAdapter } from '@nest-realtime/server';
import type { Server } from 'node:http';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { connect, tryConnect } from '../support/ws-client';

/** An app's own gateway beside the realtime one, on another path of the same server (WsAdapter's). */
@WebSocketGateway({ path: '/other' })
class OtherGateway {
  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown) {
    return { event: 'echo', data };
  }
}

interface RawResponse {
  /** Everything the server wrote before it closed the socket. */
  text: string;
  /** Whether the socket closed without the server writing a byte. */
  empty: boolean;
}

/**
 * Sends raw bytes on a TCP socket and collects what comes back until the server closes it (or,
 * with `enough`, until what came back satisfies it: then the client closes).
 */
function rawExchange(
  port: number,
  request: string,
  enough?: (text: string) => boolean,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (enough?.(Buffer.concat(chunks).toString('latin1'))) socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the whole answer arrived still ends the exchange.
      if (error.code !== 'ECONNRESET') reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, empty: text.length === 0 });
    });
    socket.write(request);
  });
}

function upgradeRequest(target: string, host = '127.0.0.1'): string {
  return (
    `GET ${target} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'Connection: Upgrade\r\n' +
    'Upgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  );
}

/**
 * RealtimeWsAdapter routes the upgrades of the app's HTTP server itself
 * (WsAdapter's listener built a URL per upgrade): the realtime path and the
 * app's other gateways as WsAdapter routed them, other paths dropped and
 * unreadable targets answered 400 through SocketWriter, the listener taken
 * off the server on dispose.
 */
describe('upgrade routing on the app server', () => {
  let app: INestApplication;
  let adapter: RealtimeWsAdapter;
  let port: number;

  beforeAll(async () => {
    @Module({
      imports: [RealtimeModule.forRoot({ allowAnonymous: true, path: '/ws' })],
      providers: [OtherGateway],
    })
    class RootModule {}
    const moduleRef = await Test.createTestingModule({ imports: [RootModule] }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    adapter = new RealtimeWsAdapter(app);
    app.useWebSocketAdapter(adapter);
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(() => app.close());

  it('opens realtime connections on the realtime path, with or without a query', async () => {
    for (const url of [`ws://127.0.0.1:${port}/ws`, `ws://127.0.0.1:${port}/ws?x=1&y=%2e`]) {
      const client = await connect(url);
      expect(client.frames[0]).toMatchObject({ event: 'connected', data: { userId: null } });
      client.socket.close();
      await client.closed;
    }
  });

  it('routes a target WsAdapter normalises to the realtime path there too', async () => {
    // The URL parser reads `/x/../ws` as `/ws`: WsAdapter took it to the realtime server.
    const response = await rawExchange(port, upgradeRequest('/x/../ws?x=1'), (text) =>
      text.includes('"event":"connected"'),
    );
    expect(response.text).toMatch(/^HTTP\/1\.1 101 /);
    expect(response.text).toContain('"event":"connected"');
  });

  it("still serves the app's other gateway on its own path of the same server", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/other`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const reply = new Promise<string>((resolve) =>
      socket.once('message', (data: Buffer) => resolve(data.toString())),
    );
    socket.send(JSON.stringify({ event: 'echo', data: { n: 1 } }));
    expect(JSON.parse(await reply)).toEqual({ event: 'echo', data: { n: 1 } });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.close();
    await closed;
  });

  it('drops an upgrade to a path no gateway serves: socket closed, no response (as WsAdapter)', async () => {
    for (const path of ['/nope', '/ws/', '/WS', '/other/x', '//ws']) {
      const result = await tryConnect(`ws://127.0.0.1:${port}${path}`);
      expect(result.kind).toBe('error');
      const raw = await rawExchange(port, upgradeRequest(path));
      expect(raw.empty).toBe(true);
    }
  });

  it('answers an upgrade whose target does not parse with 400 and closes the socket', async () => {
    for (const request of [upgradeRequest('//'), upgradeRequest('/ws', 'bad host:99999')]) {
      const raw = await rawExchange(port, request);
      expect(raw.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(raw.text.endsWith('\r\n\r\nbad request')).toBe(true);
    }
  });

  it('keeps serving after refusals', async () => {
    const client = await connect(`ws://127.0.0.1:${port}/ws`);
    expect(client.frames[0].event).toBe('connected');
    client.socket.close();
    await client.closed;
  });
});

describe('upgrade routing: dispose', () => {
  it('takes its upgrade listener off a server passed in, and nothing else', async () => {
    @Module({ imports: [RealtimeModule.forRoot({ allowAnonymous: true })] })
    class RootModule {}
    const moduleRef = await Test.createTestingModule({ imports: [RootModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    const adapter = new RealtimeWsAdapter(app);
    app.useWebSocketAdapter(adapter);
    const server = app.getHttpServer() as Server;
    const foreign = () => undefined;
    server.on('upgrade', foreign);
    await app.init();
    expect(server.listenerCount('upgrade')).toBeGreaterThan(1);
    await adapter.dispose();
    expect(server.listeners('upgrade')).toEqual([foreign]);
    server.off('upgrade', foreign);
    await app.close();
  });
});
