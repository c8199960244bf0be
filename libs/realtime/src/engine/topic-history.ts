import type { HistoryLimits } from './history-limits';
import type { EngineMessage } from './realtime-engine.port';

/**
 * A topic's last messages, oldest first, bounded in count and in bytes. A
 * message is kept as the frame it was sent as, and counts that frame's bytes.
 */
export class TopicHistory {
  private readonly ring: (EngineMessage | undefined)[];
  private start = 0;
  private count = 0;
  private retainedBytes = 0;
  private readonly maxBytes: number;
  readonly ttlMs: number;

  constructor(
    readonly epoch: number,
    public sequence: number,
    limits: HistoryLimits,
  ) {
    this.ring = new Array<EngineMessage | undefined>(limits.size);
    this.maxBytes = limits.maxBytes;
    this.ttlMs = limits.ttlMs;
  }

  get size(): number {
    return this.count;
  }

  /** The bytes of the retained frames. */
  get bytes(): number {
    return this.retainedBytes;
  }

  /** Sequence of the oldest retained message; sequence + 1 when none is retained. */
  get firstSequence(): number {
    return this.sequence - this.count + 1;
  }

  /** Appends the topic's next message; the oldest go first past the count or byte bound. */
  append(message: EngineMessage): void {
    const capacity = this.ring.length;
    if (this.count === capacity) this.dropOldest();
    this.ring[(this.start + this.count) % capacity] = message;
    this.count++;
    this.retainedBytes += message.frame.bytes.length;
    while (this.count > 0 && this.retainedBytes > this.maxBytes) this.dropOldest();
  }

  dropOlderThan(cutoffTs: number): void {
    while (this.count > 0 && this.at(0).ts < cutoffTs) this.dropOldest();
  }

  /** Retained messages with a sequence above `after`. */
  after(after: number): EngineMessage[] {
    const skip = Math.max(0, after - this.firstSequence + 1);
    const result: EngineMessage[] = [];
    for (let i = skip; i < this.count; i++) result.push(this.at(i));
    return result;
  }

  /** Forgets the oldest retained message (there must be one). */
  dropOldest(): void {
    this.retainedBytes -= this.at(0).frame.bytes.length;
    this.ring[this.start] = undefined;
    this.start = (this.start + 1) % this.ring.length;
    this.count--;
  }

  private at(index: number): EngineMessage {
    return this.ring[(this.start + index) % this.ring.length] as EngineMessage;
  }
}
