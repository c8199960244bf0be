import { type INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';
import { markAdmitted } from '../auth/admitted-client';
import { HandshakeRefusal, HandshakeService } from '../auth/handshake.service';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { connectionOf } from '../registry/socket-connection';
import { MessageDispatcher } from './message-dispatcher';
import { REALTIME_GATEWAY_OPTION } from './realtime-gateway.constants';

const logger = new Logger('Realtime');

type VerifyCallback = (
  ok: boolean,
  status?: number,
  message?: string,
  headers?: Record<string, string>,
) => void;

/**
 * The ws adapter RealtimeModule needs: `app.useWebSocketAdapter(new RealtimeWsAdapter(app))`.
 * It runs the handshake checks where ws verifies clients (before the upgrade,
 * so refusals are real HTTP statuses), applies the runtime options that
 * decorator metadata cannot carry (path, frame size, compression), and hands
 * every frame to MessageDispatcher, which answers refused frames with an error
 * instead of WsAdapter's silence.
 *
 * @publicApi
 */
export class RealtimeWsAdapter extends WsAdapter {
  private messageDispatcher: MessageDispatcher | undefined;

  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  private dispatcher(): MessageDispatcher {
    this.messageDispatcher ??= this.app.get<MessageDispatcher>(MessageDispatcher, {
      strict: false,
    });
    return this.messageDispatcher;
  }

  override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    if (!options[REALTIME_GATEWAY_OPTION]) return super.create(port, options) as WebSocketServer;
    const settings = this.app.get<ResolvedRealtimeOptions>(REALTIME_OPTIONS, { strict: false });
    const handshake = this.app.get(HandshakeService, { strict: false });
    return super.create(port, {
      path: settings.path,
      maxPayload: settings.limits.maxMessageBytes,
      perMessageDeflate: settings.perMessageDeflate,
      verifyClient: verifyWith(handshake),
    }) as WebSocketServer;
  }

  /**
   * Realtime sockets get the one shared listener of MessageDispatcher instead
   * of the rxjs pipeline and per-connection handler bindings WsAdapter builds;
   * sockets of the app's other gateways keep WsAdapter's behaviour.
   */
  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    if (!connectionOf(client)) return super.bindMessageHandlers(client, handlers, transform);
    client.on('message', this.dispatcher().listener);
  }

  /** SessionService listens for the close of realtime sockets itself. */
  override bindClientDisconnect(client: WebSocket, callback: () => void): void {
    if (!connectionOf(client)) super.bindClientDisconnect(client, callback);
  }

  /** Client-caused socket errors (bad frames, oversize) are routine on a public port; log them quietly. */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (socket: WebSocket) => socket.on('error', onClientError));
    server.on('error', (error) => logger.error('websocket server error', error.stack));
    return server;
  }
}

function onClientError(error: Error): void {
  logger.debug?.(`client socket error: ${error.message}`);
}

function verifyWith(handshake: HandshakeService) {
  return (info: { origin?: string; req: IncomingMessage }, callback: VerifyCallback): void => {
    const refuse = (refusal: HandshakeRefusal) => {
      handshake.refused(refusal.status);
      const headers: Record<string, string> =
        refusal.retryAfterSec === undefined ? {} : { 'Retry-After': String(refusal.retryAfterSec) };
      callback(false, refusal.status, refusal.reason, headers);
    };
    handshake.verify(info.req, info.origin || undefined).then(
      (client) => {
        const refusal = handshake.admit(client);
        if (refusal) return refuse(refusal);
        markAdmitted(info.req, client);
        callback(true);
      },
      (error: unknown) => {
        if (error instanceof HandshakeRefusal) return refuse(error);
        logger.error('handshake failed', (error as Error)?.stack);
        callback(false, 500, 'internal error');
      },
    );
  };
}
