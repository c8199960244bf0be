import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { HandshakeService } from '../auth/handshake.service';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SocketWriter } from '../transport/socket-writer.service';

const POLL_MS = 20;

/**
 * Graceful shutdown. Nest's adapter would terminate sockets (1006, no close
 * frame); this runs first: new handshakes get 503, every client gets the
 * replies it is owed and then a close frame, and shutdown waits (up to
 * `shutdown.graceMs`) for the handshakes to finish. Call drain(1012) yourself
 * before a planned restart.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeLifecycleService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Realtime');

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly handshake: HandshakeService,
    private readonly connections: ConnectionRegistry,
    private readonly writer: SocketWriter,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain(this.options.shutdown.closeCode);
  }

  /** Stops accepting and closes every connection; resolves when all are gone or the grace is over. */
  async drain(
    code: typeof CloseCode.GoingAway | typeof CloseCode.ServiceRestart = CloseCode.ServiceRestart,
  ): Promise<void> {
    this.handshake.stopAccepting();
    const open = this.connections.size;
    if (open === 0) return;
    this.logger.log(`closing ${open} connections with ${code}`);
    const graceMs = this.options.shutdown.graceMs;
    // After the replies owed: a publish whose engine call went out must get its `published`, or
    // its client, reconnecting, publishes again. A reply that never comes holds its close back
    // for the grace at most; requests arriving from now on are dropped unread.
    for (const connection of [...this.connections.all()])
      this.writer.closeAfterPending(connection, code, graceMs);
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
