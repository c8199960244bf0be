import { netChanges } from './net-changes';

describe('netChanges', () => {
  it('keeps joins and leaves that last', () => {
    expect(
      netChanges([
        ['ann', true],
        ['bob', false],
      ]),
    ).toEqual({ joined: ['ann'], left: ['bob'] });
  });

  it('hides a flap either way: left and back, or came and went', () => {
    expect(
      netChanges([
        ['ann', false],
        ['bob', true],
        ['ann', true],
        ['bob', false],
        ['cid', true],
      ]),
    ).toEqual({ joined: ['cid'], left: [] });
  });

  it('nets a long run to its ends', () => {
    expect(
      netChanges([
        ['ann', true],
        ['ann', false],
        ['ann', true],
      ]),
    ).toEqual({ joined: ['ann'], left: [] });
  });
});
