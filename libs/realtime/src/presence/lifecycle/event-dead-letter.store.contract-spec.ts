import type { EventDeadLetterStore } from './event-dead-letter.store';
import type { DeadLetteredEvent } from './realtime-event';

const letter = (n: number): DeadLetteredEvent => ({
  event: { id: `e${n}`, name: 'user.online', at: n, data: { userId: `u${n}` } },
  handler: 'Handlers.online',
  error: 'boom',
  attempts: 3,
  at: 1_000 + n,
});

/** The contract of EventDeadLetterStore (event-dead-letter.store.spec.ts runs it against both). */
export function eventDeadLetterContract(
  name: string,
  makeStore: () => Promise<EventDeadLetterStore>,
): void {
  describe(`${name} (EventDeadLetterStore contract)`, () => {
    it('keeps the newest up to the limit, newest first, and counts them all', async () => {
      const store = await makeStore();
      expect(await store.count()).toBe(0);
      expect(await store.list(10)).toEqual([]);
      for (let n = 1; n <= 5; n++) await store.add(letter(n), 3);
      expect(await store.list(10)).toEqual([letter(5), letter(4), letter(3)]);
      expect(await store.list(2)).toEqual([letter(5), letter(4)]);
      expect(await store.count()).toBe(5);
    });
  });
}
