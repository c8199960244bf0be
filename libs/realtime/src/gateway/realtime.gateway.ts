import { OnApplicationBootstrap, UseFilters, UseGuards } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { WsAuthGuard } from './ws-auth.guard';
import { WsThrottlerGuard } from '../auth/ws-throttler.guard';
import { BroadcastService } from '../delivery/broadcast.service';
import { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import { SubscriptionService } from '../delivery/subscription.service';
import {
  ClientEvent,
  DEFAULT_PRESENCE_LIMIT,
  ErrorCode,
  frame,
  INVALID_FRAME_EVENT,
  RealtimeException,
  ServerEvent,
  type ServerFrame,
} from '../protocol';
import { PresenceService } from '../presence/presence.service';
import { InvalidPresenceCursorError } from '../presence/presence-store.port';
import { PresenceTracker } from '../presence/presence.tracker';
import { SubscriptionRules } from '../topics/subscription-rules';
import { TopicAccessService } from '../topics/topic-access.service';
import { PendingReply, type Reply } from '../transport/reply-queue';
import { AckDto } from './dto/ack.dto';
import { AuthDto } from './dto/auth.dto';
import { PingDto } from './dto/ping.dto';
import { PresenceDto } from './dto/presence.dto';
import { PublishDto } from './dto/publish.dto';
import { SubscribeDto, UnsubscribeDto } from './dto/topics.dto';
import type { InvalidFrame } from './frame-parser';
import { RealtimeExceptionFilter } from './realtime-exception.filter';
import { REALTIME_GATEWAY_KEY_PATH, REALTIME_GATEWAY_OPTION } from './realtime-gateway.constants';
import { SessionService } from './session.service';

/**
 * The one gateway of the realtime path. Every message has been charged
 * against the message rate, then read and validated against its DTO
 * (MessageDispatcher, parseFrame); here it passes the token check, then
 * (subscribe, unsubscribe) the churn throttler. Every failure leaves through
 * RealtimeExceptionFilter.
 *
 * Bodies arrive validated, typed `Readonly<Dto>`: Nest sees no class to
 * transform, so an app's global ValidationPipe does not walk them again
 * (class-transformer over a `payload` costs 20 times its JSON.parse).
 */
@WebSocketGateway<Record<string, unknown>>({
  [REALTIME_GATEWAY_OPTION]: true,
  path: REALTIME_GATEWAY_KEY_PATH,
})
@UseFilters(RealtimeExceptionFilter)
@UseGuards(WsAuthGuard)
export class RealtimeGateway implements OnGatewayInit, OnApplicationBootstrap {
  private adapterInstalled = false;

  constructor(
    private readonly sessions: SessionService,
    private readonly subscriptions: SubscriptionService,
    private readonly rules: SubscriptionRules,
    private readonly access: TopicAccessService,
    private readonly broadcasts: BroadcastService,
    private readonly offline: OfflineDeliveryService,
    private readonly presence: PresenceService,
    private readonly presenceTracker: PresenceTracker,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.adapterInstalled = typeof server.options?.verifyClient === 'function';
  }

  /**
   * Without RealtimeWsAdapter no handshake check would run. Refuse to start;
   * thrown here (not in afterInit, which Nest calls from an rxjs subscription
   * where a throw escapes as an uncaught error) so that app.init() rejects.
   */
  onApplicationBootstrap(): void {
    if (!this.adapterInstalled) {
      throw new Error(
        'RealtimeModule needs its adapter: app.useWebSocketAdapter(new RealtimeWsAdapter(app)) before app.listen()',
      );
    }
  }

  /** The reply writes `subscribed`, then the recovered messages, then those held back meanwhile. */
  @SubscribeMessage(ClientEvent.Subscribe)
  @UseGuards(WsThrottlerGuard)
  async subscribe(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<SubscribeDto>,
  ): Promise<Reply> {
    const connection = this.sessions.require(socket);
    const topics = await this.rules.check(connection.principal, connection.topics, body.topics);
    const reply = await this.subscriptions.commit(connection, topics, body.since, body.ref);
    if (body.presence === true) this.presenceTracker.watch(connection, topics);
    return reply;
  }

  @SubscribeMessage(ClientEvent.Unsubscribe)
  @UseGuards(WsThrottlerGuard)
  unsubscribe(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<UnsubscribeDto>,
  ): ServerFrame {
    const topics = this.subscriptions.unsubscribe(this.sessions.require(socket), body.topics);
    return frame(ServerEvent.Unsubscribed, { ref: body.ref, topics });
  }

  @SubscribeMessage(ClientEvent.Ping)
  ping(@MessageBody() body: Readonly<PingDto>): ServerFrame {
    return frame(ServerEvent.Pong, { ref: body.ref, ts: Date.now() });
  }

  /** Topics the new token no longer allows are named first, in an `unsubscribed` without ref. */
  @SubscribeMessage(ClientEvent.Auth)
  async auth(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<AuthDto>,
  ): Promise<ServerFrame[]> {
    const { principal, dropped } = await this.sessions.reauthenticate(
      this.sessions.require(socket),
      body.token,
    );
    const authenticated = frame(ServerEvent.Authenticated, {
      ref: body.ref,
      userId: principal.userId,
      expiresAt: principal.expiresAt,
    });
    if (dropped.length === 0) return [authenticated];
    return [frame(ServerEvent.Unsubscribed, { topics: dropped }), authenticated];
  }

  /**
   * The engine call is made (queued in order) before publish() returns, so later
   * requests of this client cannot overtake it: they may start while it waits
   * for its offset.
   */
  @SubscribeMessage(ClientEvent.Publish)
  async publish(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<PublishDto>,
  ): Promise<PendingReply<ServerFrame>> {
    const connection = this.sessions.require(socket);
    await this.access.authorize(connection.principal, 'publish', [body.topic]);
    const offset = this.broadcasts.publish(body.topic, body.type, body.payload);
    return new PendingReply(
      offset.then((offset) => frame(ServerEvent.Published, { ref: body.ref, offset })),
    );
  }

  /** Idempotent: the reply names every id asked for, known or not. */
  @SubscribeMessage(ClientEvent.Ack)
  async ack(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<AckDto>,
  ): Promise<ServerFrame> {
    const ids = [...new Set(body.ids)];
    await this.offline.ack(this.sessions.require(socket).principal.userId, ids);
    return frame(ServerEvent.Acked, { ref: body.ref, ids });
  }

  /**
   * A page of a topic's members. Only a topic this connection holds, in a
   * namespace that keeps presence; anything else is FORBIDDEN_TOPIC (§5).
   */
  @SubscribeMessage(ClientEvent.Presence)
  async presencePage(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: Readonly<PresenceDto>,
  ): Promise<ServerFrame> {
    const connection = this.sessions.require(socket);
    const { topic } = this.access.parse(body.topic);
    if (!connection.topics.has(topic) || !this.presenceTracker.keeps(topic)) {
      throw new RealtimeException(
        ErrorCode.ForbiddenTopic,
        'presence is for a subscribed topic of a namespace that keeps it',
        topic,
      );
    }
    try {
      const page = await this.presence.members(topic, {
        cursor: body.cursor,
        limit: body.limit ?? DEFAULT_PRESENCE_LIMIT,
      });
      return frame(ServerEvent.Presence, { ref: body.ref, topic, ...page });
    } catch (error) {
      if (error instanceof InvalidPresenceCursorError) {
        throw new RealtimeException(ErrorCode.BadRequest, error.message);
      }
      throw error;
    }
  }

  /** Frames the parser refused arrive here, answered with the parser's code and the frame's ref. */
  @SubscribeMessage(INVALID_FRAME_EVENT)
  invalid(@MessageBody() body: InvalidFrame): never {
    throw new RealtimeException(body.code, body.message);
  }
}
