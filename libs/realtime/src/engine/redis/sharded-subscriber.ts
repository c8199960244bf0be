import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import { hashSlot } from '../../redis/hash-slot';
import type { WatchedLink } from '../../redis/link-watch';
import type { RedisConnections } from '../../redis/redis-connections.service';
import { EngineUnavailableError } from '../engine-unavailable.error';

/** How long a subscribe waits for a node's connection to be ready before it fails. */
const NODE_READY_TIMEOUT_MS = 2_000;

/** One master's subscriber connection and the shard channels (of its slots) it carries. */
interface NodeFeed {
  readonly connection: Redis;
  readonly channels: Set<string>;
}

/**
 * The Redis engine's subscriber on Redis Cluster: one connection per master
 * that owns a watched slot, SSUBSCRIBEd there to the shard channels of that
 * slot (a topic's channel carries its hash tag, so it lives where its
 * history does; the command channel is one too, see KeyLayout). It stands
 * in for the single subscriber connection of one Redis, with the same
 * events: `ready` once every connection it needs is ready and routed by the
 * current slot map, `close` when one of them is lost or a watched slot
 * moved (failover, resharding: the cluster connection's slot map refreshes,
 * on errors and every `slotsRefreshInterval`). The engine then re-subscribes
 * every channel on `ready` and reads each watched topic's history from its
 * last delivered offset, exactly as after a reconnect on one Redis.
 */
export class ShardedSubscriber extends EventEmitter {
  private readonly feeds = new Map<string, NodeFeed>();
  private readonly channels = new Set<string>();
  private synced = false;
  private closed = false;

  constructor(
    private readonly connections: RedisConnections,
    private readonly cluster: Cluster,
  ) {
    super();
    cluster.on('ready', this.reroute);
    cluster.on('refresh', this.reroute);
    if (cluster.status === 'ready') setImmediate(this.reroute);
  }

  /** `ready` while every channel is subscribed where the slot map says; like a Redis's status. */
  get status(): string {
    return this.synced && !this.closed ? 'ready' : 'connecting';
  }

  /**
   * SSUBSCRIBEs each channel on its slot's master (one SSUBSCRIBE per node
   * and slot). A channel is routed from the call on, and stays routed when
   * its subscription fails: a resync that failed tries again; a caller that
   * gives the channel up (a failed watch) unsubscribes it.
   */
  async subscribe(...channels: string[]): Promise<void> {
    const perNode = new Map<NodeFeed, Map<number, string[]>>();
    for (const channel of channels) {
      this.channels.add(channel);
      const feed = this.feedFor(channel);
      feed.channels.add(channel);
      const slots = perNode.get(feed) ?? new Map<number, string[]>();
      perNode.set(feed, slots);
      // One SSUBSCRIBE may not span slots.
      const slot = hashSlot(channel);
      slots.set(slot, [...(slots.get(slot) ?? []), channel]);
    }
    await Promise.all(
      [...perNode].map(async ([feed, slots]) => {
        await this.untilReady(feed.connection);
        await Promise.all(
          [...slots.values()].map((some) => bounded(feed.connection.ssubscribe(...some))),
        );
      }),
    );
  }

  /** Forgets the channel whatever the state, and SUNSUBSCRIBEs it where its link is up. */
  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    for (const feed of this.feeds.values()) {
      if (!feed.channels.delete(channel) || feed.connection.status !== 'ready') continue;
      await feed.connection.sunsubscribe(channel);
    }
  }

  /**
   * A PING on every node connection that carries channels, or with
   * `channels` on those that carry one of them: once all are answered, every
   * message those nodes published before is in (the fence of a recovery, as
   * on one Redis).
   */
  async ping(channels?: readonly string[]): Promise<string> {
    const feeds = [...this.feeds.values()].filter((feed) =>
      channels === undefined ? hasChannels(feed) : channels.some((c) => feed.channels.has(c)),
    );
    await Promise.all(
      feeds.map((feed) => {
        if (feed.connection.status !== 'ready') {
          throw new EngineUnavailableError(`Redis node subscriber is ${feed.connection.status}`);
        }
        return feed.connection.ping();
      }),
    );
    return 'PONG';
  }

  /** Its node connections as they are now (one per master in use), for LinkWatch. */
  links(): WatchedLink[] {
    return [...this.feeds].map(([node, feed]): WatchedLink => [
      `subscriber:${node}`,
      feed.connection,
    ]);
  }

  /** Drops every node connection (RedisConnections would close them too, on shutdown). */
  disconnect(): void {
    this.closed = true;
    this.cluster.off('ready', this.reroute);
    this.cluster.off('refresh', this.reroute);
    for (const feed of this.feeds.values()) feed.connection.disconnect();
    this.feeds.clear();
  }

  /** The node a channel belongs on now: its slot's master. */
  private nodeOf(channel: string): string {
    const node = this.cluster.slots[hashSlot(channel)]?.[0];
    if (node === undefined)
      throw new EngineUnavailableError('Redis Cluster slot map not known yet');
    return node;
  }

  private feedFor(channel: string): NodeFeed {
    const node = this.nodeOf(channel);
    let feed = this.feeds.get(node);
    if (!feed) {
      const [host, port] = splitNode(node);
      const connection = this.connections.openNode(`subscriber:${node}`, host, port, {
        autoResubscribe: false,
        enableOfflineQueue: false,
      });
      connection.on('smessage', this.onMessage);
      connection.on('close', () => this.lost(connection));
      connection.on('ready', () => this.reroute());
      // Its slot moved: ioredis reports an SSUBSCRIBE answered MOVED as `moved` (and never
      // settles it: see bounded()), and the SUNSUBSCRIBE Redis pushes when a slot leaves the
      // node as an `error` (a reply no command waited for). Either way the slot map is stale.
      connection.on('moved', this.refreshSlots);
      connection.on('error', (error: Error) => {
        if (/sunsubscribe|MOVED/i.test(error.message)) this.refreshSlots();
      });
      feed = { connection, channels: new Set() };
      this.feeds.set(node, feed);
    }
    return feed;
  }

  /** Asks the cluster for its slot map again; `refresh` then re-routes (reroute). */
  private readonly refreshSlots = (): void => {
    if (!this.closed) this.cluster.refreshSlotsCache();
  };

  private readonly onMessage = (channel: string, message: string): void => {
    this.emit('message', channel, message);
  };

  private lost(connection: Redis): void {
    const feed = [...this.feeds.values()].find((candidate) => candidate.connection === connection);
    if (feed && hasChannels(feed)) this.unsync();
  }

  private unsync(): void {
    if (!this.synced) return;
    this.synced = false;
    this.emit('close');
  }

  /**
   * Routes every channel by the current slot map. When one moved, or a node
   * connection in use is not ready, the feed is out of sync (`close`); once
   * every connection in use is ready it is synced again (`ready`), and the
   * engine re-subscribes and catches up. Connections left without channels
   * are closed.
   */
  private readonly reroute = (): void => {
    if (this.closed || this.cluster.status !== 'ready') return;
    let moved = false;
    try {
      for (const channel of this.channels) {
        if (this.feeds.get(this.nodeOf(channel))?.channels.has(channel)) continue;
        moved = true;
        for (const other of this.feeds.values()) other.channels.delete(channel);
        this.feedFor(channel).channels.add(channel);
      }
    } catch {
      this.unsync();
      return;
    }
    for (const [node, feed] of this.feeds) {
      if (hasChannels(feed)) continue;
      this.feeds.delete(node);
      feed.connection.disconnect();
    }
    if (moved) this.unsync();
    const ready = [...this.feeds.values()].every((feed) => feed.connection.status === 'ready');
    if (!ready) {
      this.unsync();
      return;
    }
    if (!this.synced) {
      this.synced = true;
      this.emit('ready');
    }
  };

  private untilReady(connection: Redis): Promise<void> {
    if (connection.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.off('ready', done);
        reject(new EngineUnavailableError(`Redis node subscriber is ${connection.status}`));
      }, NODE_READY_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      connection.once('ready', done);
    });
  }
}

/** A subscription that fails after NODE_READY_TIMEOUT_MS instead of waiting for ever. */
function bounded<T>(reply: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EngineUnavailableError('Redis node subscriber did not answer SSUBSCRIBE')),
      NODE_READY_TIMEOUT_MS,
    );
  });
  return Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
}

function hasChannels(feed: NodeFeed): boolean {
  return feed.channels.size > 0;
}

function splitNode(node: string): [host: string, port: number] {
  const colon = node.lastIndexOf(':');
  return [node.slice(0, colon), Number(node.slice(colon + 1))];
}
