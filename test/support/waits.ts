import type { TestClient } from './ws-client';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves as `promise` does, or rejects once `ms` have passed: every wait in a test is bounded. */
export function within<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls until `predicate` holds, or throws after `ms`. */
export async function waitUntil(
  predicate: () => boolean,
  ms: number,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await sleep(10);
  }
}

/** Reads until `done` holds for the value read, or `ms` have passed; resolves to the last value read. */
export async function readUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(10);
  }
}

/**
 * The close code and reason a client got, bounded by `ms`. `at` (ms since the
 * epoch) is when the close event fired only if this was called before it did:
 * call it right after connecting when the timing matters.
 */
export function closeOf(
  client: TestClient,
  ms: number,
): Promise<{ code: number; reason: string; at: number }> {
  const closed = client.closed.then((event) => ({ ...event, at: Date.now() }));
  return within(closed, ms, 'close');
}
