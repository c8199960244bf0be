import { type INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { markAdmitted } from '../auth/admitted-client';
import { type AdmittedClient, HandshakeRefusal, HandshakeService } from '../auth/handshake.service';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { CloseCode } from '../protocol';
import { MessageDispatcher } from './message-dispatcher';
import { PendingSockets } from './pending-sockets';
import { REALTIME_GATEWAY_OPTION } from './realtime-gateway.constants';
import { SessionService } from './session.service';
import { UpgradePath } from './upgrade-path';
import { SocketWriter } from '../transport/socket-writer.service';

const logger = new Logger('Realtime');

/** A ws server in WsAdapter's registry: addWsServerToRegistry sets its normalised path. */
type RoutedServer = WebSocketServer & { path: string };
type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The only WebSocket version served (RFC 6455); PROTOCOL §1 lets the drafts be refused with 426. */
const WEBSOCKET_VERSION = '13';
const VERSION_HEADERS = { 'Sec-WebSocket-Version': WEBSOCKET_VERSION };
/** ws answers refusals as text/html; ours are plain text, never markup a browser would render. */
const PLAIN_TEXT = {
  'Content-Type': 'text/plain; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
};

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
 * decorator metadata cannot carry (path, frame size, compression), opens a
 * session per connection, and hands every frame to MessageDispatcher, which
 * answers refused frames with an error instead of WsAdapter's silence. It
 * also guards the HTTP server it shares against sockets that never finish a
 * request (PendingSockets), so every host app gets that defence.
 *
 * @publicApi
 */
export class RealtimeWsAdapter extends WsAdapter {
  private readonly realtimeServers = new WeakSet<WebSocketServer>();
  private pending: PendingSockets | undefined;
  /** The upgrade listener this adapter added to each port's HTTP server. */
  private readonly upgradeListeners = new Map<number, UpgradeListener>();

  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    if (!options[REALTIME_GATEWAY_OPTION]) {
      return this.ownPath(port, super.create(port, options) as WebSocketServer);
    }
    const settings = this.app.get<ResolvedRealtimeOptions>(REALTIME_OPTIONS, { strict: false });
    const handshake = this.app.get(HandshakeService, { strict: false });
    const writer = this.app.get(SocketWriter, { strict: false });
    const httpServer = this.httpServer as Server | undefined;
    if (httpServer && !this.pending) {
      this.pending = new PendingSockets(httpServer, settings);
      this.pending.attach();
    }
    const server = super.create(port, {
      path: settings.path,
      maxPayload: settings.limits.maxMessageBytes,
      perMessageDeflate: settings.perMessageDeflate,
      verifyClient: verifyWith(handshake, writer, this.pending),
      // Never select a subprotocol: the app defines none, and a client may put a token there.
      handleProtocols: () => false,
      // SocketWriter answers pings: every byte of a realtime socket goes through it.
      autoPong: false,
      // ConnectionRegistry is the index of open connections: ws's own set would cost every
      // connection a second entry and a second 'close' listener (docs/benchmarks.md).
      clientTracking: false,
    }) as WebSocketServer;
    this.realtimeServers.add(server);
    return this.ownPath(port, server);
  }

  /**
   * An app's gateway on the realtime path would never get a connection (the
   * first server of a path takes its upgrades), or the realtime one none:
   * refuse to start instead.
   */
  private ownPath(port: number, server: WebSocketServer): WebSocketServer {
    const { path } = server as RoutedServer;
    const sharing = ((this.wsServersRegistry.get(port) ?? []) as RoutedServer[]).filter(
      (other) => other.path === path,
    );
    if (sharing.length > 1 && sharing.some((other) => this.realtimeServers.has(other))) {
      throw new Error(
        `RealtimeModule serves ${path}: give the app's other gateway another path, or set the module's "path" option`,
      );
    }
    return server;
  }

  override async dispose(): Promise<void> {
    this.pending?.detach();
    this.pending = undefined;
    // A server passed in outlives the adapter: take the listener off (servers created here are
    // closed by WsAdapter.dispose, whose registry this reads before it clears it).
    for (const [port, listener] of this.upgradeListeners) {
      (this.httpServersRegistry.get(port) as Server | undefined)?.off('upgrade', listener);
    }
    this.upgradeListeners.clear();
    await super.dispose();
  }

  /**
   * WsAdapter's upgrade routing, for every gateway of the port (the realtime
   * one and the app's others): the upgrade goes to the ws server whose path
   * equals the request's, as WsAdapter decides it (UpgradePath: the same
   * pathname, without building a URL for a plain target). An upgrade no
   * server takes is dropped (socket destroyed, no response) as there, one
   * whose target does not parse is answered 400 (WsAdapter wrote a bare
   * status line); both through SocketWriter.
   */
  protected override ensureHttpServerExists(
    port: number,
    httpServer: Server = createServer(),
  ): Server | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    const servers = (this.wsServersRegistry.get(port) ?? []) as RoutedServer[];
    // WsAdapter fills the port's list after this call (addWsServerToRegistry): hold that list.
    this.wsServersRegistry.set(port, servers);
    const paths = new UpgradePath();
    const listener: UpgradeListener = (request, socket, head) => {
      try {
        const pathname = paths.pathname(request.url, request.headers.host);
        for (const server of servers) {
          if (pathname === server.path) {
            // Only the realtime path's sockets stay pending until their handshake is done.
            if (!this.realtimeServers.has(server)) this.pending?.settle(socket as Socket);
            server.handleUpgrade(request, socket, head, (ws) =>
              server.emit('connection', ws, request),
            );
            return;
          }
        }
        SocketWriter.dropUpgrade(socket);
      } catch {
        SocketWriter.refuseUpgrade(socket, 400, 'bad request');
      }
    };
    httpServer.on('upgrade', listener);
    this.upgradeListeners.set(port, listener);
    return httpServer;
  }

  /**
   * Connections of the realtime server skip Nest's per-connection path (rxjs
   * subjects, a bound copy of every handler per socket): SessionService opens
   * the session and MessageDispatcher's one shared listener takes the frames.
   * That path cost ~50 µs and ~1 KB per connection (docs/benchmarks.md). The
   * app's other gateways keep WsAdapter's behaviour.
   */
  override bindClientConnect(
    server: WebSocketServer,
    callback: (...args: unknown[]) => void,
  ): void {
    if (!this.realtimeServers.has(server)) return super.bindClientConnect(server, callback);
    const sessions = this.app.get(SessionService, { strict: false });
    const writer = this.app.get(SocketWriter, { strict: false });
    const listener = this.app.get(MessageDispatcher, { strict: false }).listener;
    const pending = this.pending;
    server.on('connection', (socket: WebSocket, req: IncomingMessage) => {
      pending?.settle(req.socket);
      // Nothing may escape: an error here would be uncaught and end the process.
      try {
        sessions.open(socket, req);
        socket.on('message', listener);
      } catch (error) {
        logger.error('opening a connection failed', (error as Error)?.stack);
        writer.closeSocket(socket, CloseCode.InternalError);
      }
    });
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

/**
 * ws's verifyClient: the handshake's checks, then the upgrade or an HTTP
 * refusal. Its steps are shared functions given the request and ws's callback,
 * so a handshake answered at once allocates no closure of its own; only one
 * that waits (a shared rate storage, authorizers) binds two for its promise.
 */
function verifyWith(
  handshake: HandshakeService,
  writer: SocketWriter,
  pending: PendingSockets | undefined,
) {
  const refuse = (req: IncomingMessage, callback: VerifyCallback, refusal: HandshakeRefusal) => {
    handshake.refused(refusal.status);
    pending?.settle(req.socket);
    const headers: Record<string, string> =
      refusal.status === 426
        ? { ...PLAIN_TEXT, ...VERSION_HEADERS }
        : refusal.retryAfterSec === undefined
          ? PLAIN_TEXT
          : { ...PLAIN_TEXT, 'Retry-After': String(refusal.retryAfterSec) };
    callback(false, refusal.status, refusal.reason, headers);
  };
  const admit = (
    req: IncomingMessage,
    callback: VerifyCallback,
    client: AdmittedClient,
    waited: boolean,
  ) => {
    const refusal = handshake.admit(client, waited);
    if (refusal) return refuse(req, callback, refusal);
    markAdmitted(req, client);
    // ws writes the 101 response and, in the same call, emits the connection whose session
    // writes `connected`: both leave in one write instead of two.
    writer.inOneWrite(req.socket, callback, true);
  };
  const fail = (req: IncomingMessage, callback: VerifyCallback, error: unknown) => {
    if (error instanceof HandshakeRefusal) return refuse(req, callback, error);
    logger.error('handshake failed', (error as Error)?.stack);
    pending?.settle(req.socket);
    callback(false, 500, 'internal error', PLAIN_TEXT);
  };
  return (info: { origin?: string; req: IncomingMessage }, callback: VerifyCallback): void => {
    const { req } = info;
    if (req.headers['sec-websocket-version'] !== WEBSOCKET_VERSION) {
      return refuse(req, callback, new HandshakeRefusal(426, 'unsupported WebSocket version'));
    }
    try {
      // Not info.origin, the one header ws picks by version: the check reads both origin headers
      // (OriginPolicy.allowsHandshake), and a version 13 request may carry Sec-WebSocket-Origin too.
      const verified = handshake.verify(req);
      if (verified instanceof Promise) {
        verified.then(
          (client) => admit(req, callback, client, true),
          (error: unknown) => fail(req, callback, error),
        );
      } else admit(req, callback, verified, false);
    } catch (error) {
      fail(req, callback, error);
    }
  };
}
