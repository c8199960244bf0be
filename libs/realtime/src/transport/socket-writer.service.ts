import { Inject, Injectable } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, CloseReason, type ServerFrame } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { encodeFrame, type OutboundFrame } from '../framing/outbound-frame';
import { encodePong, PING_FRAME } from './control-frames';
import type { PendingReply, Reply } from './reply-queue';
import type { SocketLink } from './socket-link';
import { closingHandshakeDone } from './ws-internals';

/** WebSocket's readyState of an open socket. */
const OPEN = 1;

/** closeAfterPending's deadline; closing an already closed link does nothing. */
function closeLate(writer: SocketWriter, link: SocketLink, code: CloseCode, graceMs: number): void {
  writer.close(link, code, graceMs);
}

/** A refused upgrade's socket, once its answer is handed to the kernel; `this` is the socket. */
function destroyOnFinish(this: Duplex): void {
  this.destroy();
}

/**
 * A connection's TCP socket once this side's FIN is handed to the kernel (`this` is the socket).
 * With the closing handshake over, the peer sends nothing more but its FIN, so the socket is
 * released now, as RFC 6455 §7.1.1 has the server close first. Left open until that FIN, ws
 * would end the finished socket a second time, and Node builds an error with a stack trace for
 * the call it ignores (a few µs, on every connection that closes). A close that ended otherwise
 * (an invalid frame: the peer may still be sending) keeps ws's own course.
 */
function releaseAfterClosingHandshake(this: Socket): void {
  if (closingHandshakeDone(this)) this.destroy();
}

/** The close grace's end: the peer had its chance to answer the close frame. */
function cut(socket: WebSocket): void {
  socket.terminate();
}

/**
 * The one owner of a socket's bytes: every frame the server sends (messages,
 * replies, errors), every ping and pong, every close, on every socket.
 *
 * Frames are pre-built and written to the TCP socket under the WebSocket; the
 * first frame a socket gets in an event-loop turn is written at once, and
 * from the second on the socket is corked until the end of the turn, so a
 * burst leaves in one writev. Pings and pongs take the same path. The
 * slow-consumer bound is checked at every write (a field read and two
 * comparisons), so a burst in one turn, a recovery replay included, cannot
 * pass it. Where permessage-deflate was negotiated every frame goes through
 * ws instead (each socket compresses its own copy), in the same order.
 *
 * A close first hands the kernel what this turn corked for the socket, then
 * lets ws write the close frame (ws runs the close handshake), then cuts the
 * socket if the peer has not finished it within the grace. Requests and
 * their replies keep request order through each socket's ReplyQueue; a close
 * decided while replies are owed waits for them (`closeAfterPending`).
 */
@Injectable()
export class SocketWriter {
  private tick = 1;
  private readonly corked: Socket[] = [];
  private turnEndScheduled = false;
  private readonly maxQueuedFrames: number;
  private readonly maxQueuedBytes: number;
  private readonly closeGraceMs: number;

  constructor(
    @Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions,
    private readonly counters: RealtimeCounters,
  ) {
    this.maxQueuedFrames = options.limits.maxQueuedMessages;
    this.maxQueuedBytes = options.limits.maxQueuedBytes;
    this.closeGraceMs = options.closeGraceMs;
  }

  /** Returns false when the frame was not written (closed, or closed now as a slow consumer). */
  write(link: SocketLink, frame: OutboundFrame): boolean {
    if (!link.isOpen) return false;
    const tcp = link.tcp;
    if (tcp === null) return this.sendThroughWs(link, frame);
    return this.writeTcp(link, tcp, frame.bytes);
  }

  /** Builds and writes a one-recipient frame (the `connected` notice, replies). */
  send(link: SocketLink, frame: ServerFrame): boolean {
    return this.write(link, encodeFrame(frame.event, frame.data));
  }

  /** A protocol-level ping (the heartbeat's probe). */
  ping(link: SocketLink): void {
    if (!link.isOpen) return;
    if (link.tcp === null) link.socket.ping();
    else this.writeTcp(link, link.tcp, PING_FRAME);
  }

  /** Answers a client's ping (ws's own answer is turned off: RealtimeWsAdapter sets autoPong false). */
  pong(link: SocketLink, payload: Buffer): void {
    if (!link.isOpen) return;
    if (link.tcp === null) link.socket.pong(payload);
    else this.writeTcp(link, link.tcp, encodePong(payload));
  }

  /**
   * Handles one request of a link: `handle` starts in request order and its
   * reply is written in request order (ReplyQueue). `handle` must not reject.
   */
  request(link: SocketLink, handle: () => Promise<Reply | PendingReply<Reply>>): void {
    link.replies.request(
      () => (link.isOpen ? handle() : Promise.resolve(undefined)),
      (reply) => this.deliver(link, reply),
    );
  }

  /** Writes a reply that needs no handler (RATE_LIMITED) once the replies owed before it are out. */
  reply(link: SocketLink, reply: Reply): void {
    link.replies.queue(() => this.deliver(link, reply));
  }

  /**
   * Closes once every reply owed so far has been written; frames arriving from
   * now on are dropped. A reply that never comes (an authorizer that hangs)
   * holds the close back for `graceMs` at most, and the socket is cut if the
   * peer has not answered the close frame within `graceMs` after it is sent.
   * A link already closing keeps the close decided first.
   */
  closeAfterPending(link: SocketLink, code: CloseCode, graceMs = this.closeGraceMs): void {
    if (link.closing) return;
    link.closing = true;
    link.replies.queue(() => this.close(link, code, graceMs));
    setTimeout(closeLate, graceMs, this, link, code, graceMs).unref();
  }

  /**
   * Closes now, after what was written so far (this turn's corked frames are
   * handed to the kernel first); the socket is cut if the peer has not
   * answered the close frame within `graceMs`.
   */
  close(link: SocketLink, code: CloseCode, graceMs = this.closeGraceMs): void {
    link.closing = true;
    if (link.writeTick === -this.tick) {
      link.writeTick = this.tick;
      link.tcp?.uncork();
    }
    this.closeSocket(link.socket, code, graceMs);
  }

  /** Closes a socket that never became a connection (refused or failed while opening). */
  closeSocket(socket: WebSocket, code: CloseCode, graceMs = this.closeGraceMs): void {
    if (socket.readyState > OPEN) return;
    socket.close(code, CloseReason[code]);
    setTimeout(cut, graceMs, socket).unref();
  }

  /**
   * Drops an HTTP upgrade that no WebSocket server of the app's port takes:
   * the socket is destroyed without a response, as WsAdapter does. Static, as
   * is refuseUpgrade: the app's other gateways use them before any realtime socket.
   */
  static dropUpgrade(socket: Duplex): void {
    socket.destroy();
  }

  /**
   * Answers an HTTP upgrade whose target cannot be read with 400 and a short
   * text body (WsAdapter wrote a bare status line), then closes its socket.
   */
  static refuseUpgrade(socket: Duplex, status: 400, body: string): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.once('finish', destroyOnFinish);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'X-Content-Type-Options: nosniff\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  /**
   * Runs `admit(arg)` with the handshake's TCP socket corked until the end of
   * the turn: the 101 response ws writes, the `connected` frame the new
   * session writes and what its first requests write in this turn (the
   * `subscribed` of `?subscribe=` where nothing waits, as in memory mode)
   * leave in one write. (The argument is passed through, so a caller needs no
   * closure.) The link's first frame takes this cork as its cork of the turn
   * (firstWriteOfTurn), so the slow-consumer check and close release it. The
   * socket is released as soon as its closing handshake is over
   * (releaseAfterClosingHandshake).
   */
  inOneWrite<A>(tcp: Socket, admit: (arg: A) => void, arg: A): void {
    tcp.on('finish', releaseAfterClosingHandshake);
    tcp.cork();
    try {
      admit(arg);
    } finally {
      this.corked.push(tcp);
      this.scheduleTurnEnd();
    }
  }

  private deliver(link: SocketLink, reply: Reply): void {
    if (reply === null || reply === undefined) return;
    if (typeof reply === 'function') return reply();
    if (isFrameList(reply)) for (const frame of reply) this.send(link, frame);
    else this.send(link, reply);
  }

  private writeTcp(link: SocketLink, tcp: Socket, bytes: Buffer): boolean {
    const tick = this.tick;
    const backlog = tcp.writableLength;
    if (backlog === 0) {
      link.queuedFrames = 0;
    } else if (backlog > this.maxQueuedBytes || link.queuedFrames >= this.maxQueuedFrames) {
      // Over a bound. What this turn corked has not been offered to the kernel yet: offer it, and
      // judge by what the kernel leaves behind (a reading client takes it and carries on).
      if (link.writeTick === -tick) {
        tcp.uncork();
        link.writeTick = tick;
      }
      if (this.isSlow(link, tcp)) return this.dropSlow(link);
    }
    if (link.writeTick === tick) {
      // A second frame for this socket in this turn: hold the rest back for one writev.
      link.writeTick = -tick;
      tcp.cork();
      this.corked.push(tcp);
    } else if (link.writeTick !== -tick) {
      this.firstWriteOfTurn(link, tcp, tick);
    }
    link.queuedFrames++;
    tcp.write(bytes);
    return true;
  }

  /**
   * The first frame in this turn goes out at once: a lone message pays no corking. Unless the
   * socket is still corked by its handshake (inOneWrite, until the end of the turn): only this
   * writer corks a socket, so that cork is taken as this turn's cork of the link. The bound's
   * check and close then release it, as they release the writer's own: otherwise a burst in the
   * handshake turn (a full offline inbox in memory mode) stays behind it, the backlog never
   * reaches the kernel, and a reading client is closed as a slow consumer.
   */
  private firstWriteOfTurn(link: SocketLink, tcp: Socket, tick: number): void {
    if (tcp.writableCorked > 0) {
      link.writeTick = -tick;
      return;
    }
    link.writeTick = tick;
    this.scheduleTurnEnd();
  }

  private isSlow(link: SocketLink, tcp: Socket): boolean {
    const backlog = tcp.writableLength;
    if (backlog === 0) {
      link.queuedFrames = 0;
      return false;
    }
    return backlog > this.maxQueuedBytes || link.queuedFrames >= this.maxQueuedFrames;
  }

  /** With per-message compression each socket needs its own deflate; only the bytes bound applies. */
  private sendThroughWs(link: SocketLink, frame: OutboundFrame): boolean {
    if (link.socket.bufferedAmount > this.maxQueuedBytes) return this.dropSlow(link);
    link.socket.send(frame.payload, { binary: false });
    return true;
  }

  private dropSlow(link: SocketLink): false {
    this.counters.slowConsumers++;
    this.close(link, CloseCode.SlowConsumer);
    return false;
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.endTurn);
  }

  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    this.tick++;
    for (const tcp of this.corked) tcp.uncork();
    this.corked.length = 0;
  };
}

function isFrameList(reply: ServerFrame | readonly ServerFrame[]): reply is readonly ServerFrame[] {
  return Array.isArray(reply);
}
