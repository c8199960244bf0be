import Redis, { Cluster } from 'ioredis';
import { TestRedisCluster } from '../../../../../test/support/redis-cluster';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { hashSlot } from '../../redis/hash-slot';
import { RedisConnections } from '../../redis/redis-connections.service';
import {
  type ContractHistory,
  contractHistory,
  engineContract,
  eventually,
  frameData,
  placed,
} from '../realtime-engine.contract-spec';
import type { EngineCommand, EngineMessage } from '../realtime-engine.port';
import { RedisEngine } from './redis.engine';

/** One 3-master cluster for the file; each test gets a key prefix of its own. */
let cluster: TestRedisCluster;
const opened: { connections: RedisConnections; engine: RedisEngine }[] = [];
let prefix = 0;

async function clusterNode(history: ContractHistory = {}) {
  const connections = new RedisConnections(
    resolveRealtimeOptions({
      redis: { keyPrefix: `c${prefix}:`, cluster: { nodes: cluster.startupNodes } },
    }),
  );
  const engine = new RedisEngine(connections, { ...contractHistory(history), maxRevocations: 100 });
  const delivered: EngineMessage[] = [];
  const executed: EngineCommand[] = [];
  engine.attach({
    deliver: (m) => delivered.push(m),
    execute: (c) => executed.push(c),
    resync: () => undefined,
  });
  opened.push({ connections, engine });
  await engine.start();
  return { engine, delivered, executed, connections };
}

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3 });
}, 30_000);
beforeEach(() => prefix++);
afterEach(async () => {
  for (const { engine, connections } of opened.splice(0)) {
    await engine.close();
    await connections.onApplicationShutdown();
  }
});
afterAll(() => cluster?.stop());

engineContract('RedisEngine on a 3-master Redis Cluster', clusterNode);

describe('RedisEngine on Redis Cluster', () => {
  it('spreads the keys of 300 topics over the 3 masters, none holding more than 60%', async () => {
    const { connections } = await clusterNode();
    const owners = await cluster.slotOwners();
    const perMaster = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const topic = `orders:${i}`;
      const slots = (['meta', 'history', 'topic'] as const).map((kind) =>
        hashSlot(connections.layout.topic(kind, topic)),
      );
      // A topic's meta, history and channel share one slot, so one script touches them all.
      expect(new Set(slots).size).toBe(1);
      const master = owners.get(slots[0]) ?? -1;
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1);
    }
    expect(perMaster.size).toBe(3);
    for (const count of perMaster.values()) expect(count).toBeLessThanOrEqual(180);
  });

  it('publishes one turn over many slots in one order per topic, over sharded pub/sub on every master', async () => {
    const [a, b] = [await clusterNode(), await clusterNode()];
    const topics = Array.from({ length: 12 }, (_, i) => `room:${i}`);
    for (const topic of topics) await b.engine.watch(topic);
    const sent = await Promise.all(
      Array.from({ length: 120 }, (_, i) => a.engine.publish(topics[i % 12], 'm', i)),
    );
    await eventually(() => b.delivered.length === 120);
    for (const topic of topics) {
      const got = b.delivered.filter((m) => m.topic === topic);
      expect(got.map((m) => Number(m.offset.split('-')[1]))).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      expect(got.map((m) => frameData(m).payload)).toEqual(
        Array.from({ length: 10 }, (_, i) => i * 12 + topics.indexOf(topic)),
      );
    }
    expect(new Set(sent.map((m) => `${m.topic}/${m.offset}`)).size).toBe(120);
    // Sharded: each node connection of b is on the master of the slots it carries.
    const owners = await cluster.slotOwners();
    const masters = new Set(topics.map((t) => owners.get(hashSlot(`c${prefix}:topic:{${t}}`))));
    expect(masters.size).toBe(3);
    const shardChannels = await Promise.all(
      [...masters].map(async (port) => {
        const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
        try {
          await node.connect();
          return (await node.call('PUBSUB', 'SHARDCHANNELS', `c${prefix}:topic:*`)) as string[];
        } finally {
          node.disconnect();
        }
      }),
    );
    expect(shardChannels.flat().sort()).toEqual(
      topics.map((t) => `c${prefix}:topic:{${t}}`).sort(),
    );
  });

  it('carries commands cluster-wide and recovers a topic on another instance', async () => {
    const [a, b] = [await clusterNode(), await clusterNode()];
    await b.engine.watch('t');
    const first = await a.engine.publish('t', 'x', 1);
    const second = await a.engine.publish('t', 'x', 2);
    await eventually(() => b.delivered.length === 2);
    const recovery = await b.engine.recover('t', first.offset);
    expect(recovery.messages.map(placed)).toEqual([second]);
    await a.engine.command({ kind: 'broadcast', type: 'hello', payload: null, ts: 1 });
    await eventually(() => b.executed.length === 1);
    expect(b.executed[0]).toMatchObject({ kind: 'broadcast', type: 'hello' });
  });

  it('keeps every script and transaction within one slot (the cluster refuses the others)', async () => {
    // The contract above ran on the cluster: any cross-slot call would have failed it. This
    // pins the layout's groups: the revocation keys share one slot.
    const { connections } = await clusterNode();
    const { layout } = connections;
    expect(hashSlot(layout.revocations)).toBe(hashSlot(layout.revocationExpiry));
    expect(hashSlot(layout.group('adm', 'ip', '1.2.3.4'))).toBe(hashSlot(layout.group('adm', 'x')));
    const probe = new Cluster(cluster.startupNodes);
    try {
      await expect(probe.eval("return redis.call('GET', KEYS[2])", 2, 'a', 'b')).rejects.toThrow(
        /CROSSSLOT/,
      );
    } finally {
      probe.disconnect();
    }
  });
});
