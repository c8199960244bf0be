/** setTimeout cannot wait longer than this; a later slot is reached in several waits. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Emptied slots the heap may hold beyond its live ones before it is rebuilt (a few: no rebuild per add). */
const REBUILD_SLACK = 64;

/** What DeadlineSlots keeps on each item: the slot it waits in, to leave it in O(1). */
export interface Slotted {
  deadlineSlot: number | undefined;
}

/**
 * Deadlines of many items (a token expiry per connection) on one timer: each
 * item waits in the slot of `slotMs` its deadline rounds up to, and the timer
 * is armed for the earliest slot only. Per item this costs one Set entry and
 * a number, where a timer each would cost a Timeout object and its list
 * entry; an item is never due early, and at most `slotMs` late (plus the
 * event loop). The timer is unref'd and `close()` clears it.
 */
export class DeadlineSlots<T extends Slotted> {
  private readonly slots = new Map<number, Set<T>>();
  /**
   * Slot numbers with items, soonest first (a binary min-heap). A slot
   * emptied by remove() stays until the timer reaches it or the heap is
   * rebuilt (pushSlot), so the same number may be in it more than once.
   */
  private order: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedSlot = Infinity;
  /** Slots count from here: small integers (a slot number from the epoch would be a heap number per item). */
  private readonly origin = Date.now();

  constructor(
    private readonly slotMs: number,
    private readonly due: (item: T) => void,
  ) {}

  /** (Re)places the item at `at` (ms since the epoch). */
  add(item: T, at: number): void {
    const slot = Math.max(0, Math.ceil((at - this.origin) / this.slotMs));
    // The same token again (an `auth` refresh with it): already there.
    if (item.deadlineSlot === slot) return;
    this.remove(item);
    let members = this.slots.get(slot);
    if (members === undefined) {
      members = new Set();
      this.slots.set(slot, members);
      this.pushSlot(slot);
    }
    members.add(item);
    item.deadlineSlot = slot;
    if (slot < this.armedSlot) this.arm(slot);
  }

  remove(item: T): void {
    const slot = item.deadlineSlot;
    if (slot === undefined) return;
    item.deadlineSlot = undefined;
    const members = this.slots.get(slot);
    if (members === undefined) return;
    members.delete(item);
    if (members.size === 0) this.slots.delete(slot);
  }

  get size(): number {
    let size = 0;
    for (const members of this.slots.values()) size += members.size;
    return size;
  }

  /** Slot numbers the timer may still visit, emptied ones included (what the heap holds). */
  get scheduledSlots(): number {
    return this.order.length;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedSlot = Infinity;
    this.slots.clear();
    this.order.length = 0;
  }

  private arm(slot: number): void {
    clearTimeout(this.timer);
    this.armedSlot = slot;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, this.startOf(slot) - Date.now()));
    this.timer = setTimeout(fire, wait, this);
    this.timer.unref();
  }

  /** @internal the timer's callback: hands every item of the slots that passed to `due`. */
  fire(): void {
    this.timer = undefined;
    this.armedSlot = Infinity;
    const now = Date.now();
    while (this.order.length > 0) {
      const slot = this.order[0];
      if (!this.slots.has(slot)) {
        this.popSlot();
        continue;
      }
      if (this.startOf(slot) > now) {
        this.arm(slot);
        return;
      }
      this.popSlot();
      const members = this.slots.get(slot)!;
      this.slots.delete(slot);
      for (const item of members) {
        item.deadlineSlot = undefined;
        this.due(item);
      }
    }
  }

  private startOf(slot: number): number {
    return this.origin + slot * this.slotMs;
  }

  /**
   * Adds a slot to the heap; when emptied slots make up most of it (items
   * re-armed again and again: a connection sending `auth` at every turn it
   * may), rebuilds it from the slots that have items, so it stays within
   * twice their number instead of growing with every re-arm.
   */
  private pushSlot(slot: number): void {
    if (this.order.length >= 2 * this.slots.size + REBUILD_SLACK) {
      // Ascending order is a valid min-heap.
      this.order = [...this.slots.keys()].sort((a, b) => a - b);
      return;
    }
    const heap = this.order;
    let i = heap.push(slot) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= slot) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = slot;
  }

  private popSlot(): void {
    const heap = this.order;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1] < heap[child]) child++;
      if (heap[child] >= last) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
  }
}

function fire<T extends Slotted>(slots: DeadlineSlots<T>): void {
  slots.fire();
}
