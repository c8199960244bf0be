import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { ANONYMOUS } from '../auth/principal';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { CloseCode, ServerEvent } from '../protocol';
import { Connection } from '../registry/connection';
import { openSocketPairs } from '../../test/socket-pair';
import { encodeFrame } from '../framing/outbound-frame';
import { SocketWriter } from './socket-writer.service';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pair(limits: { maxQueuedMessages?: number; maxQueuedBytes?: number } = {}) {
  const pairs = await openSocketPairs(1);
  const socket = pairs.server[0];
  const raw = (socket as unknown as { _socket: Socket })._socket;
  const connection = new Connection('c', socket, raw, '127.0.0.1', ANONYMOUS);
  const counters = new RealtimeCounters();
  const writer = new SocketWriter(resolveRealtimeOptions({ limits }), counters);
  const client: WebSocket = pairs.clients[0];
  const received: string[] = [];
  client.on('message', (data) => received.push(JSON.parse((data as Buffer).toString()).data.n));
  const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
  return { pairs, connection, writer, counters, client, received, closed, raw };
}

describe('SocketWriter', () => {
  it('writes replies in request order, however long each request takes', async () => {
    const { pairs, connection, writer, received } = await pair();
    try {
      for (const [n, delay] of [
        [1, 40],
        [2, 0],
        [3, 20],
        [4, 0],
      ]) {
        writer.inOrder(connection, async () => {
          await sleep(delay);
          writer.send(connection, ServerEvent.Pong, { n });
        });
      }
      await sleep(150);
      expect(received).toEqual([1, 2, 3, 4]);
    } finally {
      await pairs.close();
    }
  });

  it('closes after the replies owed, even when the close is decided synchronously by the last one', async () => {
    const { pairs, connection, writer, received, closed } = await pair();
    try {
      writer.inOrder(connection, async () => {
        await sleep(30);
        writer.send(connection, ServerEvent.Pong, { n: 1 });
      });
      writer.inOrder(connection, () => {
        // As a guard does: decide the close, then answer the request that caused it.
        writer.closeAfterPending(connection, CloseCode.Revoked);
        writer.send(connection, ServerEvent.Error, { n: 2 });
      });
      writer.inOrder(connection, () => {
        writer.send(connection, ServerEvent.Pong, { n: 3 });
      });
      expect(await closed).toBe(CloseCode.Revoked);
      expect(received).toEqual([1, 2, 3]);
      expect(connection.closing).toBe(true);
    } finally {
      await pairs.close();
    }
  });

  it('closes after closeGraceMs when an owed reply never comes', async () => {
    const { pairs, connection, writer, closed } = await pair();
    try {
      writer.inOrder(connection, () => new Promise<void>(() => undefined));
      const decided = Date.now();
      writer.closeAfterPending(connection, CloseCode.TokenExpired);
      expect(await closed).toBe(CloseCode.TokenExpired);
      // closeGraceMs defaults to 2 s.
      expect(Date.now() - decided).toBeGreaterThanOrEqual(1_900);
    } finally {
      await pairs.close();
    }
  });

  it('closes a reader that does not read within the turn that passes the bound', async () => {
    const { pairs, connection, writer, counters, client } = await pair({
      maxQueuedBytes: 256 * 1024,
      maxQueuedMessages: 10_000,
    });
    try {
      (client as unknown as { _socket: Socket })._socket.pause();
      const frame = encodeFrame(ServerEvent.Message, { n: 0, filler: 'x'.repeat(64 * 1024) });
      let written = 0;
      // One turn, as a replay writes: every write is checked, not only the first.
      for (let i = 0; i < 1_000; i++) if (writer.write(connection, frame)) written++;
      expect(counters.slowConsumers).toBe(1);
      expect(written).toBeLessThan(200);
      expect(connection.isOpen).toBe(false);
    } finally {
      await pairs.close();
    }
  });

  it('lets a reader that reads take a burst longer than maxQueuedMessages in one turn', async () => {
    const { pairs, connection, writer, counters, received } = await pair({
      maxQueuedMessages: 10,
    });
    try {
      for (let n = 0; n < 50; n++)
        writer.write(connection, encodeFrame(ServerEvent.Message, { n }));
      await sleep(100);
      expect(counters.slowConsumers).toBe(0);
      expect(received).toEqual(Array.from({ length: 50 }, (_, n) => n));
    } finally {
      await pairs.close();
    }
  });
});
