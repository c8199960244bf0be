import { DeadlineSlots, type Slotted } from './deadline-slots';

class Item implements Slotted {
  deadlineSlot: number | undefined = undefined;
  constructor(readonly name: string) {}
}

describe('DeadlineSlots', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('hands an item over never before its deadline and at most one slot after, on one timer', () => {
    const due: Array<[string, number]> = [];
    const slots = new DeadlineSlots<Item>(250, (item) => due.push([item.name, Date.now()]));
    const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
    slots.add(a, Date.now() + 1_010);
    slots.add(b, Date.now() + 1_200);
    slots.add(c, Date.now() + 5_000);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(1_009);
    expect(due).toEqual([]);
    jest.advanceTimersByTime(241);
    expect(due.map(([name]) => name)).toEqual(['a', 'b']);
    for (const [, at] of due) expect(at).toBeLessThanOrEqual(1_000_000 + 1_010 + 250);
    jest.advanceTimersByTime(3_750);
    expect(due.map(([name]) => name)).toEqual(['a', 'b', 'c']);
    expect(slots.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a removed or moved item is not handed over at its old deadline', () => {
    const due: string[] = [];
    const slots = new DeadlineSlots<Item>(250, (item) => due.push(item.name));
    const [gone, moved] = [new Item('gone'), new Item('moved')];
    slots.add(gone, Date.now() + 500);
    slots.add(moved, Date.now() + 500);
    slots.remove(gone);
    slots.add(moved, Date.now() + 2_000);
    jest.advanceTimersByTime(1_000);
    expect(due).toEqual([]);
    jest.advanceTimersByTime(1_000);
    expect(due).toEqual(['moved']);
  });

  it('waits past what one timer can, and close() clears its timer', () => {
    const due: string[] = [];
    const slots = new DeadlineSlots<Item>(250, (item) => due.push(item.name));
    const thirtyDays = 30 * 24 * 3600 * 1000;
    slots.add(new Item('far'), Date.now() + thirtyDays);
    jest.advanceTimersByTime(2 ** 31 - 1);
    expect(due).toEqual([]);
    jest.advanceTimersByTime(thirtyDays - (2 ** 31 - 1));
    expect(due).toEqual(['far']);
    slots.add(new Item('never'), Date.now() + 1_000);
    slots.close();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(5_000);
    expect(due).toEqual(['far']);
  });

  it('holds no more slots than twice the live ones, however often items are re-armed', () => {
    const due: string[] = [];
    const slots = new DeadlineSlots<Item>(250, (item) => due.push(item.name));
    const kept = new Item('kept');
    slots.add(kept, Date.now() + 60_000);
    // A connection sending `auth` again and again: its expiry moved each time, by a slot or none.
    const rearmed = new Item('rearmed');
    for (let i = 0; i < 100_000; i++) slots.add(rearmed, Date.now() + 10_000 + (i % 2) * 250);
    expect(slots.size).toBe(2);
    expect(slots.scheduledSlots).toBeLessThanOrEqual(2 * 2 + 64);
    jest.advanceTimersByTime(60_250);
    expect(due.sort()).toEqual(['kept', 'rearmed']);
    expect(slots.scheduledSlots).toBe(0);
  });
});
