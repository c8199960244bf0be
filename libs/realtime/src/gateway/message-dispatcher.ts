import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ExternalContextCreator, MetadataScanner, type ParamsFactory } from '@nestjs/core';
import { PARAM_ARGS_METADATA } from '@nestjs/websockets/constants';
import { WsParamsFactory } from '@nestjs/websockets/factories/ws-params-factory';
import { GatewayMetadataExplorer } from '@nestjs/websockets/gateway-metadata-explorer';
import type { WebSocket } from 'ws';
import { MessageRateLimiter } from '../auth/message-rate.limiter';
import { RealtimeCounters } from '../metrics/realtime-counters';
import {
  CloseCode,
  ErrorCode,
  type ErrorFrameData,
  refOf,
  ServerEvent,
  type ServerFrame,
} from '../protocol';
import type { Connection } from '../registry/connection';
import { connectionOf } from '../registry/socket-connection';
import { PendingReply, type Reply } from '../transport/reply-queue';
import { SocketWriter } from '../transport/socket-writer.service';
import { parseFrame, refOfUnparsed } from './frame-parser';
import { type InboundFrame, InboundTurns } from './inbound-turns';
import { RealtimeExceptionFilter } from './realtime-exception.filter';
import { RealtimeGateway } from './realtime.gateway';

type Handler = (socket: WebSocket, data: unknown) => Promise<Reply | PendingReply<Reply>>;

/**
 * Routes frames to the gateway's @SubscribeMessage handlers through Nest's
 * ExternalContextCreator, so guards, pipes and filters apply exactly as
 * declared on the gateway. Interceptors do not: the app's are written for
 * HTTP responses, and one that maps what a handler returns (Nest's
 * `{ data }` wrapper, ClassSerializerInterceptor) would rewrite the protocol's
 * replies and the held-back replies that release a subscribed topic. The
 * handlers are built once per gateway, not bound
 * once per connection as WsAdapter does: an idle connection then costs no
 * closures at all (see docs/benchmarks.md).
 *
 * Frames are handled in turns shared fairly between connections
 * (InboundTurns). Each is charged against the message rate before it is
 * read; a frame over the rate is refused unread (its ref found by the byte
 * scan). The others are read and validated (parseFrame) before any guard
 * runs, so guards only ever see valid requests. Requests start, and their
 * replies go out, in request order (SocketWriter.request, the connection's
 * ReplyQueue).
 */
@Injectable()
export class MessageDispatcher implements OnModuleInit {
  private readonly logger = new Logger('Realtime');
  private readonly handlers = new Map<string, Handler>();
  private readonly turns = new InboundTurns((connection, frame) => this.handle(connection, frame));

  /** One listener for every socket; `this` is the socket that received the frame. */
  readonly listener: (this: WebSocket, raw: Buffer, isBinary: boolean) => void;

  constructor(
    private readonly contexts: ExternalContextCreator,
    private readonly gateway: RealtimeGateway,
    private readonly writer: SocketWriter,
    private readonly rate: MessageRateLimiter,
    private readonly counters: RealtimeCounters,
    private readonly errors: RealtimeExceptionFilter,
  ) {
    const turns = this.turns;
    this.listener = function (this: WebSocket, raw: Buffer, isBinary: boolean) {
      const connection = connectionOf(this);
      if (connection !== undefined) turns.offer(connection, [raw, isBinary]);
    };
  }

  onModuleInit(): void {
    const paramsFactory = new WsParamsFactory() as ParamsFactory;
    const explorer = new GatewayMetadataExplorer(new MetadataScanner());
    for (const { message, methodName } of explorer.explore(this.gateway)) {
      const method = (this.gateway as unknown as Record<string, (...args: unknown[]) => unknown>)[
        methodName
      ];
      const handler = this.contexts.create(
        this.gateway,
        method,
        methodName,
        PARAM_ARGS_METADATA,
        paramsFactory,
        undefined,
        undefined,
        { guards: true, interceptors: false, filters: true },
        'ws',
      ) as Handler;
      this.handlers.set(String(message), handler);
    }
  }

  private handle(connection: Connection, [raw, isBinary]: InboundFrame): void {
    if (connection.closing || !connection.isOpen) return;
    const rate = this.rate.charge(connection);
    if (rate === 'flood') {
      return this.writer.closeAfterPending(connection, CloseCode.RateLimitExceeded);
    }
    if (rate === 'limited') {
      return this.writer.reply(connection, this.refusalOverRate(refOfUnparsed(raw, isBinary)));
    }
    const frame = parseFrame(raw, isBinary);
    const handler = this.handlers.get(frame.event);
    if (!handler) return;
    this.writer.request(connection, () => this.run(handler, connection.socket, frame.data));
  }

  /** The handler's reply; one still pending fails into an `error` frame, as a handler's failure does. */
  private async run(
    handler: Handler,
    socket: WebSocket,
    data: unknown,
  ): Promise<Reply | PendingReply<Reply>> {
    try {
      const reply = await handler(socket, data);
      if (!(reply instanceof PendingReply)) return reply;
      return new PendingReply(
        reply.reply.catch((error: unknown) => this.errors.errorFrame(error, refOf(data))),
      );
    } catch (error) {
      this.logger.error('message handler failed', (error as Error)?.stack);
      return undefined;
    }
  }

  private refusalOverRate(ref: string | undefined): ServerFrame<ErrorFrameData> {
    this.counters.count(this.counters.errors, ErrorCode.RateLimited);
    return {
      event: ServerEvent.Error,
      data: { ref, code: ErrorCode.RateLimited, message: 'too many messages' },
    };
  }
}
