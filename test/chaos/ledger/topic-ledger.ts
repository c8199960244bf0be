import { compareOffsets, type Offset, parseOffset } from './offsets';
import { TopicTruth } from './topic-truth';
import type { Violations } from './violations';

export interface SubscribedEntry {
  topic: string;
  offset: string;
  recovered?: boolean;
}

/** Where one client stands on one topic, across its connections. */
interface Cursor {
  /** The last offset the client has every message up to (or was told to resume from). */
  position?: Offset;
  /** Subscribed on the client's current connection. */
  held: boolean;
  /** After `recovered: true`: the replay runs up to this head. */
  replayHead?: Offset;
  /**
   * Since when the client is owed every message of the topic: its first
   * subscription without `since`, or its last `recovered: false`; a
   * reconnect answered `recovered: true` keeps it.
   */
  owedSince?: number;
  /** The last events of this cursor, for the report of a violation. */
  trail: string[];
}

const TRAIL = 16;

function note(cursor: Cursor, event: string): void {
  if (cursor.trail.push(event) > TRAIL) cursor.trail.shift();
}

/** A violation's detail with what led to it. */
const traced = (cursor: Cursor, detail: string) => `${detail} [${cursor.trail.join(' | ')}]`;

/** A jump to another epoch: decided at the end, once every epoch's messages are known. */
interface EpochJump {
  client: string;
  topic: string;
  from: Offset;
  to: Offset;
  /** Announced by `recovered: false`: what falls in between is lost honestly. */
  announced: boolean;
}

export interface TopicTotals {
  delivered: number;
  /** Messages replayed after `recovered: true`. */
  recovered: number;
  /** `recovered: false` answers (the client was told to refetch). */
  resyncs: number;
  /** Messages a client missed under a `recovered: false` (lost honestly). */
  coveredByResync: number;
  /** Messages a client missed without being told. */
  lost: number;
  duplicates: number;
  outOfOrder: number;
}

/**
 * The topic-message part of the ledger (docs/guarantees.md, "What always
 * holds"). Fed every frame a client's SDK processes, per client across its
 * connections, it checks: offsets strictly increasing per topic (no
 * duplicate, no reordering, across reconnects too); no gap, where a gap is
 * any known message between two consecutive ones a client got; a jump is
 * allowed only where a `recovered: false` announced it; `recovered: true`
 * only for the client's own position; and, at the end, every client still
 * there has every message of its topics.
 */
export class TopicLedger {
  private readonly truths = new Map<string, TopicTruth>();
  private readonly cursors = new Map<string, Map<string, Cursor>>();
  private readonly jumps: EpochJump[] = [];
  private readonly totals: TopicTotals = {
    delivered: 0,
    recovered: 0,
    resyncs: 0,
    coveredByResync: 0,
    lost: 0,
    duplicates: 0,
    outOfOrder: 0,
  };

  constructor(private readonly violations: Violations) {}

  truth(topic: string): TopicTruth {
    let truth = this.truths.get(topic);
    if (!truth) {
      truth = new TopicTruth(topic, this.violations);
      this.truths.set(topic, truth);
    }
    return truth;
  }

  /**
   * A `subscribed` frame on the client's current connection. `since` is what
   * the request sent; `solicited` is false for a frame without `ref` (sent
   * by the server on its own).
   */
  subscribed(
    client: string,
    entries: readonly SubscribedEntry[],
    since: Readonly<Record<string, string>> | undefined,
    solicited: boolean,
  ): void {
    for (const { topic, offset, recovered } of entries) {
      const head = parseOffset(offset);
      const cursor = this.cursor(client, topic);
      if (!head) {
        this.violations.add('inconsistent subscribed reply', `${client} ${topic}: head ${offset}`);
        continue;
      }
      this.truth(topic).note(head);
      const asked = since !== undefined && Object.hasOwn(since, topic) ? since[topic] : undefined;
      note(
        cursor,
        `${solicited ? 'subscribed' : 'announced'}(since ${asked ?? '-'}) ${offset} ${recovered ?? ''}`,
      );
      if (!solicited) this.serverInitiated(client, topic, cursor, head, recovered);
      else if (recovered === true) this.recovered(client, topic, cursor, head, asked);
      else if (recovered === false) this.resync(client, topic, cursor, head, asked ?? 'none');
      else if (!cursor.held) {
        if (asked !== undefined) {
          this.violations.add(
            'inconsistent subscribed reply',
            traced(cursor, `${client} ${topic}: since ${asked} answered without recovered`),
          );
        }
        // A subscription without `since`: the client starts from the head.
        cursor.position = head;
        cursor.owedSince = Date.now();
      } else if (cursor.position && compareOffsets(head, cursor.position) < 0) {
        this.violations.add(
          'inconsistent subscribed reply',
          traced(cursor, `${client} ${topic}: head ${offset} before ${cursor.position.text}`),
        );
      }
      cursor.held = true;
    }
  }

  message(client: string, topic: string, offsetText: unknown, ledgerId: string | undefined): void {
    const cursor = this.cursor(client, topic);
    const offset = parseOffset(offsetText);
    if (!cursor.held || !cursor.position || !offset) {
      this.violations.add(
        'message outside a subscription',
        `${client} ${topic} ${String(offsetText)} (held: ${cursor.held})`,
      );
      return;
    }
    this.totals.delivered++;
    note(cursor, offset.text);
    this.truth(topic).note(offset, ledgerId);
    const order = compareOffsets(offset, cursor.position);
    if (order <= 0) {
      const kind = order === 0 ? 'duplicate offset' : 'out of order';
      this.totals[order === 0 ? 'duplicates' : 'outOfOrder']++;
      this.violations.add(
        kind,
        traced(cursor, `${client} ${topic}: ${offset.text} after ${cursor.position.text}`),
      );
      return;
    }
    if (offset.epoch === cursor.position.epoch) {
      const missed = offset.seq - cursor.position.seq - 1;
      if (missed > 0) this.lose(client, topic, cursor.position, offset, missed);
    } else {
      this.jumps.push({ client, topic, from: cursor.position, to: offset, announced: false });
    }
    if (cursor.replayHead && compareOffsets(offset, cursor.replayHead) <= 0)
      this.totals.recovered++;
    else cursor.replayHead = undefined;
    cursor.position = offset;
  }

  /** The client's connection ended: nothing is held until it subscribes again. */
  connectionEnded(client: string): void {
    for (const cursor of this.cursors.get(client)?.values() ?? []) {
      if (cursor.held) note(cursor, 'closed');
      cursor.held = false;
      cursor.replayHead = undefined;
    }
  }

  /** A publisher learned its message's offset (a client's `published` reply). */
  confirmed(topic: string, offsetText: string, ledgerId: string): void {
    const offset = parseOffset(offsetText);
    if (offset) this.truth(topic).note(offset, ledgerId);
  }

  /** Whether every client in `clients` holds each of its topics and has reached the topic's known head. */
  caughtUp(clients: Iterable<string>): boolean {
    for (const client of clients) {
      for (const [topic, cursor] of this.cursors.get(client) ?? []) {
        if (!cursor.held || !cursor.position) return false;
        if (this.truth(topic).after(cursor.position) > 0) return false;
      }
    }
    return true;
  }

  /**
   * For each topic, the earliest time since which one of `clients` has been
   * owed every message: a publish confirmed after it must have reached them.
   */
  owedSince(clients: Iterable<string>): Map<string, number> {
    const earliest = new Map<string, number>();
    for (const client of clients) {
      for (const [topic, cursor] of this.cursors.get(client) ?? []) {
        if (cursor.owedSince === undefined || !cursor.held) continue;
        earliest.set(topic, Math.min(earliest.get(topic) ?? Infinity, cursor.owedSince));
      }
    }
    return earliest;
  }

  /**
   * Decides the epoch jumps against what is now known, and checks that every
   * client in `present` (connected at the end) holds its topics and has
   * every known message of them.
   */
  finish(present: Iterable<string>): TopicTotals {
    for (const jump of this.jumps.splice(0)) {
      const truth = this.truth(jump.topic);
      if (jump.announced) {
        this.totals.coveredByResync += truth.between(jump.from, jump.to, true);
        continue;
      }
      const missed = truth.between(jump.from, jump.to, false);
      if (missed > 0) this.lose(jump.client, jump.topic, jump.from, jump.to, missed);
    }
    for (const client of present) {
      for (const [topic, cursor] of this.cursors.get(client) ?? []) {
        const truth = this.truth(topic);
        if (!cursor.held || !cursor.position) {
          this.violations.add('not delivered by the end', `${client} ${topic}: not subscribed`);
          continue;
        }
        const missing = truth.after(cursor.position);
        if (missing === 0) continue;
        this.totals.lost += missing;
        this.violations.add(
          'not delivered by the end',
          `${client} ${topic}: at ${cursor.position.text}, head ${truth.head()} (${missing} missing)`,
          missing,
        );
      }
    }
    return { ...this.totals };
  }

  private recovered(
    client: string,
    topic: string,
    cursor: Cursor,
    head: Offset,
    asked: string | undefined,
  ): void {
    if (cursor.held) {
      this.violations.add(
        'inconsistent subscribed reply',
        traced(cursor, `${client} ${topic}: recovered while held`),
      );
    }
    if (!cursor.position || asked !== cursor.position.text) {
      this.violations.add(
        'inconsistent subscribed reply',
        traced(
          cursor,
          `${client} ${topic}: recovered from ${asked}, client at ${cursor.position?.text}`,
        ),
      );
      return;
    }
    if (compareOffsets(head, cursor.position) < 0) {
      this.violations.add(
        'inconsistent subscribed reply',
        traced(cursor, `${client} ${topic}: recovered head ${head.text} before since ${asked}`),
      );
    }
    cursor.replayHead = head;
  }

  /** `recovered: false`: whatever lies between the client's position and the head is lost honestly. */
  private resync(client: string, topic: string, cursor: Cursor, head: Offset, asked: string): void {
    this.totals.resyncs++;
    if (!cursor.position || asked !== cursor.position.text) {
      this.violations.add(
        'inconsistent subscribed reply',
        traced(
          cursor,
          `${client} ${topic}: resync for ${asked}, client at ${cursor.position?.text}`,
        ),
      );
    } else if (compareOffsets(head, cursor.position) > 0) {
      if (head.epoch === cursor.position.epoch) {
        this.totals.coveredByResync += head.seq - cursor.position.seq;
      } else {
        this.jumps.push({ client, topic, from: cursor.position, to: head, announced: true });
      }
    }
    cursor.position = head;
    cursor.replayHead = undefined;
    cursor.owedSince = Date.now();
  }

  /** A `subscribed` without `ref`: the server's own announcement on a held topic. */
  private serverInitiated(
    client: string,
    topic: string,
    cursor: Cursor,
    head: Offset,
    recovered: boolean | undefined,
  ): void {
    if (recovered === false && cursor.held && cursor.position) {
      this.resync(client, topic, cursor, head, cursor.position.text);
      return;
    }
    this.violations.add(
      'inconsistent subscribed reply',
      traced(
        cursor,
        `${client} ${topic}: unsolicited subscribed (recovered ${recovered}, held ${cursor.held})`,
      ),
    );
  }

  private lose(client: string, topic: string, from: Offset, to: Offset, missed: number): void {
    this.totals.lost += missed;
    this.violations.add(
      'gap',
      `${client} ${topic}: ${from.text} → ${to.text} (${missed} missed)`,
      missed,
    );
  }

  private cursor(client: string, topic: string): Cursor {
    let topics = this.cursors.get(client);
    if (!topics) {
      topics = new Map();
      this.cursors.set(client, topics);
    }
    let cursor = topics.get(topic);
    if (!cursor) {
      cursor = { held: false, trail: [] };
      topics.set(topic, cursor);
    }
    return cursor;
  }
}
