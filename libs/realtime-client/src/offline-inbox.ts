import { ClientEvent, MAX_ACK_IDS } from '@nest-realtime/protocol';
import type { ClientContext } from './client-context';
import { Timer } from './timer';

/**
 * Offline messages (`$user` with `id`, PROTOCOL.md §5) arrive at least once:
 * remembers the last `seenIdsLimit` ids to drop redeliveries, and
 * acknowledges ids in batches, `ackDelayMs` after the first one. A
 * redelivered id is acknowledged again: its first ack was lost.
 */
export class OfflineInbox {
  private readonly seen = new Set<string>();
  private readonly unacked = new Set<string>();
  private readonly timer = new Timer();

  constructor(private readonly context: ClientContext) {}

  /** Records an id for the next ack; true when it is new (deliver it), false for a redelivery. */
  receive(id: string): boolean {
    this.unacked.add(id);
    this.scheduleAck();
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > (this.context.options.seenIdsLimit ?? 1000)) {
      this.seen.delete(this.seen.values().next().value as string);
    }
    return true;
  }

  /** A new connection: ids held since the last one go out with the redeliveries that follow. */
  resume(): void {
    if (this.unacked.size > 0) this.scheduleAck();
  }

  stop(): void {
    this.timer.clear();
  }

  private scheduleAck(): void {
    if (this.timer.armed) return;
    this.timer.set(this.context.options.ackDelayMs ?? 50, () => this.flush());
  }

  /** Sends the queued ids, one frame per MAX_ACK_IDS; ids lost with the link come back and are acked then. */
  private flush(): void {
    while (this.context.connected && this.unacked.size > 0) {
      const ids = [...this.unacked].slice(0, MAX_ACK_IDS);
      for (const id of ids) this.unacked.delete(id);
      this.context.request(ClientEvent.Ack, { ids }).then(
        () => (this.context.stats.acked += ids.length),
        (error) => this.context.report(error),
      );
    }
  }
}
