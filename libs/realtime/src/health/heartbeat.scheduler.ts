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
import { SocketWriter } from '../delivery/socket-writer.service';
import { ConnectionRegistry } from '../registry/connection.registry';

/**
 * Protocol-level pings every `heartbeat.intervalMs`; a connection that has not
 * answered within `pongTimeoutMs` is closed with 4000 (and terminated after the
 * close grace), so idle and half-open connections never pile up.
 */
@Injectable()
export class HeartbeatScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Realtime');
  private beater: NodeJS.Timeout | undefined;
  private reaper: NodeJS.Timeout | undefined;

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
    this.beater = undefined;
    this.reaper = undefined;
  }

  private readonly beat = (): void => {
    try {
      for (const connection of this.connections.all()) {
        if (!connection.isOpen) continue;
        connection.awaitingPong = true;
        connection.socket.ping();
      }
      clearTimeout(this.reaper);
      this.reaper = setTimeout(this.reap, this.options.heartbeat.pongTimeoutMs);
      this.reaper.unref();
    } catch (error) {
      this.logger.error('heartbeat failed', (error as Error)?.stack);
    }
  };

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
