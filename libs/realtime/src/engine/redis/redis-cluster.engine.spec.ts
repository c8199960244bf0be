import Redis, { Cluster, type ClusterOptions } from 'ioredis';
import { TestRedisCluster } from '../../../../../test/support/redis-cluster';
import { TcpProxy } from '../../../../../test/support/tcp-proxy';
import { readUntil } from '../../../../../test/support/waits';
import { AdmissionKeys } from '../../auth/admission/admission-keys';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { nodeLinks } from '../../redis/cluster-nodes';
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
import type { EngineCommand, EngineMessage, PublishedMessage } from '../realtime-engine.port';
import { RedisEngine, type RedisEngineOptions } from './redis.engine';
import type { ShardedSubscriber } from './sharded-subscriber';

/** One 3-master cluster for the file; each test gets a key prefix of its own. */
let cluster: TestRedisCluster;
const opened: { connections: RedisConnections; engine: RedisEngine }[] = [];
let prefix = 0;

async function clusterNode(
  history: ContractHistory = {},
  {
    natMap,
    linkCheck,
  }: { natMap?: ClusterOptions['natMap']; linkCheck?: RedisEngineOptions['linkCheck'] } = {},
) {
  const connections = new RedisConnections(
    resolveRealtimeOptions({
      redis: {
        keyPrefix: `c${prefix}:`,
        cluster: { nodes: cluster.startupNodes, options: natMap && { natMap } },
      },
    }),
  );
  const engine = new RedisEngine(connections, {
    ...contractHistory(history),
    maxRevocations: 100,
    linkCheck,
  });
  const delivered: EngineMessage[] = [];
  const executed: EngineCommand[] = [];
  const resyncs: string[] = [];
  engine.attach({
    deliver: (m) => delivered.push(m),
    execute: (c) => executed.push(c),
    resync: (topic) => resyncs.push(topic),
  });
  opened.push({ connections, engine });
  await engine.start();
  return { engine, delivered, executed, resyncs, connections };
}

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ masters: 3 });
}, 30_000);
async function closeOpened(): Promise<void> {
  for (const { engine, connections } of opened.splice(0)) {
    await engine.close();
    await connections.onApplicationShutdown();
  }
}

beforeEach(() => prefix++);
afterEach(closeOpened);
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

  it("answers a turn's new subscribers of a followed topic with one PING, on the topic's master, and no script", async () => {
    // Link checks out of the way: their PINGs would count.
    const quiet = { linkCheck: { intervalMs: 30_000, timeoutMs: 30_000 } };
    const [a, b] = [await clusterNode({}, quiet), await clusterNode({}, quiet)];
    const owners = await cluster.slotOwners();
    const ownerOf = (topic: string) =>
      owners.get(hashSlot(b.connections.layout.topic('topic', topic)));
    const elsewhere = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'].find(
      (topic) => ownerOf(topic) !== ownerOf('t'),
    )!;
    for (const topic of ['t', elsewhere]) {
      await b.engine.watch(topic);
      await b.engine.recover(topic, undefined);
    }
    const sent = await a.engine.publish('t', 'x', 1);
    const calls = async () => {
      const counts = new Map<number, { ping: number; scripts: number }>();
      for (const node of cluster.nodes) {
        const stats = await node.command('INFO', 'commandstats');
        const of = (name: string) =>
          Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
        counts.set(node.port, { ping: of('ping'), scripts: of('evalsha') + of('eval') });
      }
      return counts;
    };
    const before = await calls();
    const recoveries = await Promise.all(
      Array.from({ length: 5 }, () => b.engine.recover('t', undefined)),
    );
    const after = await calls();
    for (const recovery of recoveries) expect(recovery.offset).toBe(sent.offset);
    for (const [port, { ping, scripts }] of after) {
      expect(scripts - before.get(port)!.scripts).toBe(0);
      expect(ping - before.get(port)!.ping).toBe(port === ownerOf('t') ? 1 : 0);
    }
  });

  it('follows a watched topic whose slot moves to another master: no gap, no duplicate', async () => {
    const [a, b] = [await clusterNode({ size: 10 }), await clusterNode({ size: 10 })];
    await b.engine.watch('moving');
    const before: PublishedMessage[] = [];
    for (let i = 0; i < 3; i++) before.push(await a.engine.publish('moving', 'n', i));
    await eventually(() => b.delivered.length === 3);
    const slot = hashSlot(`c${prefix}:topic:{moving}`);
    const owners = await cluster.slotOwners();
    const target = [...new Set(owners.values())].find((port) => port !== owners.get(slot));
    await cluster.moveSlot(slot, target as number);
    const after: PublishedMessage[] = [];
    for (let i = 3; i < 6; i++) {
      // A publish racing the move may be refused (the engine does not retry): the caller would.
      for (let attempt = 0; ; attempt++) {
        try {
          after.push(await a.engine.publish('moving', 'n', i));
          break;
        } catch (error) {
          if (attempt === 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
    await eventually(() => b.delivered.length === 6, 15_000);
    expect(b.delivered.map(placed)).toEqual([...before, ...after]);
    // The history moved with the slot: a recovery on the new master has every message.
    const recovery = await b.engine.recover('moving', before[0].offset);
    expect(recovery.messages.map(placed)).toEqual([...before.slice(1), ...after]);
  });

  it("resolves a batch's publishes once they went out, though the topics index's master refuses the index update", async () => {
    const [a, b] = [await clusterNode(), await clusterNode()];
    const { layout } = a.connections;
    const owners = await cluster.slotOwners();
    const indexOwner = owners.get(hashSlot(layout.topicsIndex));
    const topic = ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7'].find(
      (candidate) => owners.get(hashSlot(layout.topic('meta', candidate))) !== indexOwner,
    )!;
    await b.engine.watch(topic);
    const indexMaster = cluster.nodes.find((node) => node.port === indexOwner)!;
    // Out of memory: the index's master refuses every write, the topic's master takes them.
    await indexMaster.command('CONFIG', 'SET', 'maxmemory', '1');
    let sent: PublishedMessage[];
    try {
      sent = await Promise.all([1, 2, 3].map((n) => a.engine.publish(topic, 'x', n)));
    } finally {
      await indexMaster.command('CONFIG', 'SET', 'maxmemory', '0');
    }
    await eventually(() => b.delivered.length === 3);
    expect(b.delivered.map(placed)).toEqual(sent);
    expect(await b.engine.recover(topic, sent[0].offset)).toMatchObject({ recovered: true });
    // The topic's next publish puts it in the index.
    expect((await a.engine.stats()).historyTopics).toBe(0);
    await a.engine.publish(topic, 'x', 4);
    expect((await a.engine.stats()).historyTopics).toBe(1);
  });

  const noneLeft = (shardNumSub: string) => shardNumSub.endsWith(':0');

  /**
   * A topic whose channel is on the command channel's master (`same`) or on
   * another one, and its channel's subscriptions on its master (PUBSUB
   * SHARDNUMSUB), read until none is left or 3 s have passed.
   */
  async function topicBeside(connections: RedisConnections, same: boolean) {
    const { layout } = connections;
    const owners = await cluster.slotOwners();
    const ownerOf = (channel: string) => owners.get(hashSlot(channel));
    const commands = ownerOf(layout.commandChannel);
    const topic = ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7'].find(
      (candidate) => (ownerOf(layout.topic('topic', candidate)) === commands) === same,
    )!;
    const channel = layout.topic('topic', topic);
    const master = cluster.nodes.find((node) => node.port === ownerOf(channel))!;
    const subscriptions = () =>
      readUntil(() => master.command('PUBSUB', 'SHARDNUMSUB', channel), noneLeft, 3_000);
    return {
      topic,
      commandsMaster: cluster.nodes.find((node) => node.port === commands)!,
      subscriptions,
    };
  }

  it('unsubscribes a topic unwatched while its subscriber is out of sync, and closes the link it no longer needs', async () => {
    const b = await clusterNode();
    const { topic, commandsMaster, subscriptions } = await topicBeside(b.connections, false);
    await b.engine.watch(topic);
    const subscriber = b.engine['subscriber'] as unknown as ShardedSubscriber;
    // Its link to the command channel's master drops; the topic's last subscriber leaves meanwhile.
    let unwatched: Promise<void> | undefined;
    subscriber.once('close', () => {
      unwatched = b.engine.unwatch(topic);
    });
    await commandsMaster.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(() => unwatched !== undefined && b.engine['synced'] === true, 5_000);
    await unwatched;
    expect(await subscriptions()).toMatch(/:0$/);
    expect(subscriber.links().map(([name]) => name)).toEqual([
      `subscriber:127.0.0.1:${commandsMaster.port}`,
    ]);
  });

  it('takes a failed watch back: its SSUBSCRIBE, answered late, leaves nothing subscribed', async () => {
    const b = await clusterNode();
    const { topic, commandsMaster, subscriptions } = await topicBeside(b.connections, true);
    const subscriber = b.engine['subscriber'] as unknown as ShardedSubscriber;
    const [, link] = subscriber
      .links()
      .find(([name]) => name === `subscriber:127.0.0.1:${commandsMaster.port}`)!;
    // The link stops reading: the SSUBSCRIBE reaches Redis, its answer waits past the bound.
    link.stream.pause();
    try {
      await expect(b.engine.watch(topic)).rejects.toThrow(/realtime engine unavailable/);
    } finally {
      link.stream.resume();
    }
    expect(await subscriptions()).toMatch(/:0$/);
  });

  it('keeps every script and transaction within one slot (the cluster refuses the others)', async () => {
    // The contract above ran on the cluster: any cross-slot call would have failed it. This
    // pins the layout's groups: the revocation keys share one slot.
    const { connections } = await clusterNode();
    const { layout } = connections;
    expect(hashSlot(layout.revocations)).toBe(hashSlot(layout.revocationExpiry));
    expect(hashSlot(layout.group('adm', 'alive', 'i1'))).toBe(hashSlot(layout.group('adm', 'x')));
    // Admission counters: an IP's rate and count share its slot; a user's count has its own.
    const admission = new AdmissionKeys(connections);
    expect(hashSlot(admission.rate('ip:1.2.3.4'))).toBe(hashSlot(admission.count('ip:1.2.3.4')));
    expect(hashSlot(admission.count('ip:1.2.3.4'))).not.toBe(hashSlot(admission.count('user:u1')));
    expect(hashSlot(admission.count('user:u1'))).not.toBe(hashSlot(admission.held('i1')));
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

/**
 * A half-open link on a cluster: instance b reaches the master of the
 * topic's slot through a proxy (ioredis `natMap`: the cluster announces the
 * master's own address), which then stops relaying without closing. b's
 * subscriber, command and publish connections to that master all go dead
 * and no close ever comes; the PINGs find each and drop it.
 */
describe('RedisEngine on Redis Cluster when its link to a master goes dead', () => {
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    // The instances first, so that their connections through the proxy can QUIT.
    await closeOpened();
    await proxy?.stop();
    proxy = undefined;
  });

  /** An instance that reaches the master of topic `t` through the proxy and PINGs its links. */
  async function proxiedNode() {
    const master = await cluster.masterOf(hashSlot(`c${prefix}:topic:{t}`));
    const relay = await TcpProxy.start(master.port);
    proxy = relay;
    const node = await clusterNode(
      {},
      {
        natMap: { [`127.0.0.1:${master.port}`]: { host: '127.0.0.1', port: relay.port } },
        linkCheck: { intervalMs: 100, timeoutMs: 300 },
      },
    );
    return { ...node, proxy: relay };
  }

  it('drops the frozen node links, so a message published meanwhile still arrives: no gap, no duplicate', async () => {
    const a = await clusterNode();
    const b = await proxiedNode();
    await b.engine.watch('t');
    await b.engine.recover('t', undefined);
    const sent = [await b.engine.publish('t', 'x', 0)];
    await eventually(() => b.delivered.length === 1);
    const proxied = `:127.0.0.1:${b.proxy.port}`;
    /** b's links to the proxied master as they are now: subscriber, command, publisher. */
    const linksToMaster = () =>
      [
        ...(b.engine['subscriber'] as unknown as ShardedSubscriber).links(),
        ...nodeLinks('command', b.connections.cluster as Cluster),
        ...nodeLinks('publisher', b.engine['publisher'] as unknown as Cluster),
      ]
        .filter(([name]) => name.endsWith(proxied))
        .map(([name, connection]) => ({ name: name.split(':')[0], socket: connection.stream }));

    // Twice: the links ioredis opened after the first drop are watched too.
    for (const round of [1, 2]) {
      const frozen = linksToMaster();
      expect(frozen.map(({ name }) => name).sort()).toEqual(['command', 'publisher', 'subscriber']);
      b.proxy.freeze();
      sent.push(await a.engine.publish('t', 'x', round));
      await eventually(() => b.delivered.length === sent.length, 5_000);
      // No close came through the proxy: each socket was dropped on this side, by the PINGs.
      await eventually(() => frozen.every(({ socket }) => socket.destroyed), 5_000);
      sent.push(await b.engine.publish('t', 'x', round + 10));
      await eventually(() => b.delivered.length === sent.length);
    }
    expect(b.delivered.map(placed)).toEqual(sent);
    expect(b.resyncs).toEqual([]);
    // The watch holds on to no connection that went away (its probe ended at its deadline).
    const watch = b.engine['linkWatch'];
    const watched = new Set([...(watch?.['links']() ?? [])].map(([, connection]) => connection));
    await eventually(() => [...(watch?.['probes'].keys() ?? [])].every((c) => watched.has(c)));
  });

  it('never runs a publish twice when its node connection is dropped before the reply', async () => {
    const observer = await clusterNode();
    const publisher = await proxiedNode();
    await observer.engine.watch('t');
    await publisher.engine.publish('t', 'x', 0);
    await eventually(() => observer.delivered.length === 1);
    // Requests still reach the master, replies never come back: the PINGs drop the link.
    publisher.proxy.muteReplies();
    const publishing = publisher.engine.publish('t', 'x', 1);
    // The master ran it: the observer has it; the publisher never hears back.
    await eventually(() => observer.delivered.length === 2);
    await expect(publishing).rejects.toThrow(/realtime engine unavailable/);
    await publisher.engine.publish('t', 'x', 2);
    await eventually(() => observer.delivered.length >= 3);
    // Its other links to that master were muted too: they were dropped and it resynced.
    await eventually(() => publisher.engine['synced'] === true, 5_000);
    await observer.engine.recover('t', undefined);
    expect(observer.delivered.map((m) => frameData(m).payload)).toEqual([0, 1, 2]);
  });
});
