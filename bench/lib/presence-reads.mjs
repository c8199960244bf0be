// Presence reads as a client sees them: `presence` requests over the wire, one at a time, to a
// topic that many connections watch, beside a `ping` on the same connection (the floor: the same
// round trip with no presence work). The store-level timings are `npm run bench:presence`.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { signToken } from './jwt.mjs';
import { latencySummary } from './stats.mjs';

const READS = 1000;
const PAGE = 100;
const TIMEOUT_MS = 30_000;

/** One ws client that sends a request and resolves its reply (matched by `ref`). */
class ProbeClient {
  constructor(socket) {
    this.socket = socket;
    this.pending = new Map();
    this.nextRef = 0;
    socket.on('message', (data) => {
      const { event, data: body } = JSON.parse(data.toString());
      const waiter = this.pending.get(body?.ref);
      if (!waiter) return; // presence_diff frames and the like
      this.pending.delete(body.ref);
      if (event === 'error') waiter.reject(new Error(`${body.code}: ${body.message}`));
      else waiter.resolve(body);
    });
  }

  static open(url) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => reject(new Error('probe: no connected frame')), TIMEOUT_MS);
      socket.once('error', reject);
      socket.once('message', () => {
        clearTimeout(timer);
        resolve(new ProbeClient(socket));
      });
    });
  }

  request(event, data) {
    const ref = `q${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.socket.send(JSON.stringify({ event, data: { ...data, ref } }));
    });
  }

  close() {
    this.socket.close();
  }
}

async function timed(reads, send) {
  const samples = [];
  for (let i = 0; i < reads; i++) {
    const started = performance.now();
    await send();
    samples.push((performance.now() - started) * 1000);
  }
  return latencySummary(samples);
}

/**
 * Round trips (µs) of a `presence` count read (`limit: 0`) and of a 100-member page, `reads`
 * of each one after the other, beside `ping`'s, from a client subscribed to `topic` with
 * presence on `port` (the instance that received the publisher in multi-instance runs).
 */
export async function presenceReads({ port, secret, topic, reads = READS }) {
  const token = signToken(secret, 'bench-presence-probe');
  const client = await ProbeClient.open(`ws://127.0.0.1:${port}/ws?token=${token}`);
  try {
    await client.request('subscribe', { topics: [topic], presence: true });
    const warm = () => client.request('presence', { topic, limit: PAGE });
    await timed(Math.min(100, reads), warm);
    const ping = await timed(reads, () => client.request('ping', {}));
    const count = await timed(reads, () => client.request('presence', { topic, limit: 0 }));
    let cursor = null;
    const page = await timed(reads, async () => {
      // Walks the roster page by page, starting over at its end, as a member list would.
      const reply = await client.request(
        'presence',
        cursor ? { topic, cursor, limit: PAGE } : { topic, limit: PAGE },
      );
      cursor = reply.cursor;
    });
    return { ping, count, page };
  } finally {
    client.close();
  }
}
