import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type {
  EngineCommand,
  EngineMessage,
  EngineSink,
  RealtimeEngine,
} from '../engine/realtime-engine.port';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { encodeMessage } from '../framing/message-frame';
import { encodeFrame, type OutboundFrame } from '../framing/outbound-frame';
import { BROADCAST_TOPIC, CloseCode, DIRECT_TOPIC, ServerEvent } from '../protocol';
import { REALTIME_ENGINE, REALTIME_REVOCATIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { SocketWriter } from '../transport/socket-writer.service';

/**
 * Where revoke commands go (RevocationService, wired by RealtimeModule): the
 * delivery layer carries them from the engine without knowing the auth layer,
 * and closes the connections they cover through the writer (4003 after the
 * replies those connections are owed).
 */
export interface RevocationSink {
  apply(command: Extract<EngineCommand, { kind: 'revoke' }>): Connection[];
}

/** The engine's sink on this node: turns messages and commands into socket writes. */
@Injectable()
export class FanOutService implements EngineSink, OnModuleInit {
  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly subscriptions: SubscriptionRegistry,
    private readonly connections: ConnectionRegistry,
    private readonly writer: SocketWriter,
    @Inject(REALTIME_REVOCATIONS) private readonly revocations: RevocationSink,
    private readonly counters: RealtimeCounters,
  ) {}

  onModuleInit(): void {
    this.engine.attach(this);
  }

  deliver(message: EngineMessage): void {
    const subscribers = this.subscriptions.subscribersOf(message.topic);
    if (subscribers === undefined) return;
    let delivered = 0;
    for (const connection of subscribers) {
      const heldBack = connection.recovering?.get(message.topic);
      if (heldBack !== undefined) heldBack.push(message);
      else if (this.writer.write(connection, message.frame)) delivered++;
    }
    this.counters.delivered += delivered;
  }

  /**
   * Tells the topic's subscribers that messages were lost: a `subscribed`
   * frame without `ref`, `recovered: false`, the new head (docs/protocol.md
   * §5). A connection whose subscribe is recovering the topic is not skipped:
   * its recovery may have read history before the loss, or be answered
   * already with its reply waiting behind an earlier one. The announcement is
   * held back with its live messages, at the new head's offset, and its reply
   * writes it in its place unless the recovery read a head at or past it.
   */
  resync(topic: string, offset: string): void {
    const subscribers = this.subscriptions.subscribersOf(topic);
    if (subscribers === undefined) return;
    const frame = encodeFrame(ServerEvent.Subscribed, {
      topics: [{ topic, offset, recovered: false }],
    });
    const announcement: EngineMessage = { topic, offset, ts: Date.now(), frame };
    for (const connection of subscribers) {
      const heldBack = connection.recovering?.get(topic);
      if (heldBack !== undefined) heldBack.push(announcement);
      else this.writer.write(connection, frame);
    }
  }

  execute(command: EngineCommand): void {
    switch (command.kind) {
      case 'broadcast': {
        // Encoded first: a payload JSON cannot carry is refused before anything is counted.
        const frame = encodeMessage({ ...command, topic: BROADCAST_TOPIC });
        this.counters.broadcasts++;
        this.writeAll(this.connections.all(), frame);
        return;
      }
      case 'user': {
        // Most retained messages are for users who are not here: no frame to build for them.
        const connections = this.connections.ofUser(command.userId);
        if (connections.size === 0) return;
        this.writeAll(connections, encodeMessage({ ...command, topic: DIRECT_TOPIC }));
        return;
      }
      case 'disconnect-user':
        for (const connection of [...this.connections.ofUser(command.userId)]) {
          this.writer.close(connection, command.code as CloseCode);
        }
        return;
      case 'revoke':
        for (const connection of this.revocations.apply(command)) {
          this.writer.close(connection, CloseCode.Revoked);
        }
        return;
    }
  }

  private writeAll(connections: Iterable<Connection>, frame: OutboundFrame): void {
    let delivered = 0;
    for (const connection of connections) {
      if (this.writer.write(connection, frame)) delivered++;
    }
    this.counters.delivered += delivered;
  }
}
