import fc from 'fast-check';
import { compareOffsets } from '@nest-realtime/protocol';
import { formatOffset, isAfterOffset, parseOffset } from './offset';

/** Natural order from its definition (PROTOCOL.md §3): digit runs as numbers of any length, the rest as text. */
function natural(a: string, b: string): number {
  const runs = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const [left, right] = [runs(a), runs(b)];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const [x, y] = [left[i], right[i]];
    if (/^\d/.test(x) && /^\d/.test(y)) {
      if (BigInt(x) !== BigInt(y)) return BigInt(x) < BigInt(y) ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return left.length - right.length;
}

const sign = (n: number) => Math.sign(n) || 0;
/** Offsets as servers send them, and strings that only look like them. */
const offsetLike = fc.oneof(
  fc.tuple(fc.nat(), fc.nat()).map(([epoch, seq]) => `${epoch}-${seq}`),
  fc.stringMatching(/^[0-9]{0,30}(-[0-9]{0,30}){0,3}$/),
  fc.stringMatching(/^[0-9a-z-]{0,12}$/),
  fc.string({ unit: 'binary', maxLength: 16 }),
);

/**
 * Offsets (PROTOCOL.md §3): the client's order is natural order, a total
 * order consistent with the server's (epoch, sequence), for any string a
 * server or an attacker could send; parsing never throws.
 */
describe('offset order, for any offset', () => {
  it('is natural order: digit runs as numbers of any length', () => {
    fc.assert(
      fc.property(offsetLike, offsetLike, (a, b) => {
        expect(sign(compareOffsets(a, b))).toBe(sign(natural(a, b)));
      }),
      { numRuns: 5_000 },
    );
  });

  it('is a total order: antisymmetric and transitive', () => {
    fc.assert(
      fc.property(offsetLike, offsetLike, offsetLike, (a, b, c) => {
        expect(sign(compareOffsets(a, b)) + sign(compareOffsets(b, a))).toBe(0);
        if (compareOffsets(a, b) <= 0 && compareOffsets(b, c) <= 0) {
          expect(compareOffsets(a, c)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('agrees with the server: a later epoch, or a later sequence of the same epoch, comes later', () => {
    // Small numbers too, so that equal epochs and equal sequences come up often.
    const part = fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 2 ** 52 }));
    const position = fc.tuple(part, part);
    fc.assert(
      fc.property(position, position, ([e1, s1], [e2, s2]) => {
        const [a, b] = [formatOffset(e1, s1), formatOffset(e2, s2)];
        const expected = e1 !== e2 ? sign(e1 - e2) : sign(s1 - s2);
        expect(sign(compareOffsets(a, b))).toBe(expected);
        expect(parseOffset(a)).toEqual({ epoch: e1, sequence: s1 });
        // A live message comes after a recovery's head when it is later, or of another epoch.
        expect(isAfterOffset(a, b)).toBe(e1 !== e2 || s1 > s2);
      }),
      { numRuns: 5_000 },
    );
  });

  it('parses any string without throwing: an offset or undefined', () => {
    fc.assert(
      fc.property(offsetLike, offsetLike, (a, b) => {
        const parsed = parseOffset(a);
        if (parsed !== undefined)
          expect(formatOffset(parsed.epoch, parsed.sequence)).toBe(
            a.replace(/^0+(?=\d)|(?<=-)0+(?=\d)/g, ''),
          );
        expect(typeof isAfterOffset(a, b)).toBe('boolean');
      }),
      { numRuns: 5_000 },
    );
  });
});
