/** Anything with a deadline: `at`, ms since the epoch. */
export interface Deadline {
  readonly at: number;
}

/**
 * The deadlines of memory mode's retained messages, soonest first (a binary
 * min-heap): the sweep pops the ones that passed, with no timer per message.
 * An acknowledged or evicted message's deadline is not searched for; it is
 * counted as stale and skipped when popped. Stale entries never outnumber
 * the live ones by much: past that the heap is rebuilt from the live
 * messages (`compact`), so memory follows what waits, not what was acked.
 */
export class DeadlineHeap<T extends Deadline> {
  private heap: T[] = [];
  private stale = 0;

  get size(): number {
    return this.heap.length;
  }

  push(deadline: T): void {
    const heap = this.heap;
    heap.push(deadline);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= deadline.at) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = deadline;
  }

  /** The soonest deadline at or before `now`, removed; undefined when none has passed. */
  popDue(now: number): T | undefined {
    const heap = this.heap;
    if (heap.length === 0 || heap[0].at > now) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) this.siftDown(last);
    return top;
  }

  /**
   * A message left its inbox before its deadline. When stale entries pass
   * the live ones (and a floor, so small heaps are not rebuilt all the
   * time), `live()` lists what still waits and the heap is rebuilt from it.
   */
  markStale(live: () => Iterable<T>): void {
    this.stale++;
    if (this.stale > 1024 && this.stale > this.heap.length - this.stale) this.compact(live());
  }

  /** A popped entry turned out stale (its message had gone). */
  skippedStale(): void {
    if (this.stale > 0) this.stale--;
  }

  private compact(live: Iterable<T>): void {
    this.heap = [];
    this.stale = 0;
    for (const deadline of live) this.push(deadline);
  }

  private siftDown(moving: T): void {
    const heap = this.heap;
    const length = heap.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= length) break;
      if (child + 1 < length && heap[child + 1].at < heap[child].at) child++;
      if (heap[child].at >= moving.at) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = moving;
  }
}
