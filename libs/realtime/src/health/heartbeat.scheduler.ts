import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { SocketWriter } from '../transport/socket-writer.service';
import type { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';

/**
 * Pings per event-loop turn. A ping costs a write; ten thousand in one turn
 * would hold every delivery behind them for about 100 ms, so a beat yields
 * between slices and messages go out between them.
 */
export const PINGS_PER_TURN = 500;

function pingLater(scheduler: HeartbeatScheduler, rest: Iterator<Connection>): void {
  scheduler.pingSlice(rest);
}

/**
 * Protocol-level pings every `heartbeat.intervalMs`, `PINGS_PER_TURN` per
 * turn; a connection that has not answered within `pongTimeoutMs` of the
 * beat's last ping is closed with 4000 (and terminated after the close
 * grace), so idle and half-open connections never pile up.
 */
@Injectable()
export class HeartbeatScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Realtime');
  private beater: NodeJS.Timeout | undefined;
  private reaper: NodeJS.Timeout | undefined;
  /** The rest of a beat still being sent. */
  private slice: NodeJS.Immediate | undefined;

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly connections: ConnectionRegistry,
    private readonly writer: SocketWriter,
  ) {}

  onApplicationBootstrap(): void {
    // The module's own timer (not @nestjs/schedule's, whose forRoot() is the host app's to import).
    this.beater = setInterval(this.beat, this.options.heartbeat.intervalMs);
    this.beater.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.beater);
    clearTimeout(this.reaper);
    clearImmediate(this.slice);
    this.beater = undefined;
    this.reaper = undefined;
    this.slice = undefined;
  }

  private readonly beat = (): void => {
    // A beat still being sent (more connections than slices in an interval) is not started again.
    if (this.slice !== undefined) return;
    clearTimeout(this.reaper);
    this.pingSlice(this.connections.all());
  };

  /** @internal pings the next slice of a beat; the registry's live iterator skips closed connections. */
  pingSlice(rest: Iterator<Connection>): void {
    this.slice = undefined;
    try {
      for (let pinged = 0; pinged < PINGS_PER_TURN;) {
        const next = rest.next();
        if (next.done === true) {
          this.reaper = setTimeout(this.reap, this.options.heartbeat.pongTimeoutMs);
          this.reaper.unref();
          return;
        }
        const connection = next.value;
        if (!connection.isOpen) continue;
        connection.awaitingPong = true;
        this.writer.ping(connection);
        pinged++;
      }
      this.slice = setImmediate(pingLater, this, rest);
      this.slice.unref();
    } catch (error) {
      this.logger.error('heartbeat failed', (error as Error)?.stack);
    }
  }

  private readonly reap = (): void => {
    try {
      for (const connection of this.connections.all()) {
        if (connection.awaitingPong && connection.isOpen) {
          this.writer.close(connection, CloseCode.HeartbeatTimeout);
        }
      }
    } catch (error) {
      this.logger.error('heartbeat reaping failed', (error as Error)?.stack);
    }
  };
}
