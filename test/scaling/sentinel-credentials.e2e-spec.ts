import { resolveRealtimeOptions } from '@nest-realtime/server';
import { contractHistory } from '../../libs/realtime/src/engine/realtime-engine.contract-spec';
import type { EngineMessage } from '../../libs/realtime/src/engine/realtime-engine.port';
import { RedisEngine } from '../../libs/realtime/src/engine/redis/redis.engine';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { connectionsAccepted, setUserPassword } from '../support/redis-acl';
import { TestSentinel } from '../support/redis-sentinel';
import { readUntil, waitUntil } from '../support/waits';

jest.setTimeout(90_000);

/** The Redis user the instance signs in as (ACL), and its password. */
const USER = 'realtime-app';
const PASSWORD = 'right-password';

/**
 * Connections the primary may accept in 3 s of refusals, 3 s after the
 * first: each of the instance's three connections backs off (measured: 10 in
 * all, as on ioredis's own delays), not one every 50 ms (180).
 */
const RECONNECTS_IN_3S = 60;

/**
 * docs/scaling.md, failures: Redis behind Sentinel refuses the instance's
 * credentials (ACLs are per node: the primary and the replica each need the
 * user). The instance stays up and unhealthy without hammering the primary,
 * serves once the user exists, and signs in to the replica Sentinel
 * promotes when the primary dies.
 */
describe('credentials Redis refuses, on Sentinel', () => {
  let sentinel: TestSentinel;
  let connections: RedisConnections | undefined;
  let engine: RedisEngine | undefined;

  beforeAll(async () => {
    sentinel = await TestSentinel.start();
  }, 30_000);
  afterAll(async () => {
    await engine?.close();
    await connections?.onApplicationShutdown();
    await sentinel?.stop();
  });

  it('refused, waits unhealthy and backs off; once accepted it serves, and after a failover too', async () => {
    const { primary, replica } = sentinel;
    connections = new RedisConnections(
      resolveRealtimeOptions({
        redis: {
          options: {
            sentinels: sentinel.sentinels,
            name: sentinel.name,
            username: USER,
            password: PASSWORD,
          },
        },
      }),
    );
    engine = new RedisEngine(connections, { ...contractHistory({ size: 20 }), maxRevocations: 10 });
    const delivered: EngineMessage[] = [];
    engine.attach({
      deliver: (message) => delivered.push(message),
      execute: () => undefined,
      resync: () => undefined,
    });
    const started = await connectionsAccepted([primary]);
    await engine.start();
    // No such user yet: every connection's AUTH is refused, again and again.
    const refused = await readUntil(
      () => connectionsAccepted([primary]),
      (accepted) => accepted - started > 3,
      15_000,
    );
    expect(refused - started).toBeGreaterThan(3);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const acceptedBefore = await connectionsAccepted([primary]);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await connectionsAccepted([primary])) - acceptedBefore).toBeLessThan(RECONNECTS_IN_3S);
    expect(await engine.isHealthy()).toBe(false);

    await setUserPassword([primary, replica], USER, PASSWORD);
    expect(await readUntil(() => engine!.isHealthy(), Boolean, 20_000)).toBe(true);
    await engine.watch('t');
    const first = await engine.publish('t', 'n', 1);
    await waitUntil(() => delivered.length === 1, 10_000, 'the first message');

    await primary.untilReplicated();
    await primary.stop();
    const promoted = await readUntil(
      () => sentinel.primaryPort(),
      (port) => port === replica.port,
      30_000,
    );
    expect(promoted).toBe(replica.port);
    expect(await readUntil(() => engine!.isHealthy(), Boolean, 30_000)).toBe(true);
    // The first publish may still meet the old primary's closing connection: retried, as a caller would.
    const second = await readUntil(
      () => engine!.publish('t', 'n', 2).catch(() => undefined),
      (message) => message !== undefined,
      10_000,
    );
    expect(second).toBeDefined();
    await waitUntil(() => delivered.length === 2, 10_000, 'the second message');
    expect(delivered.map((m) => m.offset)).toEqual([first.offset, second!.offset]);
  });
});
