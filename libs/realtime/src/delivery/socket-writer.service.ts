import { Inject, Injectable } from '@nestjs/common';
import type { Socket } from 'node:net';
import { RealtimeCounters } from '../metrics/realtime-counters';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import type { OutboundFrame } from './outbound-frame';

/**
 * Writes pre-built frames to sockets. Sockets written in one event-loop turn
 * are corked on first write and uncorked together afterwards, so a burst of
 * messages to one socket leaves in a single writev instead of one syscall per
 * frame. The slow-consumer bound is checked once per socket per turn, against
 * what earlier turns left unsent.
 */
@Injectable()
export class SocketWriter {
  private tick = 1;
  private readonly corked: Socket[] = [];
  private flushScheduled = false;
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
    if (connection.writeTick !== this.tick) {
      if (this.isSlow(connection, raw)) return this.dropSlow(connection);
      connection.writeTick = this.tick;
      raw.cork();
      this.corked.push(raw);
      this.scheduleFlush();
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

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.tick++;
    for (const raw of this.corked) raw.uncork();
    this.corked.length = 0;
  };
}
