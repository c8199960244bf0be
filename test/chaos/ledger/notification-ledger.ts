import type { Violations } from './violations';

interface Notification {
  user: string;
  /** When the request was sent: the server's `expiresAt` is at least this plus the TTL. */
  requestedAt: number;
  /** When the 202 arrived: the message was stored and scheduled by then. */
  confirmedAt: number;
  ttlMs: number;
}

/** What the ledger needs to know of a connection's reading of the inbox. */
export interface InboxReading {
  /** The instance it reached (excuses read with the faults of that instance). */
  instance?: number;
  connectedAt: number;
}

/** Whether faults kept the inbox read of a connection from Redis during [from, to]. */
export type ReadExcuse = (connection: InboxReading, from: number, to: number) => boolean;

interface UserConnection extends InboxReading {
  closedAt?: number;
  received: Set<string>;
}

export interface NotificationTotals {
  sent: number;
  /** Acknowledged (the client got `acked` for it). */
  acked: number;
  /** Dead-lettered (handed to the app's handler). */
  deadLettered: number;
  /** Erased by a restart of Redis without persistence while pending (documented). */
  erased: number;
  /** Received more than once by one user (at least once: allowed). */
  redelivered: number;
}

/** Counters of GET /ws/stats `offline`, cluster-wide in Redis mode. */
export interface OfflineCounters {
  pending: number;
  delivered: number;
  deadLettered: number;
}

/**
 * Offline (retained) notifications (docs/guarantees.md): each one confirmed
 * by the route is settled exactly once, acknowledged or dead-lettered, or was
 * erased by a restart of Redis without persistence while it was pending (the
 * one loss the guarantees document); and a connection a user opens while one
 * is pending gets it, right after `connected`.
 */
export class NotificationLedger {
  private readonly sent = new Map<string, Notification>();
  private readonly ackedAt = new Map<string, number>();
  private readonly received = new Map<string, number>();
  private readonly deadLetters = new Set<string>();
  private readonly connections = new Map<string, UserConnection[]>();
  private redelivered = 0;

  constructor(private readonly violations: Violations) {}

  notified(
    id: string,
    user: string,
    requestedAt: number,
    confirmedAt: number,
    ttlMs: number,
  ): void {
    this.sent.set(id, { user, requestedAt, confirmedAt, ttlMs });
  }

  /** A connection of `user` received `connected`; returns its record for the frames that follow. */
  connected(user: string, at: number, instance?: number): UserConnection {
    const connection: UserConnection = { instance, connectedAt: at, received: new Set() };
    let list = this.connections.get(user);
    if (!list) {
      list = [];
      this.connections.set(user, list);
    }
    list.push(connection);
    return connection;
  }

  closed(connection: UserConnection, at: number): void {
    connection.closedAt ??= at;
  }

  delivered(connection: UserConnection, id: string, at: number): void {
    connection.received.add(id);
    if (this.received.has(id)) this.redelivered++;
    else this.received.set(id, at);
  }

  acked(ids: readonly string[], at: number): void {
    for (const id of ids) if (!this.ackedAt.has(id)) this.ackedAt.set(id, at);
  }

  deadLettered(id: string): void {
    this.deadLetters.add(id);
  }

  /** Whether every confirmed notification is acknowledged or dead-lettered (or erased, per `erasedBy`). */
  settled(erasedBy: (sentAt: number, settledBy: number) => boolean): boolean {
    const now = Date.now();
    for (const [id, n] of this.sent) {
      if (this.ackedAt.has(id) || this.deadLetters.has(id)) continue;
      if (!erasedBy(n.requestedAt, now)) return false;
    }
    return true;
  }

  /**
   * `erasedBy(sentAt, settledBy)`: whether Redis was restarted without
   * persistence after the message was sent and before it was settled.
   * `counters` are the cluster's at the end; the last such restart (`reset`)
   * set them to zero: they must count what the ledger saw since, where a
   * message sent while Redis restarted may count on either side.
   */
  finish(
    erasedBy: (sentAt: number, settledBy: number) => boolean,
    counters: { reset?: { start: number; end: number }; values: OfflineCounters } | undefined,
    reading: { graceMs: number; excused: ReadExcuse },
  ): NotificationTotals {
    const totals: NotificationTotals = {
      sent: this.sent.size,
      acked: 0,
      deadLettered: 0,
      erased: 0,
      redelivered: this.redelivered,
    };
    const sinceReset = { acked: 0, dead: 0, ambiguousAcked: 0, ambiguousDead: 0 };
    const reset = counters?.reset;
    for (const [id, n] of this.sent) {
      const ackedAt = this.ackedAt.get(id);
      const dead = this.deadLetters.has(id);
      const settledAt = ackedAt ?? Number.POSITIVE_INFINITY;
      if (dead) {
        totals.deadLettered++;
        // An ack processed before the TTL could have passed removed it: a dead letter then settles it twice.
        if (ackedAt !== undefined && ackedAt < n.requestedAt + n.ttlMs) {
          this.violations.add('notification settled twice', `${id} acked, then dead-lettered`);
        }
      } else if (ackedAt !== undefined) {
        totals.acked++;
      } else if (erasedBy(n.requestedAt, Number.POSITIVE_INFINITY)) {
        totals.erased++;
        continue;
      } else {
        this.violations.add('notification not settled', `${id} for ${n.user}`);
        continue;
      }
      if (!reset || n.requestedAt > reset.end) {
        if (dead) sinceReset.dead++;
        else sinceReset.acked++;
      } else if (n.confirmedAt >= reset.start) {
        if (dead) sinceReset.ambiguousDead++;
        else sinceReset.ambiguousAcked++;
      }
      this.checkConnections(id, n, settledAt, erasedBy, reading);
    }
    // Sent, but the route's answer was lost (a timeout, a killed instance): may count on either side.
    for (const id of this.ackedAt.keys()) {
      if (!this.sent.has(id) && !this.deadLetters.has(id)) sinceReset.ambiguousAcked++;
    }
    for (const id of this.deadLetters) if (!this.sent.has(id)) sinceReset.ambiguousDead++;
    if (counters) {
      const { values } = counters;
      const within = (value: number, least: number, extra: number) =>
        value >= least && value <= least + extra;
      if (
        values.pending !== 0 ||
        !within(values.delivered, sinceReset.acked, sinceReset.ambiguousAcked) ||
        !within(values.deadLettered, sinceReset.dead, sinceReset.ambiguousDead)
      ) {
        this.violations.add(
          'offline counters disagree',
          `counters ${JSON.stringify(values)}; ledger since the last reset: ${JSON.stringify(sinceReset)}`,
        );
      }
    }
    return totals;
  }

  /**
   * Every connection opened while the message was pending (stored before,
   * not yet expired nor acknowledged) must have received it, unless it
   * closed within `graceMs` (the time the server takes to read the inbox,
   * retries included), faults kept its instance from Redis meanwhile, the
   * message was erased before that connection, or another connection
   * acknowledged it within that time (the read may come after the ack, and
   * an acknowledged message is owed to no one).
   */
  private checkConnections(
    id: string,
    n: Notification,
    settledAt: number,
    erasedBy: (sentAt: number, settledBy: number) => boolean,
    { graceMs, excused }: { graceMs: number; excused: ReadExcuse },
  ): void {
    const owedBy = Math.min(n.requestedAt + n.ttlMs, settledAt) - graceMs;
    for (const connection of this.connections.get(n.user) ?? []) {
      const at = connection.connectedAt;
      if (at <= n.confirmedAt || at >= owedBy) continue;
      if ((connection.closedAt ?? Number.POSITIVE_INFINITY) - at < graceMs) continue;
      if (connection.received.has(id) || erasedBy(n.requestedAt, at)) continue;
      if (excused(connection, at, at + graceMs)) continue;
      this.violations.add(
        'notification not sent on a new connection',
        `${id} for ${n.user}: connection at +${at - n.confirmedAt} ms did not get it (settled at +${settledAt - n.confirmedAt} ms)`,
      );
      return;
    }
  }
}
