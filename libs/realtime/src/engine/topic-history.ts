import type { EngineMessage } from './realtime-engine.port';

/** A bounded ring of a topic's last messages, oldest first. */
export class TopicHistory {
  private readonly ring: (EngineMessage | undefined)[];
  private start = 0;
  private count = 0;
  sequence = 0;

  constructor(
    readonly epoch: number,
    capacity: number,
  ) {
    this.ring = new Array<EngineMessage | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  get lastTs(): number {
    return this.count === 0 ? 0 : this.at(this.count - 1).ts;
  }

  /** Sequence of the oldest retained message; sequence + 1 when none is retained. */
  get firstSequence(): number {
    return this.sequence - this.count + 1;
  }

  append(message: EngineMessage): void {
    const capacity = this.ring.length;
    this.ring[(this.start + this.count) % capacity] = message;
    if (this.count < capacity) this.count++;
    else this.start = (this.start + 1) % capacity;
  }

  dropOlderThan(cutoffTs: number): void {
    while (this.count > 0 && this.at(0).ts < cutoffTs) {
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.ring.length;
      this.count--;
    }
  }

  /** Retained messages with a sequence above `after`. */
  after(after: number): EngineMessage[] {
    const skip = Math.max(0, after - this.firstSequence + 1);
    const result: EngineMessage[] = [];
    for (let i = skip; i < this.count; i++) result.push(this.at(i));
    return result;
  }

  private at(index: number): EngineMessage {
    return this.ring[(this.start + index) % this.ring.length] as EngineMessage;
  }
}
