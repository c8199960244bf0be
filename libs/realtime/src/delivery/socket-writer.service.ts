import { Inject, Injectable } from '@nestjs/common';
import type { Socket } from 'node:net';
import { encodeFrame, type OutboundFrame } from '../framing/outbound-frame';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, type ServerEvent, type ServerFrame } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';

const SETTLED = Promise.resolve();

/** `next` once `previous` (if any) has settled too. */
function after(previous: Promise<void> | undefined, next: Promise<void>): Promise<void> {
  return previous === undefined ? next : previous.then(() => next);
}

/** closeAfterPending's deadline; closing an already closed connection does nothing. */
function closeLate(writer: SocketWriter, connection: Connection, code: CloseCode): void {
  writer.close(connection, code);
}

/**
 * The one way a frame reaches a socket, and the one way the server closes one.
 *
 * Frames are pre-built; the first frame a socket gets in an event-loop turn is
 * written at once, and from the second on the socket is corked until the end
 * of the turn, so a burst leaves in one writev. The slow-consumer bound is
 * checked at every write (a field read and two comparisons), so a burst in one
 * turn, a recovery replay included, cannot pass it.
 *
 * Writes are synchronous and ws sends its close frame on the same TCP socket,
 * so whatever was written before a close goes out before the close frame.
 * A connection's requests start in request order and their replies are
 * written in request order (`request`, `inOrder`), and a close decided while
 * requests are owed an answer waits for them (`closeAfterPending`).
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
  write(connection: Connection, frame: OutboundFrame): boolean {
    if (!connection.isOpen) return false;
    const raw = connection.raw;
    if (raw === null) return this.sendThroughWs(connection, frame);
    const tick = this.tick;
    const backlog = raw.writableLength;
    if (backlog === 0) {
      connection.queuedFrames = 0;
    } else if (backlog > this.maxQueuedBytes || connection.queuedFrames >= this.maxQueuedFrames) {
      // Over a bound. What this turn corked has not been offered to the kernel yet: offer it, and
      // judge by what the kernel leaves behind (a reading client takes it and carries on).
      if (connection.writeTick === -tick) {
        raw.uncork();
        connection.writeTick = tick;
      }
      if (this.isSlow(connection, raw)) return this.dropSlow(connection);
    }
    if (connection.writeTick === tick) {
      // A second frame for this socket in this turn: hold the rest back for one writev.
      connection.writeTick = -tick;
      raw.cork();
      this.corked.push(raw);
    } else if (connection.writeTick !== -tick) {
      // The first frame in this turn goes out at once: a lone message pays no corking.
      connection.writeTick = tick;
      this.scheduleTurnEnd();
    }
    connection.queuedFrames++;
    raw.write(frame.bytes);
    return true;
  }

  /** Builds and writes a one-recipient frame (replies, notices). */
  send(connection: Connection, event: ServerEvent, data: unknown): boolean {
    return this.write(connection, encodeFrame(event, data));
  }

  /**
   * Handles one request of a connection: `handle` starts once the previous
   * request has finished or handed over (`handOver`), and the reply it
   * resolves to is written once every earlier reply has been. `handle` must
   * not reject.
   */
  request(connection: Connection, handle: () => Promise<ServerFrame | null | undefined>): void {
    const previous = connection.startable ?? SETTLED;
    let handOver!: () => void;
    const handedOver = new Promise<void>((resolve) => (handOver = resolve));
    this.gateStarts(connection, handedOver);
    const reply = previous.then(async () => {
      connection.handOver = handOver;
      try {
        return connection.isOpen ? await handle() : undefined;
      } finally {
        if (connection.handOver === handOver) connection.handOver = undefined;
        handOver();
      }
    });
    this.inOrder(connection, () =>
      reply.then((frame) => {
        if (frame) this.send(connection, frame.event, frame.data);
      }),
    );
  }

  /**
   * The request being handled can no longer be overtaken (its effect is
   * issued, as a publish is once its engine call is): the next one may start
   * now, though its reply still waits for this one's. A client's burst of
   * publishes then shares Redis round trips instead of paying one each.
   */
  handOver(connection: Connection): void {
    const handOver = connection.handOver;
    connection.handOver = undefined;
    handOver?.();
  }

  /**
   * Runs `work` once every reply owed to this connection has been written, so
   * replies keep request order whatever each request waits for. Work queued
   * after the connection closed is skipped. `work` must not reject.
   */
  inOrder(connection: Connection, work: () => Promise<void> | void): void {
    const run = (): Promise<void> | void => (connection.isOpen ? work() : undefined);
    // Always after a microtask, even with nothing owed: work that decides a close synchronously
    // (a guard) must find itself owed, so that its own reply still goes out first.
    this.track(connection, (connection.owed ?? SETTLED).then(run));
  }

  /**
   * Work already started (it had to start at once) whose frames must precede
   * the replies to any later request, and which later requests wait for.
   * `started` must not reject.
   */
  owe(connection: Connection, started: Promise<void>): void {
    this.track(connection, after(connection.owed, started));
    // Nor may a later request start before it is done.
    this.gateStarts(connection, after(connection.startable, started));
  }

  /**
   * Closes once every reply owed so far has been written; frames arriving from
   * now on are dropped. A reply that never comes (an authorizer that hangs)
   * holds the close back for `closeGraceMs` at most.
   */
  closeAfterPending(connection: Connection, code: CloseCode): void {
    if (connection.closing) return;
    connection.closing = true;
    this.inOrder(connection, () => this.close(connection, code));
    setTimeout(closeLate, this.closeGraceMs, this, connection, code).unref();
  }

  /** Closes now, after what was written so far; the socket is cut if the peer stalls the close. */
  close(connection: Connection, code: CloseCode): void {
    connection.closing = true;
    connection.close(code, this.closeGraceMs);
  }

  private gateStarts(connection: Connection, gate: Promise<void>): void {
    connection.startable = gate;
    void gate.then(() => {
      if (connection.startable === gate) connection.startable = undefined;
    });
  }

  private track(connection: Connection, current: Promise<void>): void {
    connection.owed = current;
    void current.then(() => {
      if (connection.owed === current) connection.owed = undefined;
    });
  }

  private isSlow(connection: Connection, raw: Socket): boolean {
    const backlog = raw.writableLength;
    if (backlog === 0) {
      connection.queuedFrames = 0;
      return false;
    }
    return backlog > this.maxQueuedBytes || connection.queuedFrames >= this.maxQueuedFrames;
  }

  /** With per-message compression each socket needs its own deflate; only the bytes bound applies. */
  private sendThroughWs(connection: Connection, frame: OutboundFrame): boolean {
    if (connection.socket.bufferedAmount > this.maxQueuedBytes) return this.dropSlow(connection);
    connection.socket.send(frame.payload, { binary: false });
    return true;
  }

  private dropSlow(connection: Connection): false {
    this.counters.slowConsumers++;
    this.close(connection, CloseCode.SlowConsumer);
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
    for (const raw of this.corked) raw.uncork();
    this.corked.length = 0;
  };
}
