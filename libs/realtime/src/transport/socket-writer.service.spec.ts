import { Logger } from '@nestjs/common';
import type WebSocket from 'ws';
import type { Socket } from 'node:net';
import {
  closePayload,
  OPCODE_CLOSE,
  OPCODE_TEXT,
  type RawPeer,
  withRawPeer,
} from '../../test/raw-ws-client';
import { openSocketPairs } from '../../test/socket-pair';
import { ANONYMOUS } from '../auth/principal';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { CloseCode, ServerEvent } from '../protocol';
import { Connection } from '../registry/connection';
import { encodeFrame } from '../framing/outbound-frame';
import { PendingReply } from './reply-queue';
import { SocketWriter } from './socket-writer.service';
import { tcpSocketOf } from './ws-internals';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits (bounded) until the client has seen `count` things: frames cross a real
 * socket, so they arrive when the event loop gets to read it, which a fixed
 * sleep on a busy machine can come before.
 */
async function untilSeen(seen: Seen[], count: number, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (seen.length < count) {
    if (Date.now() > deadline) throw new Error(`saw ${JSON.stringify(seen)}, not ${count} items`);
    await sleep(5);
  }
}

/** What the client saw, in order: frames by their `data.n`, pings, pongs, and the close. */
type Seen = number | string;

async function pair(
  limits: { maxQueuedMessages?: number; maxQueuedBytes?: number } = {},
  { perMessageDeflate = false } = {},
) {
  const pairs = await openSocketPairs(1, { perMessageDeflate });
  const connection = new Connection('c', pairs.server[0], '127.0.0.1', ANONYMOUS);
  const counters = new RealtimeCounters();
  const writer = new SocketWriter(resolveRealtimeOptions({ limits }), counters);
  const client: WebSocket = pairs.clients[0];
  const seen: Seen[] = [];
  client.on('message', (data) => seen.push(JSON.parse((data as Buffer).toString()).data.n));
  client.on('ping', () => seen.push('ping'));
  client.on('pong', (payload) => seen.push(`pong:${payload.toString()}`));
  const closed = new Promise<number>((resolve) =>
    client.on('close', (code) => {
      seen.push(`close:${code}`);
      resolve(code);
    }),
  );
  return { pairs, connection, writer, counters, client, seen, closed };
}

/** The peer's server-side TCP socket, handed to the writer at the upgrade as the adapter does. */
function upgradedThroughWriter(peer: RawPeer): Socket {
  const tcp = tcpSocketOf(peer.server)!;
  const writer = new SocketWriter(resolveRealtimeOptions({}), new RealtimeCounters());
  writer.inOneWrite(tcp, () => undefined, undefined);
  return tcp;
}

const numbered = (n: number) => ({ event: ServerEvent.Message, data: { n } }) as never;

/** A thousand 64 KB frames written at once: resolves to how many the writer took. */
function writeBigFrames(writer: SocketWriter, connection: Connection): number {
  const big = encodeFrame(ServerEvent.Message, { n: 0, filler: 'x'.repeat(64 * 1024) });
  let written = 0;
  for (let i = 0; i < 1_000; i++) if (writer.write(connection, big)) written++;
  return written;
}

describe('SocketWriter', () => {
  it('writes replies in request order, however long each request takes', async () => {
    const { pairs, connection, writer, seen } = await pair();
    try {
      for (const [n, delay] of [
        [1, 40],
        [2, 0],
        [3, 20],
        [4, 0],
      ]) {
        writer.request(connection, async () => {
          await sleep(delay);
          return numbered(n);
        });
      }
      await untilSeen(seen, 4);
      expect(seen).toEqual([1, 2, 3, 4]);
    } finally {
      await pairs.close();
    }
  });

  it('starts the next request once a pending reply hands over, and still writes the replies in order', async () => {
    const { pairs, connection, writer, seen } = await pair();
    try {
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      const started: number[] = [];
      writer.request(connection, () => {
        started.push(1);
        return Promise.resolve(new PendingReply(answered.then(() => numbered(1))));
      });
      writer.request(connection, () => {
        started.push(2);
        return Promise.resolve(numbered(2));
      });
      await sleep(20);
      expect(started).toEqual([1, 2]);
      expect(seen).toEqual([]);
      answer();
      await untilSeen(seen, 2);
      expect(seen).toEqual([1, 2]);
    } finally {
      await pairs.close();
    }
  });

  it('closes after the replies owed, even when the close is decided synchronously by the request it answers', async () => {
    const { pairs, connection, writer, seen, closed } = await pair();
    try {
      writer.request(connection, async () => {
        await sleep(30);
        return numbered(1);
      });
      writer.request(connection, () => {
        // As a guard does: decide the close, then answer the request that caused it.
        writer.closeAfterPending(connection, CloseCode.Revoked);
        return Promise.resolve(numbered(2));
      });
      writer.reply(connection, numbered(3));
      expect(await closed).toBe(CloseCode.Revoked);
      expect(seen).toEqual([1, 2, 3, `close:${CloseCode.Revoked}`]);
      expect(connection.closing).toBe(true);
    } finally {
      await pairs.close();
    }
  });

  it('closes after closeGraceMs when an owed reply never comes', async () => {
    const { pairs, connection, writer, closed } = await pair();
    try {
      writer.request(connection, () => new Promise(() => undefined));
      const decided = Date.now();
      writer.closeAfterPending(connection, CloseCode.TokenExpired);
      expect(await closed).toBe(CloseCode.TokenExpired);
      // closeGraceMs defaults to 2 s.
      expect(Date.now() - decided).toBeGreaterThanOrEqual(1_900);
    } finally {
      await pairs.close();
    }
  });

  it('pings and answers pings on the same path as frames, and closes after what this turn corked', async () => {
    const { pairs, connection, writer, seen, closed } = await pair();
    try {
      expect(connection.tcp).not.toBeNull();
      writer.send(connection, numbered(1));
      writer.ping(connection);
      writer.send(connection, numbered(2)); // corked from here to the end of the turn
      writer.pong(connection, Buffer.from('p'));
      writer.send(connection, numbered(3));
      writer.close(connection, CloseCode.GoingAway);
      expect(writer.send(connection, numbered(4))).toBe(false);
      expect(await closed).toBe(CloseCode.GoingAway);
      expect(seen).toEqual([1, 'ping', 2, 'pong:p', 3, `close:${CloseCode.GoingAway}`]);
    } finally {
      await pairs.close();
    }
  });

  it("hands the kernel a handshake turn's frames, replies answered in its microtasks included, in one write", async () => {
    const { pairs, connection, writer, seen } = await pair();
    try {
      const tcp = connection.tcp as unknown as Record<'_write' | '_writev', () => unknown>;
      let writes = 0;
      for (const method of ['_write', '_writev'] as const) {
        const original = tcp[method];
        tcp[method] = function (this: unknown, ...args: []) {
          writes++;
          return original.apply(this, args);
        };
      }
      writer.inOneWrite(
        connection.tcp!,
        () => {
          writer.send(connection, numbered(1)); // `connected`
          writer.request(connection, () => Promise.resolve(numbered(2))); // `?subscribe=`
        },
        undefined,
      );
      await untilSeen(seen, 2);
      expect(seen).toEqual([1, 2]);
      expect(writes).toBe(1);
    } finally {
      await pairs.close();
    }
  });
  it('sends frames, pings, pongs and the close through ws, in order, where permessage-deflate was negotiated', async () => {
    const { pairs, connection, writer, seen, closed } = await pair({}, { perMessageDeflate: true });
    try {
      expect(connection.tcp).toBeNull();
      writer.send(connection, numbered(1));
      writer.ping(connection);
      writer.write(
        connection,
        encodeFrame(ServerEvent.Message, { n: 2, filler: 'x'.repeat(5000) }),
      );
      writer.pong(connection, Buffer.from('q'));
      writer.close(connection, CloseCode.ServiceRestart);
      expect(await closed).toBe(CloseCode.ServiceRestart);
      expect(seen).toEqual([1, 'ping', 2, 'pong:q', `close:${CloseCode.ServiceRestart}`]);
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
      client.pause();
      // One turn, as a replay writes: every write is checked, not only the first.
      const written = writeBigFrames(writer, connection);
      expect(counters.slowConsumers).toBe(1);
      expect(written).toBeLessThan(200);
      expect(connection.isOpen).toBe(false);
    } finally {
      await pairs.close();
    }
  });

  it('lets a reader that reads take a burst longer than maxQueuedMessages in one turn', async () => {
    const { pairs, connection, writer, counters, seen } = await pair({ maxQueuedMessages: 10 });
    try {
      for (let n = 0; n < 50; n++)
        writer.write(connection, encodeFrame(ServerEvent.Message, { n }));
      await untilSeen(seen, 50);
      expect(counters.slowConsumers).toBe(0);
      expect(seen).toEqual(Array.from({ length: 50 }, (_, n) => n));
    } finally {
      await pairs.close();
    }
  });

  // A full offline inbox in memory mode: `connected`, then every retained message, in the turn
  // whose handshake inOneWrite corked. The bound's check must release that cork too.
  it("lets a reader that reads take a burst longer than maxQueuedMessages in its handshake's turn", async () => {
    const { pairs, connection, writer, counters, seen } = await pair({ maxQueuedMessages: 10 });
    try {
      const burst = () => {
        for (let n = 1; n < 50; n++)
          writer.write(connection, encodeFrame(ServerEvent.Message, { n }));
      };
      writer.inOneWrite(
        connection.tcp!,
        () => {
          writer.send(connection, numbered(0)); // `connected`
          void Promise.resolve().then(burst); // the inbox, read without waiting for I/O
        },
        undefined,
      );
      await untilSeen(seen, 50);
      expect(counters.slowConsumers).toBe(0);
      expect(seen).toEqual(Array.from({ length: 50 }, (_, n) => n));
      expect(connection.isOpen).toBe(true);
    } finally {
      await pairs.close();
    }
  });

  it("closes a reader that does not read a burst over the bound in its handshake's turn", async () => {
    const { pairs, connection, writer, counters, client, closed } = await pair({
      maxQueuedBytes: 256 * 1024,
      maxQueuedMessages: 10_000,
    });
    try {
      client.pause();
      let written = 0;
      writer.inOneWrite(
        connection.tcp!,
        () => {
          written = writeBigFrames(writer, connection);
        },
        undefined,
      );
      expect(counters.slowConsumers).toBe(1);
      expect(written).toBeLessThan(200);
      expect(connection.isOpen).toBe(false);
      client.resume();
      expect(await closed).toBe(CloseCode.SlowConsumer);
    } finally {
      await pairs.close();
    }
  });

  it('drops a reply that fails while it is written, logged, and writes the replies after it', async () => {
    const { pairs, connection, writer, seen } = await pair();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      writer.request(connection, () => Promise.resolve(() => JSON.parse('{') as never));
      writer.request(connection, () => Promise.resolve(numbered(2)));
      writer.reply(connection, numbered(3));
      await untilSeen(seen, 2);
      expect(seen).toEqual([2, 3]);
      expect(logged).toHaveBeenCalledWith('delivering a reply failed', expect.any(String));
    } finally {
      logged.mockRestore();
      await pairs.close();
    }
  });

  it("releases a connection's socket once the closing handshake is over, without waiting for the peer's FIN", () =>
    withRawPeer(async (peer) => {
      const tcp = upgradedThroughWriter(peer);
      const released = new Promise((resolve) => tcp.once('close', resolve));
      peer.sendFrame(OPCODE_CLOSE, closePayload(1000));
      await released;
      await peer.ended;
      expect(peer.tcp.writableEnded).toBe(false); // the peer never sent its FIN
      expect(peer.received()).toEqual(Buffer.from([0x88, 0x02, 0x03, 0xe8])); // the answer went first
    }));

  it('leaves a socket closed after a broken frame to ws, which waits for the peer', () =>
    withRawPeer(async (peer) => {
      const tcp = upgradedThroughWriter(peer);
      peer.server.on('error', () => undefined);
      // Registered after the writer's own listener, so this runs after it.
      const afterFinish = new Promise<boolean>((resolve) =>
        tcp.once('finish', () => resolve(tcp.destroyed)),
      );
      peer.sendFrame(OPCODE_TEXT, Buffer.from('{}'), { masked: false });
      expect(await afterFinish).toBe(false);
    }));
});
