import { randomUUID } from 'node:crypto';
import {
  type DueOffline,
  type PresenceChange,
  type PresenceChanges,
  type PresenceCounts,
  type PresencePage,
  type PresenceSweep,
  type PresenceSlot,
  type PresenceStore,
  type UserSlot,
  decodeCursor,
  encodeCursor,
} from './presence-store.port';

/** One topic's presence: maintained counts, a roster array for paging, the bounded change log. */
class TopicPresence {
  connections = 0;
  readonly users = new Map<string, number>();
  /** Users in join order; a leaver's place is taken by the last user (paging by position). */
  readonly roster: string[] = [];
  readonly rosterAt = new Map<string, number>();
  /** The change log: `log[i]` is change number `logStart + i`; `seq` the last one. */
  log: PresenceChange[] = [];
  logStart = 1;
  seq = 0;
  readonly epoch = randomUUID();
}

interface Held {
  deadline: number;
  userId: string | null;
}

/** An instance's entries, and the earliest of their deadlines (no scan while it lies ahead). */
class InstancePresence {
  earliest = Infinity;
  /** `topic \n connectionId` → entry. */
  readonly slots = new Map<string, Held & { topic: string }>();
  /**
   * `userId \n connectionId` → user entry. The user is part of the key: the
   * tracker gives each user's entry on an instance the same connection id
   * (`*`), and Redis keeps them apart under each user's own key.
   */
  readonly users = new Map<string, Held & { userId: string }>();
}

/**
 * Presence in this process: the memory engine's store. Entries expire like
 * Redis ones (the contract is one), though in one process the renewal never
 * lapses. A read first drops the entries of any instance whose earliest
 * deadline has passed: one comparison per instance while none has.
 */
export class MemoryPresenceStore implements PresenceStore {
  private readonly topics = new Map<string, TopicPresence>();
  private readonly instances = new Map<string, InstancePresence>();
  /** Live connections per user, across instances. */
  private readonly online = new Map<string, number>();
  /** Users whose last connection expired (not disconnected), for the next sweep; bounded. */
  private gone = new Map<string, number>();
  /** Users in their offline grace: user → when it ends and when their last connection closed. */
  private readonly graces = new Map<string, { until: number; lastSeen: number }>();

  constructor(private readonly maxLogEntries: number) {}

  join(instanceId: string, slot: PresenceSlot, deadline: number): Promise<void> {
    const instance = this.instance(instanceId);
    const key = `${slot.topic}\n${slot.connectionId}`;
    const held = instance.slots.get(key);
    if (held) held.deadline = Math.max(held.deadline, deadline);
    else {
      instance.slots.set(key, { deadline, userId: slot.userId, topic: slot.topic });
      this.add(slot.topic, slot.userId);
    }
    instance.earliest = Math.min(instance.earliest, deadline);
    return Promise.resolve();
  }

  leave(instanceId: string, slot: PresenceSlot): Promise<void> {
    const instance = this.instances.get(instanceId);
    const key = `${slot.topic}\n${slot.connectionId}`;
    const held = instance?.slots.get(key);
    if (instance && held) {
      instance.slots.delete(key);
      this.remove(held.topic, held.userId);
    }
    return Promise.resolve();
  }

  connect(instanceId: string, slot: UserSlot, deadline: number, now: number): Promise<boolean> {
    this.expire(now);
    const instance = this.instance(instanceId);
    const key = userEntryKey(slot);
    const held = instance.users.get(key);
    instance.earliest = Math.min(instance.earliest, deadline);
    if (held) {
      held.deadline = Math.max(held.deadline, deadline);
      return Promise.resolve(false);
    }
    instance.users.set(key, { deadline, userId: slot.userId });
    const count = (this.online.get(slot.userId) ?? 0) + 1;
    this.online.set(slot.userId, count);
    return Promise.resolve(count === 1 && !this.graces.delete(slot.userId));
  }

  disconnect(
    instanceId: string,
    slot: UserSlot,
    now: number,
    graceUntil?: number,
  ): Promise<boolean> {
    this.expire(now);
    const instance = this.instances.get(instanceId);
    if (!instance?.users.delete(userEntryKey(slot))) {
      return Promise.resolve(!this.online.has(slot.userId));
    }
    this.offline(slot.userId);
    const last = !this.online.has(slot.userId);
    if (last && graceUntil !== undefined) {
      // Re-inserted so the map stays in order of the grace's end (every grace is as long).
      this.graces.delete(slot.userId);
      this.graces.set(slot.userId, { until: graceUntil, lastSeen: now });
    }
    return Promise.resolve(last);
  }

  dueOffline(now: number, limit: number): Promise<DueOffline[]> {
    const due: DueOffline[] = [];
    for (const [userId, { until, lastSeen }] of this.graces) {
      if (until > now || due.length >= limit) break;
      this.graces.delete(userId);
      due.push({ userId, lastSeen });
    }
    return Promise.resolve(due);
  }

  renew(
    instanceId: string,
    slots: readonly PresenceSlot[],
    users: readonly UserSlot[],
    deadline: number,
  ): Promise<void> {
    for (const slot of slots) void this.join(instanceId, slot, deadline);
    for (const user of users) void this.connect(instanceId, user, deadline, -Infinity);
    const instance = this.instances.get(instanceId);
    if (instance && slots.length + users.length === instance.slots.size + instance.users.size) {
      // It named every entry it holds: all now share the new deadline.
      instance.earliest = deadline;
    }
    return Promise.resolve();
  }

  count(topic: string, now: number): Promise<PresenceCounts> {
    this.expire(now);
    const state = this.topics.get(topic);
    return Promise.resolve({ connections: state?.connections ?? 0, users: state?.users.size ?? 0 });
  }

  members(
    topic: string,
    cursor: string | undefined,
    limit: number,
    now: number,
  ): Promise<PresencePage> {
    let start = 0;
    try {
      if (cursor !== undefined) start = Number(decodeCursor(cursor, isPosition));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.expire(now);
    const state = this.topics.get(topic);
    const roster = state?.roster ?? [];
    const names = limit === 0 ? [] : roster.slice(start, start + limit);
    const end = start + names.length;
    return Promise.resolve({
      connections: state?.connections ?? 0,
      users: state?.users.size ?? 0,
      members: names.map((userId) => ({ userId, connections: state?.users.get(userId) ?? 0 })),
      cursor: limit > 0 && end < roster.length ? encodeCursor(String(end)) : null,
    });
  }

  changes(topic: string, cursor: string | undefined, now: number): Promise<PresenceChanges> {
    this.expire(now);
    const state = this.topics.get(topic);
    const counts = { connections: state?.connections ?? 0, users: state?.users.size ?? 0 };
    const next = state ? `${state.epoch}:${state.seq}` : '';
    const [epoch, after] = (cursor ?? '').split(':');
    let changes: PresenceChange[] | undefined;
    if (state && cursor !== undefined && epoch === state.epoch) {
      const from = Number(after) + 1;
      if (from >= state.logStart && from <= state.seq + 1) {
        changes = state.log.slice(from - state.logStart);
      }
    }
    return Promise.resolve({ ...counts, cursor: next, changes });
  }

  isOnline(userId: string, now: number): Promise<boolean> {
    this.expire(now);
    return Promise.resolve(this.online.has(userId));
  }

  onlineUsers(now: number): Promise<number> {
    this.expire(now);
    return Promise.resolve(this.online.size);
  }

  sweep(now: number): Promise<PresenceSweep> {
    const removed = this.expire(now);
    const gone = [...this.gone].map(([userId, deadline]) => ({ userId, deadline }));
    this.gone = new Map();
    return Promise.resolve({ removed, gone });
  }

  private instance(id: string): InstancePresence {
    let instance = this.instances.get(id);
    if (!instance) this.instances.set(id, (instance = new InstancePresence()));
    return instance;
  }

  /** Drops expired entries of instances whose earliest deadline has passed. */
  private expire(now: number): number {
    let removed = 0;
    for (const [id, instance] of this.instances) {
      if (instance.earliest > now) continue;
      let earliest = Infinity;
      for (const [key, held] of instance.slots) {
        if (held.deadline > now) earliest = Math.min(earliest, held.deadline);
        else {
          instance.slots.delete(key);
          this.remove(held.topic, held.userId);
          removed++;
        }
      }
      for (const [key, held] of instance.users) {
        if (held.deadline > now) earliest = Math.min(earliest, held.deadline);
        else {
          instance.users.delete(key);
          this.offline(held.userId);
          if (!this.online.has(held.userId) && this.gone.size < MAX_GONE) {
            this.gone.set(held.userId, held.deadline);
          }
          removed++;
        }
      }
      instance.earliest = earliest;
      if (instance.slots.size + instance.users.size === 0) this.instances.delete(id);
    }
    return removed;
  }

  private add(topic: string, userId: string | null): void {
    let state = this.topics.get(topic);
    if (!state) this.topics.set(topic, (state = new TopicPresence()));
    state.connections++;
    if (userId === null) return;
    const count = (state.users.get(userId) ?? 0) + 1;
    state.users.set(userId, count);
    if (count > 1) return;
    state.rosterAt.set(userId, state.roster.length);
    state.roster.push(userId);
    this.log(state, [userId, true]);
  }

  private remove(topic: string, userId: string | null): void {
    const state = this.topics.get(topic);
    if (!state) return;
    state.connections--;
    if (userId !== null) {
      const count = (state.users.get(userId) ?? 1) - 1;
      if (count > 0) state.users.set(userId, count);
      else {
        state.users.delete(userId);
        const at = state.rosterAt.get(userId) ?? 0;
        const last = state.roster.pop() as string;
        if (last !== userId) {
          state.roster[at] = last;
          state.rosterAt.set(last, at);
        }
        state.rosterAt.delete(userId);
        this.log(state, [userId, false]);
      }
    }
    // The last connection gone: nobody watches the log any more (a watcher is a subscriber).
    if (state.connections === 0) this.topics.delete(topic);
  }

  private offline(userId: string): void {
    const count = (this.online.get(userId) ?? 1) - 1;
    if (count > 0) this.online.set(userId, count);
    else this.online.delete(userId);
  }

  private log(state: TopicPresence, change: PresenceChange): void {
    state.seq++;
    state.log.push(change);
    if (state.log.length > this.maxLogEntries * 2) {
      // Trimmed in halves: amortised O(1) per change, at most twice the bound held.
      const drop = state.log.length - this.maxLogEntries;
      state.log = state.log.slice(drop);
      state.logStart += drop;
    }
  }
}

/** Users gone without a disconnect that one sweep reports at most (memory: one process rarely has any). */
const MAX_GONE = 10_000;

function userEntryKey({ userId, connectionId }: UserSlot): string {
  return `${userId}\n${connectionId}`;
}

function isPosition(value: string): boolean {
  return /^(0|[1-9]\d{0,9})$/.test(value);
}
