import { DeadlineHeap } from './deadline-heap';
import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { OfflineInboxFullError } from './offline-message';
import {
  type InboxLimits,
  type OfflineStore,
  type RetainedMessage,
  STORED_OFFLINE,
  STORED_ONLINE,
  type StoredMessage,
} from './offline-store.port';

/**
 * A waiting message, which is also its own entry in the deadline heap (`at`
 * is its expiry): no deadline object per message, and the heap knows an
 * entry is stale without looking it up, by `json` cleared when it left its
 * inbox (which also lets the text go before the heap drops the entry). Kept
 * as its JSON, as the Redis store keeps it: one string instead of the
 * caller's payload objects (fewer objects for the collector to carry while
 * it waits).
 */
class Entry {
  constructor(
    public json: string | undefined,
    readonly id: string,
    readonly userId: string,
    readonly bytes: number,
    readonly at: number,
  ) {}
}

/** The inbox of a user with several messages; insertion order is send order. */
class Inbox {
  readonly messages = new Map<string, Entry>();
  bytes = 0;

  constructor(...entries: Entry[]) {
    for (const entry of entries) this.add(entry);
  }

  add(entry: Entry): void {
    this.messages.set(entry.id, entry);
    this.bytes += entry.bytes;
  }
}

/**
 * What a user's inbox is held as: the entry alone while they have one
 * message (a notification burst to many users), else an Inbox. With a map
 * per user, the store's own objects took about 350 bytes per message for
 * users with one; the entry alone takes about 125 (the JSON aside).
 */
type Held = Entry | Inbox;

const countOf = (held: Held) => (held instanceof Entry ? 1 : held.messages.size);
const oldestOf = (held: Held) =>
  held instanceof Entry ? held : held.messages.values().next().value!;
const entryOf = (held: Held | undefined, id: string) =>
  held instanceof Entry ? (held.id === id ? held : undefined) : held?.messages.get(id);

/** Inboxes of one process (memory mode): bounded per user, and in how many users have one. */
export class MemoryOfflineStore implements OfflineStore {
  private readonly inboxes = new Map<string, Held>();
  /** Oldest first; trimmed to the dead-letter limit. */
  private readonly dead: DeadLetter[] = [];
  private readonly counts: OfflineStats = { pending: 0, delivered: 0, deadLettered: 0 };
  /** Every waiting message (and a bounded number of stale entries). */
  private readonly deadlines = new DeadlineHeap<Entry>();
  private readonly liveDeadlines = () => this.waitingDeadlines();

  /**
   * `isOnline`: whether the user has a connection open (this process's
   * registry, which in memory mode is every connection); asked right after
   * the write, in the same synchronous step, so a connection it misses is
   * registered after the message was kept and reads it from the inbox.
   * Without it every user counts as online (every add asks for a live push).
   */
  constructor(
    private readonly maxUsers: number,
    private readonly isOnline: (userId: string) => boolean = () => true,
  ) {}

  add(message: RetainedMessage, limits: InboxLimits): Promise<StoredMessage> {
    const { json, userId } = message;
    const bytes = Buffer.byteLength(json);
    if (bytes > limits.maxBytes) {
      return Promise.reject(
        new OfflineInboxFullError(userId, `the message alone is over ${limits.maxBytes} bytes`),
      );
    }
    let held = this.inboxes.get(userId);
    if (held === undefined && this.inboxes.size >= this.maxUsers) {
      return Promise.reject(
        new OfflineInboxFullError(userId, `${this.maxUsers} users already have an inbox`),
      );
    }
    let evicted: DeadLetter[] | undefined;
    while (
      held !== undefined &&
      (countOf(held) >= limits.maxMessages || held.bytes + bytes > limits.maxBytes)
    ) {
      if (limits.whenFull === 'reject') {
        return Promise.reject(
          new OfflineInboxFullError(
            userId,
            `${countOf(held)} messages, ${held.bytes} bytes waiting`,
          ),
        );
      }
      const letter = this.remove(oldestOf(held), 'evicted', message.ts, limits.deadLetterLimit);
      (evicted ??= []).push(letter);
      this.deadlines.markStale(this.liveDeadlines);
      held = this.inboxes.get(userId);
    }
    const entry = new Entry(json, message.id, userId, bytes, message.expiresAt);
    if (held === undefined) this.inboxes.set(userId, entry);
    else if (held instanceof Entry) this.inboxes.set(userId, new Inbox(held, entry));
    else held.add(entry);
    this.counts.pending++;
    this.deadlines.push(entry);
    const online = this.isOnline(userId);
    if (evicted) return Promise.resolve({ evicted, online });
    return Promise.resolve(online ? STORED_ONLINE : STORED_OFFLINE);
  }

  pending(userId: string, now: number): Promise<OfflineMessage[]> {
    const held = this.inboxes.get(userId);
    if (!held) return Promise.resolve([]);
    const waiting: OfflineMessage[] = [];
    for (const { json, at } of held instanceof Entry ? [held] : held.messages.values()) {
      if (at > now) waiting.push(JSON.parse(json!) as OfflineMessage);
    }
    return Promise.resolve(waiting);
  }

  ack(userId: string, ids: readonly string[]): Promise<number> {
    let removed = 0;
    for (const id of ids) {
      const entry = entryOf(this.inboxes.get(userId), id);
      if (!entry) continue;
      this.take(entry);
      this.deadlines.markStale(this.liveDeadlines);
      removed++;
    }
    this.counts.delivered += removed;
    return Promise.resolve(removed);
  }

  expire(
    userId: string,
    id: string,
    now: number,
    deadLetterLimit: number,
  ): Promise<DeadLetter | undefined> {
    const entry = entryOf(this.inboxes.get(userId), id);
    if (!entry) return Promise.resolve(undefined);
    const letter = this.remove(entry, 'expired', now, deadLetterLimit);
    this.deadlines.markStale(this.liveDeadlines);
    return Promise.resolve(letter);
  }

  expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    while (letters.length < limit) {
      const due = this.deadlines.popDue(now);
      if (due === undefined) break;
      if (due.json === undefined) this.deadlines.skippedStale();
      else letters.push(this.remove(due, 'expired', now, deadLetterLimit));
    }
    return Promise.resolve(letters);
  }

  /** Deadlines held, stale ones included (for the bound's test). */
  get deadlinesHeld(): number {
    return this.deadlines.size;
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    return Promise.resolve(limit > 0 ? this.dead.slice(-limit).reverse() : []);
  }

  stats(): Promise<OfflineStats> {
    return Promise.resolve({ ...this.counts });
  }

  private remove(
    entry: Entry,
    reason: DeadLetter['reason'],
    now: number,
    deadLetterLimit: number,
  ): DeadLetter {
    const message = JSON.parse(entry.json!) as OfflineMessage;
    this.take(entry);
    const letter: DeadLetter = { ...message, reason, deadAt: now };
    this.dead.push(letter);
    if (this.dead.length > deadLetterLimit) this.dead.splice(0, this.dead.length - deadLetterLimit);
    this.counts.deadLettered++;
    return letter;
  }

  /** Takes a waiting entry out of its inbox; its heap entry is stale from then on. */
  private take(entry: Entry): void {
    const { userId, id } = entry;
    entry.json = undefined;
    this.counts.pending--;
    const held = this.inboxes.get(userId);
    if (held === entry) {
      this.inboxes.delete(userId);
    } else if (held instanceof Inbox) {
      held.messages.delete(id);
      held.bytes -= entry.bytes;
      // Back to the entry alone: a user down to one message holds no map.
      if (held.messages.size === 1) this.inboxes.set(userId, oldestOf(held));
    }
  }

  private *waitingDeadlines(): Iterable<Entry> {
    for (const held of this.inboxes.values()) {
      if (held instanceof Entry) yield held;
      else yield* held.messages.values();
    }
  }
}
