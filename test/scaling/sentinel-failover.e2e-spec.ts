import { resolveRealtimeOptions } from '@nest-realtime/server';
import {
  contractHistory,
  placed,
} from '../../libs/realtime/src/engine/realtime-engine.contract-spec';
import type { EngineMessage } from '../../libs/realtime/src/engine/realtime-engine.port';
import { RedisEngine } from '../../libs/realtime/src/engine/redis/redis.engine';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestSentinel } from '../support/redis-sentinel';

jest.setTimeout(60_000);

async function until(what: string, done: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The Sentinel configuration docs/scaling.md documents (`redis.options`:
 * `sentinels` and `name`, ioredis asking the sentinels for the primary)
 * really fails over: the primary is SIGKILLed, Sentinel promotes the
 * replica, both instances reconnect to it, their health (what `/health`
 * reports) is up again, the subscriber sees every message
 * once, and every publish acknowledged (and replicated: see the docs) before
 * the kill is still in history.
 */
describe('two instances on Redis with Sentinel when the primary dies', () => {
  let sentinel: TestSentinel;
  const opened: RedisConnections[] = [];
  const engines: RedisEngine[] = [];

  beforeAll(async () => {
    sentinel = await TestSentinel.start();
  }, 30_000);
  afterAll(async () => {
    for (const engine of engines) await engine.close();
    for (const connections of opened) await connections.onApplicationShutdown();
    await sentinel?.stop();
  });

  async function instance() {
    const connections = new RedisConnections(
      resolveRealtimeOptions({
        redis: { options: { sentinels: sentinel.sentinels, name: sentinel.name } },
      }),
    );
    const engine = new RedisEngine(connections, {
      ...contractHistory({ size: 20 }),
      maxRevocations: 10,
    });
    const delivered: EngineMessage[] = [];
    engine.attach({
      deliver: (message) => delivered.push(message),
      execute: () => undefined,
      resync: () => undefined,
    });
    opened.push(connections);
    engines.push(engine);
    await engine.start();
    return { engine, delivered };
  }

  it('promotes the replica; instances reconnect, report up and lose no acknowledged publish', async () => {
    const [a, b] = [await instance(), await instance()];
    await b.engine.watch('t');
    const before: Array<{ topic: string; offset: string; ts: number }> = [];
    for (let i = 0; i < 5; i++) before.push(await a.engine.publish('t', 'n', i));
    await until('delivered before', () => Promise.resolve(b.delivered.length === 5));

    const { primary, replica } = sentinel;
    // The replica has the acknowledged writes (asynchronous replication: see docs/scaling.md).
    expect(await primary.command('WAIT', '1', '5000')).toBe(':1');
    await primary.stop();
    await until('sentinel promotes the replica', async () => {
      return (await sentinel.primaryPort()) === replica.port;
    });
    // What /health reports (RealtimeHealthIndicator): up once the engine is healthy again.
    for (const { engine } of [a, b]) await until('healthy again', () => engine.isHealthy());
    const after: typeof before = [];
    await until('a publish after the failover', async () => {
      after.push(await a.engine.publish('t', 'n', 5));
      return true;
    });
    for (let i = 6; i < 8; i++) after.push(await a.engine.publish('t', 'n', i));
    await until('delivered after', () => Promise.resolve(b.delivered.length === 8));
    expect(b.delivered.map(placed)).toEqual([...before, ...after]);

    const recovery = await b.engine.recover('t', before[0].offset);
    expect(recovery).toMatchObject({ recovered: true, offset: after[2].offset });
    expect(recovery.messages.map(placed)).toEqual([...before.slice(1), ...after]);
  });
});
