import { compareOffsets } from './offset-order';

describe('compareOffsets', () => {
  it.each([
    ['17', '102'],
    ['1700000000000-3', '1700000000000-12'],
    ['1700000000000-99', '1700000000001-1'],
    ['9-99999999999999999999', '9-100000000000000000000'],
    ['a-2', 'b-1'],
    ['5', '5-1'],
  ])('orders %s before %s (natural order, PROTOCOL.md §3)', (earlier, later) => {
    expect(compareOffsets(earlier, later)).toBeLessThan(0);
    expect(compareOffsets(later, earlier)).toBeGreaterThan(0);
  });

  it('treats equal offsets, leading zeros included, as the same position', () => {
    expect(compareOffsets('12-7', '12-7')).toBe(0);
    expect(compareOffsets('12-07', '12-7')).toBe(0);
  });
});
