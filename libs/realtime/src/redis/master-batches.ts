import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { readyMasters } from './cluster-nodes';
import { BatchClosedError, RoundTripBatch, type RoundTripBatchOptions } from './round-trip-batch';

/**
 * Calls on Redis Cluster batched per master as RoundTripBatch batches one
 * Redis (admission's steps, the inbox reads at connect): an item joins the
 * batch of the master that serves its slot per the client's slot map, and
 * a master gets no call while its previous one is unanswered. A loaded
 * instance gets about one handshake per turn, so a call per turn was a call
 * (and a script run) per handshake and master; this way each master gets
 * one per round trip, and the partitions it serves share it. A master's
 * failure fails only its own items (and, per `options.queuedOnFailure`,
 * those queued behind them).
 *
 * `send` gets the master's connection when it is ready (else undefined: the
 * caller routes by key). The map may be stale by then (a slot moved, a
 * failover): a `send` that writes must check, before it writes, that the
 * node serves every key (RESERVE_ON_NODE_SCRIPT); one that reads redoes a
 * refused call by calls routed by key.
 */
export class MasterBatches<T, R> {
  /** By the master's address in the slot map ('' where it names none, or on one Redis). */
  private readonly batches = new Map<string, RoundTripBatch<T, R>>();
  private closed = false;

  constructor(
    private readonly cluster: Cluster | undefined,
    private readonly slotOf: (item: T) => number,
    private readonly send: (node: Redis | undefined, items: readonly T[]) => Promise<R[]>,
    private readonly options: RoundTripBatchOptions = {},
  ) {}

  add(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new BatchClosedError());
    const owner = this.cluster?.slots[this.slotOf(item)]?.[0] ?? '';
    let batch = this.batches.get(owner);
    if (!batch) {
      batch = new RoundTripBatch<T, R>(
        (items) => this.send(this.readyMaster(owner), items),
        this.options,
      );
      this.batches.set(owner, batch);
    }
    return batch.add(item);
  }

  /** At shutdown: every master's queued items fail, and later ones (RoundTripBatch.close). */
  close(): void {
    this.closed = true;
    for (const batch of this.batches.values()) batch.close();
  }

  /** The master at `address` if its connection is ready now (looked up at send time: nodes come and go). */
  private readyMaster(address: string): Redis | undefined {
    if (!this.cluster || address === '') return undefined;
    return readyMasters(this.cluster).get(address);
  }
}
