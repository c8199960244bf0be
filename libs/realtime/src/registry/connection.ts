import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import type { EngineMessage } from '../engine/realtime-engine.port';
import { SocketLink } from '../transport/socket-link';
import { TopicSet } from './topic-set';

/**
 * One client connection: its socket's transport state (SocketLink, written
 * only by SocketWriter) and the session's. Kept small on purpose (see
 * docs/benchmarks.md): an idle subscribed connection costs this object, its
 * topic set, its reply queue and the socket.
 */
export class Connection extends SocketLink {
  readonly topics = new TopicSet();
  /**
   * When the connection was registered (ms since the epoch), kept only when
   * the app handles `disconnected` (which reports the duration): otherwise no
   * number per connection.
   */
  openedAt: number | undefined = undefined;
  /** Set by the heartbeat when it pings; cleared by the pong. */
  awaitingPong = false;
  /** The end of the current inbound-message window and the messages counted in it. */
  rateWindowEnd = 0;
  rateHits = 0;
  /** The event-loop turn this connection's frames were last handled in, and what they took of it. */
  turn = 0;
  turnFrames = 0;
  turnBytes = 0;
  /** Frames read but not handled yet, past the turn's budget (socket paused); undefined otherwise. */
  inbound: Array<readonly [raw: Buffer, isBinary: boolean]> | undefined;
  /** The token-expiry slot it waits in (gateway/deadline-slots.ts); undefined without expiry. */
  deadlineSlot: number | undefined = undefined;
  /**
   * Topics this connection gets `presence_diff` frames for (subscribed with
   * `presence: true`), each with the number of the topic's diff rounds begun
   * before it started watching (PresenceTracker); usually none.
   */
  presenceDiffs: Map<string, number> | undefined = undefined;
  /**
   * Topics whose recovery is in flight, with the live messages held back
   * meanwhile; undefined (one field check per delivery) the rest of the time.
   */
  recovering: Map<string, EngineMessage[]> | undefined;

  constructor(
    readonly id: string,
    socket: WebSocket,
    readonly ip: string,
    public principal: Principal,
  ) {
    super(socket);
  }
}
