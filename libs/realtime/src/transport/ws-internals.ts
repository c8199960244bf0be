import { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * The ws release whose private fields this file reads: the one
 * @nestjs/platform-ws creates the server's sockets with. ws-internals.spec.ts
 * fails when it changes, so the fields are checked again before an upgrade.
 */
export const WS_VERSION_READ = '8.22.0';

/** What this file reads of a ws WebSocket that ws does not document. */
interface WebSocketInternals {
  /** The TCP (or TLS) socket ws writes every frame to. */
  _socket?: unknown;
  /** The extensions negotiated in the handshake, by name. */
  _extensions?: unknown;
  /** Set once the peer's close frame has arrived. */
  _closeFrameReceived?: unknown;
  /** Set once this side's close frame has been written. */
  _closeFrameSent?: unknown;
}

/** The description of the symbol under which ws keeps a TCP socket's WebSocket (`kWebSocket`). */
const WEBSOCKET_KEY_DESCRIPTION = 'websocket';

/** That symbol, once found on a socket (it is ws's own, not exported). */
let webSocketKey: symbol | undefined;

/**
 * The TCP socket under a server-side WebSocket, for writing pre-built frames
 * to: ws builds the same frames, one copy per socket, and its sender costs
 * more per frame than a write. Null when permessage-deflate was negotiated
 * (every frame then needs its own compression, which only ws can do), or when
 * ws's internals are not what they were in WS_VERSION_READ: the socket is then
 * served through ws's own sender, a little slower, never wrongly.
 *
 * The only place the library reads ws's private fields (and, below, Node's
 * cached peer address).
 */
export function tcpSocketOf(socket: WebSocket): Socket | null {
  const internals = socket as unknown as WebSocketInternals;
  const extensions = internals._extensions;
  if (typeof extensions !== 'object' || extensions === null) return null;
  if (Object.hasOwn(extensions, 'permessage-deflate')) return null;
  const tcp = internals._socket;
  return tcp instanceof Socket ? tcp : null;
}

/** What Node's net.Socket caches once its peer address is read (lib/net.js `_getpeername`). */
interface SocketInternals {
  _peername?: unknown;
}

/**
 * Drops the peer address Node caches on a TCP socket once `remoteAddress`
 * was read (an object and a string, about 90 bytes per connection): the
 * handshake read it, the connection keeps its own (shared) copy, and a later
 * read asks the kernel again. Nothing else of the socket is touched; on a
 * Node without this cache it does nothing.
 */
export function forgetCachedPeerAddress(socket: Socket): void {
  const internals = socket as unknown as SocketInternals;
  const cached = internals._peername;
  if (typeof cached === 'object' && cached !== null && 'address' in cached) {
    internals._peername = undefined;
  }
}

/**
 * Whether the WebSocket over this TCP (or TLS) socket has both sent and
 * received its close frame: the closing handshake is over and the peer has
 * nothing left to send. False when that cannot be told (a socket ws does not
 * serve, or ws's internals not what they were in WS_VERSION_READ).
 */
export function closingHandshakeDone(tcp: Socket): boolean {
  webSocketKey ??= Object.getOwnPropertySymbols(tcp).find(
    (key) => key.description === WEBSOCKET_KEY_DESCRIPTION,
  );
  if (webSocketKey === undefined) return false;
  const socket = (tcp as unknown as Record<symbol, WebSocketInternals | undefined>)[webSocketKey];
  return socket?._closeFrameReceived === true && socket._closeFrameSent === true;
}
