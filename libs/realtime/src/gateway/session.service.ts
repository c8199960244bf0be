import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { Admission, type AdmissionRefusal } from '../auth/admission/admission.port';
import { admittedClientOf } from '../auth/admitted-client';
import type { Principal } from '../auth/principal';
import { closeCodeFor, realtimeExceptionFor, SessionRules } from '../auth/session-rules';
import { TokenRejectedError, TokenService } from '../auth/token.service';
import { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import { SubscriptionService } from '../delivery/subscription.service';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { attachConnection, connectionOf } from '../registry/socket-connection';
import { SocketWriter } from '../transport/socket-writer.service';
import { RealtimeEvents } from '../presence/lifecycle/realtime-events.service';
import { forgetCachedPeerAddress } from '../transport/ws-internals';
import { ConnectionIds } from './connection-ids';
import { DeadlineSlots } from './deadline-slots';
import { welcomeFrame } from './welcome-frame';

/** Token expiries share one timer, in slots this long: a close is at most this late, never early. */
const EXPIRY_SLOT_MS = 250;

/** What `auth` changed: the new principal, and the held topics it no longer allows (dropped). */
export interface Reauthentication {
  principal: Principal;
  dropped: string[];
}

/** A connection's life: opened after an admitted handshake, refreshed by `auth`, released on close. */
@Injectable()
export class SessionService implements OnApplicationShutdown {
  private readonly logger = new Logger('Realtime');
  /** Every connection's token expiry, on one timer (no Timeout object per connection). */
  private readonly expiries = new DeadlineSlots<Connection>(EXPIRY_SLOT_MS, (connection) =>
    this.expire(connection),
  );
  private readonly ids = new ConnectionIds();
  /** One close listener for every socket (no closure per connection); `this` is the socket. */
  private readonly onClose: (this: WebSocket, code: number, reason: Buffer) => void;
  /** One ping listener for every socket: the writer answers (ws's autoPong is off). */
  private readonly onPing: (this: WebSocket, payload: Buffer) => void;

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly connections: ConnectionRegistry,
    private readonly subscriptions: SubscriptionService,
    private readonly writer: SocketWriter,
    private readonly tokens: TokenService,
    private readonly rules: SessionRules,
    private readonly counters: RealtimeCounters,
    private readonly offline: OfflineDeliveryService,
    private readonly events: RealtimeEvents,
    private readonly admission: Admission,
  ) {
    const release = this.release.bind(this);
    this.onClose = function (this: WebSocket, code: number, reason: Buffer) {
      release(this, code, reason);
    };
    offline.onDeadLetter((letter) => events.emit('delivery.dead-lettered', letter));
    this.onPing = function (this: WebSocket, payload: Buffer) {
      const connection = connectionOf(this);
      if (connection) writer.pong(connection, payload);
    };
  }

  /** Synchronous on purpose: handlers are bound right after, and must find the connection ready. */
  open(socket: WebSocket, req: IncomingMessage): void {
    const admitted = admittedClientOf(req);
    if (!admitted) {
      this.writer.closeSocket(socket, CloseCode.InternalError);
      return;
    }
    const connection = new Connection(
      this.ids.next(),
      socket,
      this.connections.sharedIp(admitted.ip),
      admitted.principal,
    );
    attachConnection(socket, connection);
    // Read by the handshake; the connection keeps its own (shared) copy of the address.
    forgetCachedPeerAddress(req.socket);
    this.connections.add(connection);
    this.counters.accepted++;
    socket.on('ping', this.onPing);
    socket.on('pong', onPong);
    socket.on('close', this.onClose);
    this.armExpiry(connection);
    const { principal } = connection;
    if (this.events.wants('disconnected')) connection.openedAt = Date.now();
    // Built only for a handler: the event's object would be garbage on every other handshake.
    if (this.events.wants('connected'))
      this.events.emit('connected', { connectionId: connection.id, userId: principal.userId });
    this.writer.write(
      connection,
      welcomeFrame({
        connectionId: connection.id,
        userId: principal.userId,
        heartbeatMs: this.options.heartbeat.intervalMs,
        expiresAt: principal.expiresAt,
      }),
    );
    // The connection's first request: it starts at once (commit registers the topics before it
    // first waits) and its `subscribed` goes out before the reply to any request of the client.
    // A ?subscribe= that named no topic gets its `subscribed` all the same (PROTOCOL §1).
    const { topics } = admitted;
    if (topics !== undefined)
      this.writer.request(connection, () =>
        this.subscriptions
          .commit(connection, topics, undefined, undefined)
          .catch((error: unknown) => {
            this.logger.error('subscribe at connect failed', (error as Error)?.stack);
            return undefined;
          }),
      );
    // Only a user has an inbox: an anonymous connection skips the call and its promises.
    if (principal.userId !== null)
      this.offline.deliverPending(connection, principal.userId).catch(this.offlineDeliveryFailed);
  }

  private readonly offlineDeliveryFailed = (error: unknown): void => {
    this.logger.error('offline delivery at connect failed', (error as Error)?.stack);
  };

  /** Idempotent; runs when the socket closes, whoever closed it. */
  release(socket: WebSocket, code: number | undefined, reason?: Buffer): void {
    const connection = connectionOf(socket);
    if (!connection || !this.connections.remove(connection)) return;
    if (this.events.wants('disconnected')) {
      this.events.emit('disconnected', {
        connectionId: connection.id,
        userId: connection.principal.userId,
        code: code ?? 1005,
        reason: reason?.toString() ?? '',
        durationMs: Date.now() - (connection.openedAt ?? Date.now()),
      });
    }
    this.expiries.remove(connection);
    this.subscriptions.release(connection);
    this.counters.countClose(code ?? 1005);
  }

  require(socket: WebSocket): Connection {
    const connection = connectionOf(socket);
    if (!connection)
      throw new RealtimeException(ErrorCode.Unauthorized, 'connection is not registered');
    return connection;
  }

  /**
   * `auth`: a fresh token for the same user, or an anonymous connection
   * signing in. Held topics the new token does not allow are dropped; the
   * caller tells the client (`unsubscribed` without ref, before its reply).
   */
  async reauthenticate(connection: Connection, token: string): Promise<Reauthentication> {
    let principal: Principal;
    try {
      principal = this.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenRejectedError)
        throw new RealtimeException(ErrorCode.Unauthorized, error.message);
      throw error;
    }
    const previous = connection.principal.userId;
    if (previous !== null && previous !== principal.userId) {
      throw new RealtimeException(ErrorCode.Unauthorized, 'token is for another user');
    }
    // An anonymous connection signing in joins its user's connections: the per-user cap applies.
    const joining = previous === null;
    const problem = this.rules.problem(principal, joining);
    if (problem) throw realtimeExceptionFor(problem);
    // The new token may carry fewer rights: topics it may not hold are dropped and the client told.
    const dropped = await this.subscriptions.disallowed(principal, connection.topics);
    if (!connection.isOpen) return { principal, dropped: [] };
    const reserving = joining ? this.reserveUserSlot(connection, principal) : undefined;
    if (reserving) {
      await reserving;
      if (!connection.isOpen) return { principal, dropped: [] };
    }
    // Again after the waits, with none before the sign-in: the token may have been revoked and
    // other connections of this user signed in meanwhile. Refused, it gives its slot back.
    const late = this.rules.problem(principal, joining);
    if (late) {
      if (joining) this.admission.releaseUser(connection.socket);
      throw realtimeExceptionFor(late);
    }
    connection.principal = principal;
    if (previous === null) this.connections.reindexUser(connection, previous);
    this.armExpiry(connection);
    if (dropped.length > 0) this.subscriptions.release(connection, dropped);
    // Signed in, it is one of the user's connections: what waits for the user is sent, as at connect.
    if (joining && principal.userId !== null) {
      this.offline.deliverPending(connection, principal.userId).catch(this.offlineDeliveryFailed);
    }
    return { principal, dropped };
  }

  /**
   * The per-user cap across the cluster (Redis mode; the memory engine's
   * whole cap is SessionRules' local check). The user's slot is held until
   * the socket closes, whether or not the sign-in completes; refused,
   * nothing is counted. A connection's `auth`s run one after another
   * (ReplyQueue), so it reserves once.
   */
  private reserveUserSlot(connection: Connection, { userId }: Principal): void | Promise<void> {
    if (userId === null) return;
    const reserved = this.admission.reserveUser(connection.socket, userId);
    // Synchronous when the engine has nothing to wait for: the caller then signs in without a wait.
    if (!(reserved instanceof Promise)) return refuseIf(reserved);
    return reserved.then(refuseIf);
  }

  onApplicationShutdown(): void {
    this.expiries.close();
  }

  /**
   * Closes with 4001 at the token's expiry (plus clock tolerance), at most
   * one expiry slot (250 ms) later, never earlier: not at some later sweep.
   */
  private armExpiry(connection: Connection): void {
    this.expiries.remove(connection);
    const left = this.rules.msLeft(connection.principal);
    if (left === undefined) return;
    this.expiries.add(connection, Date.now() + Math.max(0, left));
  }

  /** Called when the expiry's slot passed; re-arms when the token is not expired yet after all. */
  expire(connection: Connection): void {
    if (!connection.isOpen) return;
    if (this.rules.problem(connection.principal) !== 'expired') return this.armExpiry(connection);
    this.writer.closeAfterPending(connection, closeCodeFor('expired'));
  }
}

/** A user's reservation is refused for the user's cap alone: the same answer as the local check. */
function refuseIf(refusal: AdmissionRefusal | undefined): void {
  if (refusal) throw realtimeExceptionFor('user-limit');
}

function onPong(this: WebSocket): void {
  const connection = connectionOf(this);
  if (connection) connection.awaitingPong = false;
}
