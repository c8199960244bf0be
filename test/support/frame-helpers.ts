import { leakIn } from './contract-shapes';
import type { Frame, TestClient } from './ws-client';

/**
 * A round trip that proves the server has written everything it meant to
 * write before it: the server answers frames in order on one TCP stream, so
 * once the `pong` of this ping is here, any message published before the ping
 * was sent is here too. Returns the index of the pong in `client.frames`.
 */
export async function barrier(client: TestClient): Promise<number> {
  const pong = await client.request('ping');
  expect(pong.event).toBe('pong');
  return client.frames.indexOf(pong);
}

/** The frames that arrived after index `from`, up to (not including) the pong of a barrier. */
export async function framesUntilBarrier(client: TestClient, from: number): Promise<Frame[]> {
  const end = await barrier(client);
  return client.frames.slice(from, end);
}

/** Asserts that nothing but the barrier's pong arrived after index `from`. */
export async function expectNothingSince(client: TestClient, from: number): Promise<void> {
  expect(await framesUntilBarrier(client, from)).toEqual([]);
}

/**
 * Natural order of PROTOCOL §3: digit runs compare as numbers, everything
 * else character by character (`17` < `102`, `1700000000000-3` < `1700000000000-12`).
 */
export function naturalCompare(a: string, b: string): number {
  const tokens = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const left = tokens(a);
  const right = tokens(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const diff = BigInt(x) - BigInt(y);
      if (diff !== 0n) return diff < 0n ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return left.length - right.length;
}

/** An `error` frame exactly as PROTOCOL §3 shapes it; `ref` and `topic` only when expected. */
export function errorFrame(code: string, extra: { ref?: string; topic?: string } = {}): Frame {
  return {
    event: 'error',
    data: { ...extra, code, message: expect.any(String) },
  };
}

/** Sends a raw frame and resolves with the next `error` frame after it. */
export async function sendRawForError(
  client: TestClient,
  raw: string | Buffer,
  binary = false,
): Promise<Frame> {
  const from = client.frames.length;
  client.sendRaw(raw, { binary });
  return client.waitFor((f) => f.event === 'error', { from });
}

/** No stack trace, source path or exception name in what the client can read. */
export function expectNoLeak(text: string): void {
  expect({ text, leak: leakIn(text) }).toEqual({ text, leak: undefined });
}
