// Presence read costs: `count` and a 100-member page of a topic of 10,000 users, per store, as
// p50/p99 in µs. Run: npm run bench:presence (bundles this file with esbuild; Redis mode starts
// a redis-server of its own on a free port, never the machine's 6379).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import Redis from 'ioredis';
import { MemoryPresenceStore } from '../libs/realtime/src/presence/memory-presence.store';
import type { PresenceStore } from '../libs/realtime/src/presence/presence-store.port';
import { RedisPresenceStore } from '../libs/realtime/src/presence/redis-presence.store';
import { KeyLayout } from '../libs/realtime/src/redis/key-layout';
import type { RedisConnections } from '../libs/realtime/src/redis/redis-connections.service';

/** Users in the topic (BENCH_PRESENCE_USERS): counts should not move with it. */
const USERS = Number(process.env.BENCH_PRESENCE_USERS) || 10_000;
const READS = 2_000;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(name: string, store: PresenceStore): Promise<void> {
  const deadline = Date.now() + 600_000;
  const slots = Array.from({ length: USERS }, (_, i) => ({
    topic: 'chat:big',
    connectionId: `c${i}`,
    userId: `user${i}`,
  }));
  for (let i = 0; i < slots.length; i += 500) {
    await store.renew('bench', slots.slice(i, i + 500), [], deadline);
  }
  for (const [label, read] of [
    ['count', () => store.count('chat:big', Date.now())],
    ['page of 100', () => store.members('chat:big', undefined, 100, Date.now())],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < READS; i++) {
      const start = process.hrtime.bigint();
      await read();
      times.push(Number(process.hrtime.bigint() - start) / 1_000);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${name.padEnd(6)} ${label.padEnd(12)} p50 ${percentile(times, 50).toFixed(1).padStart(7)} µs   p99 ${percentile(times, 99).toFixed(1).padStart(7)} µs   (${USERS} users, ${READS} reads one at a time)`,
    );
  }
}

async function main(): Promise<void> {
  await measure('memory', new MemoryPresenceStore(2_000));
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', ''],
    {
      stdio: 'ignore',
    },
  );
  const command = new Redis(port, '127.0.0.1');
  // The server may still be starting: ioredis retries; the first refusals are not news.
  command.on('error', () => undefined);
  try {
    await command.ping();
    const connections = {
      layout: new KeyLayout('bench:', false),
      command,
      key: (...parts: string[]) => `bench:${parts.join(':')}`,
    } as unknown as RedisConnections;
    await measure(
      'redis',
      new RedisPresenceStore(connections, { maxLogEntries: 2_000, keepMs: 600_000 }),
    );
  } finally {
    command.disconnect();
    server.kill('SIGKILL');
  }
}

void main();
