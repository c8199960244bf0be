import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * Real server-side sockets for unit tests of the delivery layer: a ws server
 * on loopback and clients connected to it, paired up.
 */
export async function openSocketPairs(count: number): Promise<{
  server: WebSocket[];
  clients: WebSocket[];
  close: () => Promise<void>;
}> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
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
      const client = new WebSocket(`ws://127.0.0.1:${port}`);
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
