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
 * it waits), and a payload the caller changes after the send is not changed
 * in the inbox.
 */
interface Entry {
  json: string | undefined;
  readonly id: string;
  readonly userId: string;
  readonly bytes: number;
  readonly at: number;
}

interface Inbox {
  /** Insertion order is send order: the first entry is the oldest. */
  messages: Map<string, Entry>;
  bytes: number;
}

/** Inboxes of one process (memory mode): bounded per user, and in how many users have one. */
export class MemoryOfflineStore implements OfflineStore {
  private readonly inboxes = new Map<string, Inbox>();
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
    const { json } = message;
    const bytes = Buffer.byteLength(json);
    if (bytes > limits.maxBytes) {
      return Promise.reject(
        new OfflineInboxFullError(
          message.userId,
          `the message alone is over ${limits.maxBytes} bytes`,
        ),
      );
    }
    let inbox = this.inboxes.get(message.userId);
    const fresh = inbox === undefined;
    if (!inbox) {
      if (this.inboxes.size >= this.maxUsers) {
        return Promise.reject(
          new OfflineInboxFullError(message.userId, `${this.maxUsers} users already have an inbox`),
        );
      }
      inbox = { messages: new Map(), bytes: 0 };
    }
    let evicted: DeadLetter[] | undefined;
    while (inbox.messages.size >= limits.maxMessages || inbox.bytes + bytes > limits.maxBytes) {
      if (limits.whenFull === 'reject') {
        return Promise.reject(
          new OfflineInboxFullError(
            message.userId,
            `${inbox.messages.size} messages, ${inbox.bytes} bytes waiting`,
          ),
        );
      }
      const [oldest] = inbox.messages.values();
      (evicted ??= []).push(
        this.remove(inbox, oldest, 'evicted', message.ts, limits.deadLetterLimit),
      );
      this.deadlines.markStale(this.liveDeadlines);
    }
    // Evicting every message took the inbox out of the map (take): it goes back with the new one.
    if (fresh || evicted) this.inboxes.set(message.userId, inbox);
    const entry: Entry = {
      json,
      id: message.id,
      userId: message.userId,
      bytes,
      at: message.expiresAt,
    };
    inbox.messages.set(message.id, entry);
    inbox.bytes += bytes;
    this.counts.pending++;
    this.deadlines.push(entry);
    const online = this.isOnline(message.userId);
    if (evicted) return Promise.resolve({ evicted, online });
    return Promise.resolve(online ? STORED_ONLINE : STORED_OFFLINE);
  }

  pending(userId: string, now: number): Promise<OfflineMessage[]> {
    const inbox = this.inboxes.get(userId);
    if (!inbox) return Promise.resolve([]);
    const waiting: OfflineMessage[] = [];
    for (const { json, at } of inbox.messages.values()) {
      if (at > now) waiting.push(JSON.parse(json!) as OfflineMessage);
    }
    return Promise.resolve(waiting);
  }

  ack(userId: string, ids: readonly string[]): Promise<number> {
    const inbox = this.inboxes.get(userId);
    let removed = 0;
    if (inbox) {
      for (const id of ids) {
        const entry = inbox.messages.get(id);
        if (!entry) continue;
        this.take(inbox, entry);
        this.deadlines.markStale(this.liveDeadlines);
        removed++;
      }
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
    const inbox = this.inboxes.get(userId);
    const entry = inbox?.messages.get(id);
    if (!inbox || !entry) return Promise.resolve(undefined);
    const letter = this.remove(inbox, entry, 'expired', now, deadLetterLimit);
    this.deadlines.markStale(this.liveDeadlines);
    return Promise.resolve(letter);
  }

  expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    while (letters.length < limit) {
      const due = this.deadlines.popDue(now);
      if (due === undefined) break;
      if (due.json === undefined) {
        this.deadlines.skippedStale();
      } else {
        const inbox = this.inboxes.get(due.userId)!;
        letters.push(this.remove(inbox, due, 'expired', now, deadLetterLimit));
      }
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
    inbox: Inbox,
    entry: Entry,
    reason: DeadLetter['reason'],
    now: number,
    deadLetterLimit: number,
  ): DeadLetter {
    const message = JSON.parse(entry.json!) as OfflineMessage;
    this.take(inbox, entry);
    const letter: DeadLetter = { ...message, reason, deadAt: now };
    this.dead.push(letter);
    if (this.dead.length > deadLetterLimit) this.dead.splice(0, this.dead.length - deadLetterLimit);
    this.counts.deadLettered++;
    return letter;
  }

  /** Takes a waiting entry out of its inbox; its heap entry is stale from then on. */
  private take(inbox: Inbox, entry: Entry): void {
    const { userId, id } = entry;
    entry.json = undefined;
    inbox.messages.delete(id);
    inbox.bytes -= entry.bytes;
    this.counts.pending--;
    if (inbox.messages.size === 0) this.inboxes.delete(userId);
  }

  private *waitingDeadlines(): Iterable<Entry> {
    for (const inbox of this.inboxes.values()) yield* inbox.messages.values();
  }
}
