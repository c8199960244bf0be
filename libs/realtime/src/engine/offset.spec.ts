import fc from 'fast-check';
import { EpochClock, formatOffset, parseOffset } from './offset';

/** Natural order as PROTOCOL.md §3 defines it: digit runs compared as numbers. */
const natural = new Intl.Collator('en', { numeric: true });

describe('offsets', () => {
  it('round-trip', () => {
    expect(parseOffset(formatOffset(1_700_000_000_000, 12))).toEqual({
      epoch: 1_700_000_000_000,
      sequence: 12,
    });
  });

  it.each(['', '12', '-1', 'a-1', '1-', '1-2-3', '01x-2', `${'9'.repeat(17)}-1`])(
    'refuses %j',
    (offset) => {
      expect(parseOffset(offset)).toBeUndefined();
    },
  );

  it('refuses a string longer than any offset, and reads the longest one', () => {
    expect(parseOffset(`1-${'0'.repeat(1_000_000)}1`)).toBeUndefined();
    expect(parseOffset(`${'1'.repeat(16)}-${'2'.repeat(16)}`)).toEqual({
      epoch: 1_111_111_111_111_111,
      sequence: 2_222_222_222_222_222,
    });
  });

  it('later sequences of one epoch sort later in natural order', () => {
    fc.assert(
      fc.property(fc.nat(1e12), fc.nat(1e9), fc.nat(1e9), (epoch, a, b) => {
        fc.pre(a < b);
        expect(natural.compare(formatOffset(epoch, a), formatOffset(epoch, b))).toBeLessThan(0);
      }),
    );
  });

  it('epochs strictly increase even within one millisecond', () => {
    const clock = new EpochClock();
    const epochs = [clock.next(100), clock.next(100), clock.next(99), clock.next(500)];
    expect(epochs).toEqual([100, 101, 102, 500]);
  });
});
