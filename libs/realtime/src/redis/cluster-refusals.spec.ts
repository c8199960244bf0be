import { resolveRealtimeOptions } from '@nest-realtime/server';
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import {
  connectionsAccepted,
  killUserClients,
  setUserPassword,
} from '../../../../test/support/redis-acl';
import { TestRedisCluster } from '../../../../test/support/redis-cluster';
import { RedisConnections } from './redis-connections.service';

jest.setTimeout(60_000);

const USER = 'cluster-app';
const PASSWORD = 'cluster-app-password';

/**
 * A Cluster client of RedisConnections on a real 3-master cluster whose
 * nodes refuse its credentials (ACL user with another password): what ioredis
 * does there by itself, and what the library changes.
 */
describe('a Cluster client whose credentials every node refuses', () => {
  let cluster: TestRedisCluster;
  let connections: RedisConnections;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
    connections = new RedisConnections(
      resolveRealtimeOptions({
        redis: {
          cluster: { nodes: cluster.startupNodes },
          options: { username: USER, password: PASSWORD },
        },
      }),
    );
  });
  afterAll(async () => {
    await connections?.onApplicationShutdown();
    await cluster?.stop();
  });

  /** The password changes on every node, and the user's open connections are dropped. */
  async function refuse(): Promise<void> {
    await setUserPassword(cluster.nodes, USER, 'another-password');
    await killUserClients(cluster.nodes, USER);
  }

  /** A new Cluster client, refused: its failed slot refreshes (its node pool empty) under way. */
  async function refusedClient(name: string): Promise<Cluster> {
    const client = connections.open(name) as unknown as Cluster;
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('reconnecting', resolve));
    return client;
  }

  it('disconnect() ends it although it holds no node connection (Bull waits for that end)', async () => {
    await refuse();
    const client = await refusedClient('disconnected');
    expect(client.nodes('all')).toHaveLength(0);
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise((resolve) => {
      client.once('end', () => resolve('ended'));
      timer = setTimeout(() => resolve('no end within 2 s'), 2_000);
    });
    client.disconnect();
    expect(await ended).toBe('ended');
    clearTimeout(timer);
    expect(client.status).toBe('end');
  });

  it("its subscriber (Bull's, on a cluster) is replaced on a backoff, not at once each time", async () => {
    await setUserPassword(cluster.nodes, USER, PASSWORD);
    const client = connections.open('subscribing') as unknown as Cluster;
    client.on('error', () => undefined);
    // Subscribed: ioredis's cluster subscriber then subscribes each replacement to the channel again.
    await client.subscribe('a-channel');
    await refuse();
    await sleep(3_000);
    const before = await connectionsAccepted(cluster.nodes);
    await sleep(3_000);
    // ioredis alone: 1,651 connections here (it replaces the subscriber at once each time). With
    // the backoff, a few a second, beside the client's own slot refreshes (every node each).
    expect((await connectionsAccepted(cluster.nodes)) - before).toBeLessThan(60);
    (client as unknown as Redis).disconnect();
    // ioredis ends each subscriber connection it replaced with a 2 s timer of its own: let them run out.
    await sleep(2_100);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
