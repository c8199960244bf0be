import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { RedisConnections } from './redis-connections.service';

/** A peer that takes connections and never answers nor closes its side (a stalled proxy). */
async function silentPeer(): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, accepted };
}

describe('RedisConnections shutdown', () => {
  it('leaves no socket open behind it when the peer never closes (nor ioredis its 2 s timer)', async () => {
    const peer = await silentPeer();
    const connections = new RedisConnections(
      resolveRealtimeOptions({ redis: { url: `redis://127.0.0.1:${peer.port}` } }),
    );
    try {
      const command = connections.command;
      await once(command, 'connect');
      expect(command.status).toBe('connect'); // its ready check is never answered
      const socket = command.stream;

      const ended = once(command, 'end');
      await connections.onApplicationShutdown();

      // Gone at once: ioredis alone ends the socket and waits 2 s for the peer to close it.
      let timer: NodeJS.Timeout | undefined;
      const first = await Promise.race([
        ended.then(() => 'ended'),
        new Promise((resolve) => (timer = setTimeout(resolve, 1_000, 'still open after 1 s'))),
      ]);
      clearTimeout(timer);
      expect(first).toBe('ended');
      expect(socket.destroyed).toBe(true);
    } finally {
      for (const socket of peer.accepted) socket.destroy();
      await new Promise((resolve) => peer.server.close(resolve));
    }
  });
});
