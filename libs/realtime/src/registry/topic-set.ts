/**
 * A connection's topics. Most connections hold one, and a Set of one costs
 * about 150 bytes (the Set and its table) on every connection: one topic is
 * kept as the topic itself, and a Set is made only for a second one
 * (docs/benchmarks.md, heap per idle connection).
 */
export class TopicSet implements Iterable<string> {
  private one: string | undefined = undefined;
  private many: Set<string> | undefined = undefined;

  get size(): number {
    if (this.many) return this.many.size;
    return this.one === undefined ? 0 : 1;
  }

  has(topic: string): boolean {
    return this.many ? this.many.has(topic) : this.one === topic;
  }

  /** Returns false when the topic was already held. */
  add(topic: string): boolean {
    if (this.many) {
      const before = this.many.size;
      return this.many.add(topic).size > before;
    }
    if (this.one === topic) return false;
    if (this.one === undefined) this.one = topic;
    else {
      this.many = new Set([this.one, topic]);
      this.one = undefined;
    }
    return true;
  }

  /** Returns false when the topic was not held. */
  delete(topic: string): boolean {
    if (!this.many) {
      if (this.one !== topic) return false;
      this.one = undefined;
      return true;
    }
    if (!this.many.delete(topic)) return false;
    if (this.many.size === 1) {
      [this.one] = this.many;
      this.many = undefined;
    }
    return true;
  }

  [Symbol.iterator](): Iterator<string> {
    if (this.many) return this.many.values();
    return (this.one === undefined ? [] : [this.one]).values();
  }
}
