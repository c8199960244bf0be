import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { openSocketPairs } from '../../test/socket-pair';
import { encodeFrame } from '../framing/outbound-frame';
import { closePayload, OPCODE_CLOSE, OPCODE_TEXT, withRawPeer } from '../../test/raw-ws-client';
import {
  closingHandshakeDone,
  forgetCachedPeerAddress,
  tcpSocketOf,
  WS_VERSION_READ,
} from './ws-internals';

const finished = (tcp: Socket) => new Promise((resolve) => tcp.once('finish', resolve));

/** The ws release @nestjs/platform-ws creates the server's sockets with. */
function serverWsVersion(): string {
  const fromPlatformWs = createRequire(require.resolve('@nestjs/platform-ws'));
  return (fromPlatformWs('ws/package.json') as { version: string }).version;
}

/**
 * ws-internals.ts reads private fields of ws's WebSocket. This pins them
 * to the ws release they were read against: another release fails here first,
 * loudly, and the fields are checked again (ws/lib/websocket.js: `setSocket`
 * stores `_socket`; the handshake stores `_extensions`) before
 * WS_VERSION_READ moves on.
 */
describe('ws internals', () => {
  it(`are read against the ws release the server runs (${WS_VERSION_READ})`, () => {
    const running = serverWsVersion();
    if (running !== WS_VERSION_READ) {
      throw new Error(
        `@nestjs/platform-ws now serves sockets with ws ${running}, not ${WS_VERSION_READ}: ` +
          'check that ws still keeps the TCP socket in `_socket`, the negotiated extensions in ' +
          '`_extensions`, the closing handshake in `_closeFrameSent` and `_closeFrameReceived`, and ' +
          'the WebSocket on its TCP socket under `Symbol(websocket)` ' +
          '(libs/realtime/src/transport/ws-internals.ts), then update WS_VERSION_READ.',
      );
    }
  });

  it('give the TCP socket ws writes to: a frame written there reaches the client in order with ws’s own', async () => {
    const pairs = await openSocketPairs(1);
    try {
      const [server] = pairs.server;
      const tcp = tcpSocketOf(server);
      expect(tcp).toBeInstanceOf(Socket);
      const received: string[] = [];
      const got = new Promise<void>((resolve) =>
        pairs.clients[0].on('message', (data) => {
          received.push((data as Buffer).toString());
          if (received.length === 3) resolve();
        }),
      );
      server.send('{"n":1}');
      tcp!.write(encodeFrame('message', { n: 2 }).bytes);
      server.send('{"n":3}');
      await got;
      expect(received).toEqual(['{"n":1}', '{"event":"message","data":{"n":2}}', '{"n":3}']);
    } finally {
      await pairs.close();
    }
  });

  it('tell permessage-deflate apart: no TCP socket to write pre-built frames to', async () => {
    const pairs = await openSocketPairs(1, { perMessageDeflate: true });
    try {
      expect(pairs.server[0].extensions).toContain('permessage-deflate');
      expect(tcpSocketOf(pairs.server[0])).toBeNull();
    } finally {
      await pairs.close();
    }
  });

  it('fall back to ws when they are not what they were', () => {
    const stranger = { readyState: 1 } as never;
    expect(tcpSocketOf(stranger)).toBeNull();
    const renamed = { _extensions: {}, _socket: { write: () => true } } as never;
    expect(tcpSocketOf(renamed)).toBeNull();
  });

  it('forget the peer address Node cached, which a later read asks the kernel for again', async () => {
    const pairs = await openSocketPairs(1);
    try {
      const tcp = tcpSocketOf(pairs.server[0])!;
      const address = tcp.remoteAddress;
      expect((tcp as unknown as { _peername?: unknown })._peername).toMatchObject({ address });
      forgetCachedPeerAddress(tcp);
      expect((tcp as unknown as { _peername?: unknown })._peername).toBeUndefined();
      expect(tcp.remoteAddress).toBe(address);
      expect(tcp.remotePort).toBeGreaterThan(0);
    } finally {
      await pairs.close();
    }
  });

  it('tell when the closing handshake is over: both close frames exchanged', () =>
    withRawPeer(async (peer) => {
      const tcp = tcpSocketOf(peer.server)!;
      expect(closingHandshakeDone(tcp)).toBe(false);
      const ended = finished(tcp);
      peer.sendFrame(OPCODE_CLOSE, closePayload(1000));
      await ended; // ws answered with its close frame, then ended its side
      expect(closingHandshakeDone(tcp)).toBe(true);
    }));

  it('tell a close after a broken frame from a closing handshake (the peer may still be sending)', () =>
    withRawPeer(async (peer) => {
      const tcp = tcpSocketOf(peer.server)!;
      peer.server.on('error', () => undefined);
      const ended = finished(tcp);
      peer.sendFrame(OPCODE_TEXT, Buffer.from('{}'), { masked: false });
      await ended; // ws closed with 1002 and ended its side
      expect(closingHandshakeDone(tcp)).toBe(false);
      expect(closingHandshakeDone(new Socket())).toBe(false);
    }));
});
