import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ReplyQueue } from './reply-queue';
import { tcpSocketOf } from './ws-internals';

/** WebSocket's readyState of an open socket (the same in every implementation of the API). */
const OPEN = 1;

/**
 * What the transport keeps per socket, its reply order included. SocketWriter alone writes to the
 * socket and changes these fields; the rest of the library reads `isOpen`
 * and `closing`.
 */
export class SocketLink extends ReplyQueue {
  /**
   * The TCP socket under the WebSocket when frames are written to it
   * pre-built; null when they go through ws (permessage-deflate).
   */
  readonly tcp: Socket | null;
  /** Frames written since the socket's buffer was last seen empty (slow-consumer bound). */
  queuedFrames = 0;
  /** The delivery turn this socket was last written in; negated once corked in that turn. */
  writeTick = 0;
  /** A close is decided: frames that arrive now are dropped, owed replies still go out first. */
  closing = false;

  constructor(readonly socket: WebSocket) {
    super();
    this.tcp = tcpSocketOf(socket);
  }

  /**
   * This socket's requests and replies, in request order: the link is its own
   * queue (two fields, undefined while nothing is owed), not an object more
   * per connection.
   */
  get replies(): ReplyQueue {
    return this;
  }

  get isOpen(): boolean {
    return this.socket.readyState === OPEN;
  }
}
