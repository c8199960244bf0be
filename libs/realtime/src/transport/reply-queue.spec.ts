import { Logger } from '@nestjs/common';
import { PendingReply, ReplyQueue } from './reply-queue';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise the test settles by hand. */
function later<T>(): { promise: Promise<T>; settle: (value: T) => void } {
  let settle!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (settle = resolve));
  return { promise, settle };
}

/** Queues request `name`, noting in `events` when it starts and when its reply is delivered. */
function noted(
  queue: ReplyQueue,
  events: string[],
  name: string,
  answer: () => Promise<unknown>,
): void {
  queue.request(
    () => {
      events.push(`start ${name}`);
      return answer();
    },
    (reply) => events.push(`deliver ${String(reply)}`),
  );
}

describe('ReplyQueue', () => {
  it('starts each request once the one before it is done, and delivers in request order', async () => {
    const queue = new ReplyQueue();
    const events: string[] = [];
    const first = later<string>();
    noted(queue, events, '1', () => first.promise);
    noted(queue, events, '2', () => Promise.resolve('2'));
    await sleep(5);
    expect(events).toEqual(['start 1']);
    first.settle('1');
    await sleep(5);
    expect(events.filter((event) => event.startsWith('start'))).toEqual(['start 1', 'start 2']);
    expect(events.filter((event) => event.startsWith('deliver'))).toEqual([
      'deliver 1',
      'deliver 2',
    ]);
  });

  it('starts the first request at once when nothing is owed', () => {
    const queue = new ReplyQueue();
    let started = false;
    queue.request(
      () => {
        started = true;
        return Promise.resolve(undefined);
      },
      () => undefined,
    );
    expect(started).toBe(true);
  });

  it('lets the next request start on a pending reply, and still delivers the pending one first', async () => {
    const queue = new ReplyQueue();
    const events: string[] = [];
    const offset = later<string>();
    noted(queue, events, '1', () => Promise.resolve(new PendingReply(offset.promise)));
    noted(queue, events, '2', () => Promise.resolve('2'));
    await sleep(5);
    expect(events).toEqual(['start 1', 'start 2']);
    offset.settle('1');
    await sleep(5);
    expect(events).toEqual(['start 1', 'start 2', 'deliver 1', 'deliver 2']);
  });

  it('queues work a request decides while it runs behind that request’s own reply', async () => {
    const queue = new ReplyQueue();
    const events: string[] = [];
    queue.request(
      () => {
        queue.queue(() => void events.push('close'));
        return Promise.resolve('refused');
      },
      (reply) => events.push(`deliver ${reply}`),
    );
    await sleep(5);
    expect(events).toEqual(['deliver refused', 'close']);
  });

  it('goes on after a request that fails or a delivery that throws', async () => {
    const queue = new ReplyQueue();
    const events: string[] = [];
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      queue.request(
        () => Promise.reject(new Error('handler bug')),
        () => events.push('never'),
      );
      queue.request(
        () => Promise.resolve('2'),
        () => {
          throw new Error('delivery bug');
        },
      );
      queue.request(
        () => Promise.resolve('3'),
        (reply) => events.push(`deliver ${reply}`),
      );
      await sleep(5);
      expect(events).toEqual(['deliver 3']);
      expect(logged).toHaveBeenCalledTimes(2);
    } finally {
      logged.mockRestore();
    }
  });
});
