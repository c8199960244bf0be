import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { serverWs } from './socket-pair';

/**
 * A WebSocket peer written by hand on a bare TCP socket, for what no well-behaved client does:
 * it sends exactly the frames it is told to and never ends its side of the connection unless
 * told to. `server` is the server side of the same connection.
 */
export interface RawPeer {
  tcp: Socket;
  server: WebSocket;
  /** Every byte the server sent after its 101 response. */
  received(): Buffer;
  /** Settles when the server's FIN arrives, after every byte it sent. */
  ended: Promise<void>;
  /** Writes one short frame with FIN set, masked as a client must unless `masked: false`. */
  sendFrame(opcode: number, payload: Buffer, options?: { masked?: boolean }): void;
  close(): Promise<void>;
}

/** A close frame's payload: the status code, big-endian. */
export function closePayload(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return payload;
}

export const OPCODE_CLOSE = 0x8;
export const OPCODE_TEXT = 0x1;

/** A ws server (the release @nestjs/platform-ws serves with) on loopback and one raw peer of it. */
async function openRawPeer(): Promise<RawPeer> {
  const wss: WebSocketServer = new serverWs.WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  // Half-open allowed: the peer's side stays open after the server's FIN, until `close`.
  const tcp = connect({
    port: (wss.address() as AddressInfo).port,
    host: '127.0.0.1',
    allowHalfOpen: true,
  });
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  const switched = new Promise<void>((resolve) =>
    tcp.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (upgraded) return;
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      buffered = buffered.subarray(end + 4);
      resolve();
    }),
  );
  tcp.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const ended = new Promise<void>((resolve) => tcp.once('end', resolve));
  const [server] = await Promise.all([accepted, switched]);
  return {
    tcp,
    server,
    received: () => buffered,
    ended,
    sendFrame(opcode, payload, { masked = true } = {}) {
      if (payload.length > 125) throw new Error('short frames only');
      // Masked with the all-zero key (RFC 6455 lets the client choose any): the payload as is.
      const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]);
      tcp.write(Buffer.concat([head, masked ? Buffer.alloc(4) : Buffer.alloc(0), payload]));
    },
    close: async () => {
      tcp.destroy();
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** Runs `test` with a raw peer, closed afterwards whatever the test did. */
export async function withRawPeer(test: (peer: RawPeer) => Promise<void>): Promise<void> {
  const peer = await openRawPeer();
  try {
    await test(peer);
  } finally {
    await peer.close();
  }
}
