import { MAX_ACK_IDS } from '@nest-realtime/protocol';

/**
 * Offline messages (`$user` with `id`, PROTOCOL.md §5) arrive at least once:
 * remembers the last `limit` ids to drop redeliveries, and batches the ids to
 * acknowledge. A redelivered id is acknowledged again: its first ack was lost.
 */
export class OfflineInbox {
  private readonly seen = new Set<string>();
  private readonly unacked = new Set<string>();

  constructor(private readonly limit: number) {}

  /** Records an id for the next ack; true when it is new (deliver it), false for a redelivery. */
  receive(id: string): boolean {
    this.unacked.add(id);
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.limit) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  get pending(): number {
    return this.unacked.size;
  }

  /** Up to one frame's worth of ids, removed from the queue. */
  takeBatch(): string[] {
    const batch = [...this.unacked].slice(0, MAX_ACK_IDS);
    for (const id of batch) this.unacked.delete(id);
    return batch;
  }
}
