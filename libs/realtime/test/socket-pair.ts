import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

/**
 * The ws that @nestjs/platform-ws serves sockets with (it pins its own copy):
 * the server side of these pairs is what the library meets in production.
 */
export const serverWs = createRequire(require.resolve('@nestjs/platform-ws'))(
  'ws',
) as typeof import('ws');

/**
 * Real server-side sockets for unit tests of the transport and delivery
 * layers: a ws server on loopback and clients connected to it, paired up.
 * With `perMessageDeflate`, both sides negotiate compression.
 */
export async function openSocketPairs(
  count: number,
  { perMessageDeflate = false }: { perMessageDeflate?: boolean } = {},
): Promise<{
  server: WebSocket[];
  clients: WebSocket[];
  close: () => Promise<void>;
}> {
  const wss = new serverWs.WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate,
    autoPong: false,
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  const { port } = wss.address() as AddressInfo;
  const server: WebSocket[] = [];
  const accepted = new Promise<void>((resolve) =>
    wss.on('connection', (socket) => {
      server.push(socket);
      if (server.length === count) resolve();
    }),
  );
  const clients = await Promise.all(
    Array.from({ length: count }, async () => {
      const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate });
      await new Promise((resolve) => client.once('open', resolve));
      return client;
    }),
  );
  await accepted;
  return {
    server,
    clients,
    close: async () => {
      for (const client of clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}
