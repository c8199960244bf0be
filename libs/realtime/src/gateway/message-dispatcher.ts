import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ExternalContextCreator, MetadataScanner, type ParamsFactory } from '@nestjs/core';
import { PARAM_ARGS_METADATA } from '@nestjs/websockets/constants';
import { WsParamsFactory } from '@nestjs/websockets/factories/ws-params-factory';
import { GatewayMetadataExplorer } from '@nestjs/websockets/gateway-metadata-explorer';
import type { WebSocket } from 'ws';
import { parseFrame } from './frame-parser';
import { RealtimeGateway } from './realtime.gateway';

const OPEN = 1;
type Handler = (socket: WebSocket, data: unknown) => Promise<unknown>;

/**
 * Routes frames to the gateway's @SubscribeMessage handlers through Nest's
 * ExternalContextCreator, so guards, pipes and filters apply exactly as
 * declared on the gateway. The handlers are built once per gateway, not bound
 * once per connection as WsAdapter does: an idle connection then costs no
 * closures at all (see docs/benchmarks.md).
 */
@Injectable()
export class MessageDispatcher implements OnModuleInit {
  private readonly logger = new Logger('Realtime');
  private readonly handlers = new Map<string, Handler>();

  /** One listener for every socket; `this` is the socket that received the frame. */
  readonly listener: (this: WebSocket, raw: Buffer, isBinary: boolean) => void;

  constructor(
    private readonly contexts: ExternalContextCreator,
    private readonly gateway: RealtimeGateway,
  ) {
    const dispatch = this.dispatch.bind(this);
    this.listener = function (this: WebSocket, raw: Buffer, isBinary: boolean) {
      dispatch(this, raw, isBinary);
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

  private dispatch(socket: WebSocket, raw: Buffer, isBinary: boolean): void {
    const frame = parseFrame(raw, isBinary);
    const handler = this.handlers.get(frame.event);
    if (!handler) return;
    handler(socket, frame.data).then(
      (reply) => {
        if (reply !== undefined && reply !== null && socket.readyState === OPEN) {
          socket.send(JSON.stringify(reply));
        }
      },
      (error: unknown) => this.logger.error('message handler failed', (error as Error)?.stack),
    );
  }
}
