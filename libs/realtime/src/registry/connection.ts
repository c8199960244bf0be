import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import type { EngineMessage } from '../engine/realtime-engine.port';
import { CloseCode, CloseReason } from '../protocol';

/**
 * One client connection. Kept small on purpose (see docs/benchmarks.md): an
 * idle subscribed connection costs this object, its topic set and the socket.
 */
export class Connection {
  readonly topics = new Set<string>();
  /** Set by the heartbeat when it pings; cleared by the pong. */
  awaitingPong = false;
  /** Frames written since the socket's buffer was last seen empty (slow-consumer bound). */
  queuedFrames = 0;
  /** The delivery turn this socket was last written in; negated once corked in that turn. */
  writeTick = 0;
  /** The end of the current inbound-message window and the messages counted in it. */
  rateWindowEnd = 0;
  rateHits = 0;
  /** The event-loop turn this connection's frames were last handled in, and what they took of it. */
  turn = 0;
  turnFrames = 0;
  turnBytes = 0;
  /** Frames read but not handled yet, past the turn's budget (socket paused); undefined otherwise. */
  inbound: Array<readonly [raw: Buffer, isBinary: boolean]> | undefined;
  /** The replies still owed, in request order; undefined when none is (SocketWriter.inOrder). */
  owed: Promise<void> | undefined;
  /** When the next request may start; undefined when it may at once (SocketWriter.request). */
  startable: Promise<void> | undefined;
  /** Lets the next request start before the current one finishes (SocketWriter.handOver). */
  handOver: (() => void) | undefined;
  /** A close is decided: frames that arrive now are dropped, owed replies still go out first. */
  closing = false;
  expiryTimer: NodeJS.Timeout | undefined;
  /**
   * Topics whose recovery is in flight, with the live messages held back
   * meanwhile; undefined (one field check per delivery) the rest of the time.
   */
  recovering: Map<string, EngineMessage[]> | undefined;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    /**
     * The TCP socket under the WebSocket, when frames can be written to it
     * pre-built (no per-message compression negotiated); null otherwise.
     */
    readonly raw: Socket | null,
    readonly ip: string,
    public principal: Principal,
  ) {}

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /**
   * Starts the close handshake and makes sure the socket is gone after
   * `graceMs` even when the peer never answers (half-open, paused reader).
   */
  close(code: CloseCode, graceMs: number): void {
    if (this.socket.readyState > WebSocket.OPEN) return;
    this.socket.close(code, CloseReason[code]);
    const socket = this.socket;
    setTimeout(() => socket.terminate(), graceMs).unref();
  }
}
