import { type Offset, parseOffset } from './offsets';
import type { Violations } from './violations';

interface EpochTruth {
  /** The highest sequence anyone saw: every sequence from 1 to it exists (they are contiguous). */
  maxSeq: number;
  /** Ledger id by sequence, where one was seen. */
  ids: Map<number, string>;
}

/**
 * What is known of one topic's messages, from every observation: messages
 * received by any client, heads in `subscribed` replies, offsets returned to
 * publishers. Sequences within an epoch are contiguous from 1, so the highest
 * one seen stands for all those before it.
 */
export class TopicTruth {
  private readonly epochs = new Map<bigint, EpochTruth>();
  private readonly offsetOfId = new Map<string, string>();
  private readonly reported = new Set<string>();

  constructor(
    readonly topic: string,
    private readonly violations: Violations,
  ) {}

  /** Records that `offset` exists (with its ledger id when known) and checks that ids and offsets pair up. */
  note(offset: Offset, ledgerId?: string): void {
    let epoch = this.epochs.get(offset.epoch);
    if (!epoch) {
      epoch = { maxSeq: 0, ids: new Map() };
      this.epochs.set(offset.epoch, epoch);
    }
    epoch.maxSeq = Math.max(epoch.maxSeq, offset.seq);
    if (ledgerId === undefined) return;
    const known = epoch.ids.get(offset.seq);
    if (known === undefined) epoch.ids.set(offset.seq, ledgerId);
    else if (known !== ledgerId) {
      this.reportOnce(
        'two messages at one offset',
        `${this.topic} ${offset.text}: ${known} and ${ledgerId}`,
      );
    }
    const at = this.offsetOfId.get(ledgerId);
    if (at === undefined) this.offsetOfId.set(ledgerId, offset.text);
    else if (at !== offset.text) {
      this.reportOnce(
        'one message at two offsets',
        `${this.topic} ${ledgerId}: ${at} and ${offset.text}`,
      );
    }
  }

  /** Whether a message with this ledger id was seen (at any offset). */
  has(ledgerId: string): boolean {
    return this.offsetOfId.has(ledgerId);
  }

  offsetOf(ledgerId: string): Offset | undefined {
    return parseOffset(this.offsetOfId.get(ledgerId));
  }

  /** Known messages after `from` and before `to` (`to` itself counted when `inclusive`). */
  between(from: Offset, to: Offset, inclusive: boolean): number {
    let count = 0;
    for (const [epoch, truth] of this.epochs) {
      if (epoch < from.epoch || epoch > to.epoch) continue;
      const low = epoch === from.epoch ? from.seq : 0;
      const high = epoch === to.epoch ? (inclusive ? to.seq : to.seq - 1) : truth.maxSeq;
      count += Math.max(0, high - low);
    }
    return count;
  }

  /** Known messages after `from`. */
  after(from: Offset): number {
    let count = 0;
    for (const [epoch, truth] of this.epochs) {
      if (epoch < from.epoch) continue;
      count += Math.max(0, truth.maxSeq - (epoch === from.epoch ? from.seq : 0));
    }
    return count;
  }

  /** The last known offset of the topic (its latest epoch's highest sequence). */
  head(): string | undefined {
    let latest: bigint | undefined;
    for (const epoch of this.epochs.keys())
      if (latest === undefined || epoch > latest) latest = epoch;
    return latest === undefined ? undefined : `${latest}-${this.epochs.get(latest)!.maxSeq}`;
  }

  private reportOnce(
    kind: 'two messages at one offset' | 'one message at two offsets',
    detail: string,
  ): void {
    if (this.reported.has(detail)) return;
    this.reported.add(detail);
    this.violations.add(kind, detail);
  }
}
