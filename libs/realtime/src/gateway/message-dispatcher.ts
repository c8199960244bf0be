import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ExternalContextCreator, MetadataScanner, type ParamsFactory } from '@nestjs/core';
import { PARAM_ARGS_METADATA } from '@nestjs/websockets/constants';
import { WsParamsFactory } from '@nestjs/websockets/factories/ws-params-factory';
import { GatewayMetadataExplorer } from '@nestjs/websockets/gateway-metadata-explorer';
import type { WebSocket } from 'ws';
import { MessageRateLimiter } from '../auth/message-rate.limiter';
import { SocketWriter } from '../delivery/socket-writer.service';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { CloseCode, ErrorCode, ServerEvent, type ServerFrame } from '../protocol';
import type { Connection } from '../registry/connection';
import { connectionOf } from '../registry/socket-connection';
import { parseFrame, refOfUnparsed } from './frame-parser';
import { type InboundFrame, InboundTurns } from './inbound-turns';
import { RealtimeGateway } from './realtime.gateway';

type Handler = (socket: WebSocket, data: unknown) => Promise<ServerFrame | null | undefined>;

/**
 * Routes frames to the gateway's @SubscribeMessage handlers through Nest's
 * ExternalContextCreator, so guards, pipes and filters apply exactly as
 * declared on the gateway. The handlers are built once per gateway, not bound
 * once per connection as WsAdapter does: an idle connection then costs no
 * closures at all (see docs/benchmarks.md).
 *
 * Frames are handled in turns shared fairly between connections
 * (InboundTurns). Each is charged against the message rate before it is
 * read; a frame over the rate is refused unread (its ref found by the byte
 * scan). The others are read and validated (parseFrame) before any guard
 * runs, so guards only ever see valid requests. Requests start, and their
 * replies go out, through SocketWriter in request order.
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
        { guards: true, interceptors: true, filters: true },
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
      const ref = refOfUnparsed(raw, isBinary);
      return this.writer.inOrder(connection, () => this.refuseOverRate(connection, ref));
    }
    const frame = parseFrame(raw, isBinary);
    const handler = this.handlers.get(frame.event);
    if (!handler) return;
    this.writer.request(connection, () =>
      handler(connection.socket, frame.data).catch((error: unknown) => {
        this.logger.error('message handler failed', (error as Error)?.stack);
        return undefined;
      }),
    );
  }

  private refuseOverRate(connection: Connection, ref: string | undefined): void {
    this.counters.count(this.counters.errors, ErrorCode.RateLimited);
    this.writer.send(connection, ServerEvent.Error, {
      ref,
      code: ErrorCode.RateLimited,
      message: 'too many messages',
    });
  }
}
