import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { canonicalIp } from '../auth/client-address';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { defaultMaxSockets } from '../options/open-file-limit';
import { ipLimitKey } from '../registry/connection.registry';

interface Pending {
  /** The key its IP counts under (ipLimitKey: an IPv6 /64 as one client). */
  limitKey: string;
  /** When the socket is destroyed if still pending (performance.now(): a clock step moves no deadline). */
  deadline: number;
}

/**
 * Slowloris defence on the app's HTTP server, which the WebSocket upgrade
 * shares. A socket is pending from its accept until it has sent a complete
 * HTTP request, or, on the realtime path, until its WebSocket handshake is
 * done. Per IP, at most `limits.maxPendingPerIp` sockets may be pending (the
 * next one is destroyed at once), and each gets `limits.handshakeTimeoutMs`
 * for its headers. A request whose body is still arriving (a slow POST, on
 * a new socket or a kept-alive one) counts toward the same cap until the
 * whole body is in, whether the app reads it or answers first; the server's
 * `requestTimeout` bounds its time.
 * IPs count as the connection limits count them (ipLimitKey): a host owns
 * its whole IPv6 /64, and would otherwise hold that many per address.
 * The server's `headersTimeout` and `requestTimeout` are lowered to the
 * configured ones, and `maxConnections` is set below the open-file limit
 * unless the app set it. Trusted proxies and allow-listed IPs are exempt.
 *
 * Every socket waits the same time, so accept order is deadline order: the
 * pending map (insertion-ordered) is the queue, and one timer, armed for its
 * oldest entry, replaces a timer per socket (a Timeout object, its list
 * entry and a clearTimeout on every handshake).
 */
export class PendingSockets {
  private readonly perIp = new Map<string, number>();
  /** Kept apart from the sockets, so that an open connection carries nothing of this; oldest first. */
  private readonly pending = new Map<Socket, Pending>();
  /** Requests whose body is still arriving (several on one socket when pipelined), under their IP's key. */
  private readonly receiving = new Map<IncomingMessage, string>();
  /** Armed for the oldest pending socket's deadline while any may be pending. */
  private timer: NodeJS.Timeout | undefined;
  private readonly max: number;
  private readonly timeoutMs: number;
  private readonly exempt: ReadonlySet<string>;
  /** Sockets refused for being one too many pending from their IP. */
  refused = 0;
  /** One close listener for every socket; `this` is the socket. */
  private readonly onClose: (this: Socket) => void;

  constructor(
    private readonly server: Server,
    private readonly options: ResolvedRealtimeOptions,
  ) {
    const { limits, network } = options;
    this.max = limits.maxPendingPerIp;
    this.timeoutMs = limits.handshakeTimeoutMs;
    this.exempt = new Set([...network.trustedProxies, ...network.allowedIps].map(canonicalIp));
    const settle = this.settle;
    this.onClose = function (this: Socket) {
      settle(this);
    };
  }

  attach(): void {
    const { server } = this;
    const { headersTimeoutMs, requestTimeoutMs } = this.options.limits;
    server.headersTimeout = Math.min(server.headersTimeout || Infinity, headersTimeoutMs);
    // requestTimeout must not be shorter than headersTimeout (Node refuses the pair otherwise).
    server.requestTimeout = Math.max(
      server.headersTimeout,
      Math.min(server.requestTimeout || Infinity, requestTimeoutMs),
    );
    server.maxConnections ??= defaultMaxSockets();
    server.prependListener('connection', this.onConnection);
    server.prependListener('request', this.onRequest);
  }

  detach(): void {
    for (const socket of [...this.pending.keys()]) this.settle(socket);
    for (const req of [...this.receiving.keys()]) this.received(req);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.server.off('connection', this.onConnection);
    this.server.off('request', this.onRequest);
  }

  /**
   * The WebSocket handshake is over (opened, or refused and answered), or the
   * upgrade went to another gateway of the app (RealtimeWsAdapter routes them).
   */
  readonly settle = (tlsOrTcp: Socket): void => {
    const socket = tcpSocketOf(tlsOrTcp);
    const pending = this.pending.get(socket);
    if (pending === undefined) return;
    this.pending.delete(socket);
    socket.off('close', this.onClose);
    this.countOut(pending.limitKey);
  };

  private countOut(limitKey: string): void {
    const left = (this.perIp.get(limitKey) ?? 1) - 1;
    if (left > 0) this.perIp.set(limitKey, left);
    else this.perIp.delete(limitKey);
  }

  pendingFor(ip: string): number {
    return this.perIp.get(ipLimitKey(canonicalIp(ip))) ?? 0;
  }

  private readonly onConnection = (socket: Socket): void => {
    const limitKey = this.countIn(socket);
    if (limitKey === undefined) return;
    this.pending.set(socket, { limitKey, deadline: performance.now() + this.timeoutMs });
    socket.on('close', this.onClose);
    if (this.timer === undefined) this.arm(this.timeoutMs);
  };

  /** Counts the socket toward its IP's cap: its key, or undefined when exempt or destroyed as one too many. */
  private countIn(socket: Socket): string | undefined {
    const limitKey = this.limitKeyOf(socket);
    if (limitKey === undefined) return undefined;
    if (this.countOf(limitKey) >= this.max) {
      this.refused++;
      socket.destroy();
      return undefined;
    }
    this.perIp.set(limitKey, this.countOf(limitKey) + 1);
    return limitKey;
  }

  /** The key the socket's IP counts under; undefined for an exempt address. */
  private limitKeyOf(socket: Socket): string | undefined {
    const ip = canonicalIp(socket.remoteAddress ?? '');
    return this.exempt.has(ip) ? undefined : ipLimitKey(ip);
  }

  private countOf(limitKey: string): number {
    return this.perIp.get(limitKey) ?? 0;
  }

  private arm(waitMs: number): void {
    this.timer = setTimeout(this.expireDue, waitMs);
    this.timer.unref();
  }

  /** The timer's callback: destroys the sockets whose time is up, re-arms for the next. */
  private readonly expireDue = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (const [socket, { deadline }] of this.pending) {
      if (deadline > now) return this.arm(deadline - now);
      this.settle(socket);
      socket.destroy();
    }
  };

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = tcpSocketOf(req.socket);
    this.settle(socket);
    if (!carriesBody(req)) return;
    const limitKey = this.limitKeyOf(socket);
    if (limitKey === undefined) return;
    const over = this.countOf(limitKey) >= this.max;
    this.perIp.set(limitKey, this.countOf(limitKey) + 1);
    this.receiving.set(req, limitKey);
    let cutOff: NodeJS.Timeout | undefined;
    if (over) {
      // The app gets this request in this same emit: destroying the socket now would not stop it
      // from running on a body already in. So it counts (the IP's new sockets are refused), its
      // socket ends with its response, and a body still arriving after a handshake's time is cut
      // off: the app cannot have acted on a body it has not received.
      res.shouldKeepAlive = false;
      cutOff = setTimeout(() => req.complete || socket.destroy(), this.timeoutMs).unref();
    }
    const done = (): void => {
      clearTimeout(cutOff);
      req.off('end', done);
      socket.off('close', done);
      this.received(req);
    };
    // Once the whole body is in: read by the app, or dumped by Node after a response that did not
    // read it (a 404, a refusal), while the client still sends it.
    req.once('end', done);
    socket.once('close', done);
  };

  private received(req: IncomingMessage): void {
    const limitKey = this.receiving.get(req);
    if (limitKey === undefined) return;
    this.receiving.delete(req);
    this.countOut(limitKey);
  }
}

/** Whether a body follows the headers (the parser has not necessarily read it yet). */
function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * 'connection' hands over the TCP socket; over HTTPS, requests and upgrades
 * carry the TLSSocket wrapping it, which Node links as `_parent` (no public
 * accessor exists).
 */
function tcpSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
}
