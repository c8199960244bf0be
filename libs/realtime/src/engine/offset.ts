import { MAX_OFFSET_LENGTH } from '../protocol';

/**
 * Offsets are `<epoch>-<sequence>`: the epoch changes whenever a topic's
 * history is lost (restart, eviction), so an offset from before is recognised
 * as unrecoverable instead of being confused with a new message. Both parts are
 * digit runs, so offsets sort in natural order (PROTOCOL.md §3).
 */
export function formatOffset(epoch: number, sequence: number): string {
  return `${epoch}-${sequence}`;
}

/**
 * Undefined for anything but an offset of ours. A client's `since` may be any
 * string up to the frame size; one longer than an offset can be is refused
 * before the pattern reads it.
 */
export function parseOffset(offset: string): { epoch: number; sequence: number } | undefined {
  if (offset.length > MAX_OFFSET_LENGTH) return undefined;
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(offset);
  if (!match) return undefined;
  const epoch = Number(match[1]);
  const sequence = Number(match[2]);
  return Number.isSafeInteger(epoch) && Number.isSafeInteger(sequence)
    ? { epoch, sequence }
    : undefined;
}

/** Strictly increasing epochs even when several topics start in the same millisecond. */
export class EpochClock {
  private last = 0;

  next(now: number): number {
    this.last = Math.max(now, this.last + 1);
    return this.last;
  }
}

/** Whether `offset` comes after `head`: a later sequence of the same epoch, or another epoch (history was reset). */
export function isAfterOffset(offset: string, head: string): boolean {
  const position = parseOffset(offset);
  const base = parseOffset(head);
  if (base === undefined || position === undefined) return true;
  return position.epoch !== base.epoch || position.sequence > base.sequence;
}
