import type { HistoryLimits } from './history-limits';
import type { EngineMessage } from './realtime-engine.port';

/** A topic's last messages, oldest first, bounded in count and in bytes. */
export class TopicHistory {
  private readonly ring: (EngineMessage | undefined)[];
  private readonly sizes: number[];
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
    this.sizes = new Array<number>(limits.size).fill(0);
    this.maxBytes = limits.maxBytes;
    this.ttlMs = limits.ttlMs;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.retainedBytes;
  }

  /** Sequence of the oldest retained message; sequence + 1 when none is retained. */
  get firstSequence(): number {
    return this.sequence - this.count + 1;
  }

  /** Appends the topic's next message; the oldest go first past the count or byte bound. */
  append(message: EngineMessage, bytes: number): void {
    const capacity = this.ring.length;
    if (this.count === capacity) this.dropOldest();
    const slot = (this.start + this.count) % capacity;
    this.ring[slot] = message;
    this.sizes[slot] = bytes;
    this.count++;
    this.retainedBytes += bytes;
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

  private dropOldest(): void {
    this.ring[this.start] = undefined;
    this.retainedBytes -= this.sizes[this.start];
    this.start = (this.start + 1) % this.ring.length;
    this.count--;
  }

  private at(index: number): EngineMessage {
    return this.ring[(this.start + index) % this.ring.length] as EngineMessage;
  }
}
