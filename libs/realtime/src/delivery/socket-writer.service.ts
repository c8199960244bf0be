import { Inject, Injectable } from '@nestjs/common';
import type { Socket } from 'node:net';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import type { OutboundFrame } from './outbound-frame';

/**
 * Writes pre-built frames to sockets. The first frame a socket gets in an
 * event-loop turn is written at once; from the second on, the socket is corked
 * and uncorked at the end of the turn, so a burst to one socket leaves in a
 * single writev instead of one syscall per frame. The slow-consumer bound is
 * checked once per socket per turn, against what earlier turns left unsent.
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
    this.closeGraceMs = options.shutdown.graceMs;
  }

  /** Returns false when the frame was not written (closed, or closed now as a slow consumer). */
  write(connection: Connection, frame: OutboundFrame): boolean {
    if (!connection.isOpen) return false;
    const raw = connection.raw;
    if (raw === null) return this.sendThroughWs(connection, frame);
    const tick = this.tick;
    if (connection.writeTick === tick) {
      // A second frame for this socket in this turn: hold the rest back for one writev.
      connection.writeTick = -tick;
      raw.cork();
      this.corked.push(raw);
    } else if (connection.writeTick !== -tick) {
      // The first frame in this turn goes out at once: a lone message pays no corking.
      if (this.isSlow(connection, raw)) return this.dropSlow(connection);
      connection.writeTick = tick;
      this.scheduleTurnEnd();
    }
    connection.queuedFrames++;
    raw.write(frame.bytes);
    return true;
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
    connection.socket.send(frame.text);
    return true;
  }

  private dropSlow(connection: Connection): false {
    this.counters.slowConsumers++;
    connection.close(CloseCode.SlowConsumer, this.closeGraceMs);
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
