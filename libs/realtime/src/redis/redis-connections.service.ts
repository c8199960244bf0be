import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { KeyLayout } from './key-layout';
import type { BatchAhead } from './round-trip-batch';
import { endWhenDisconnected } from './cluster-disconnect';
import { backOffClusterSubscriber } from './cluster-subscriber-backoff';
import { ReconnectBackoff } from './reconnect-backoff';
import { ResubscribingRedis } from './resubscribing-redis';
import { batchTurnsPerNode, TurnBatchedRedis } from './turn-batched-redis';

/** Default `commandTimeout` of the shared command connection (the `redis.options` may set another). */
const COMMAND_TIMEOUT_MS = 2_000;

/**
 * For connections whose scripts are not idempotent (publish, inbox writes,
 * admission counts): a command in flight when the connection drops may have
 * run, so it fails (at its command timeout) instead of being sent again
 * after the reconnect, which would run it twice (ioredis's default).
 */
export const AT_MOST_ONCE: RedisOptions = { autoResendUnfulfilledCommands: false };

/**
 * AT_MOST_ONCE on a cluster. A node connection that drops fails the commands
 * in flight on it (it does not reconnect itself), and the Cluster would send
 * them again `retryDelayOnFailover` later, to the slot's master over a new
 * connection: a script that ran but whose reply was lost would run twice.
 * With no delay the Cluster fails them instead.
 */
const CLUSTER_AT_MOST_ONCE: ClusterOptions = { retryDelayOnFailover: 0 };

/** Cluster-level options that follow a connection's own (the others apply per node). */
const CLUSTER_LEVEL: ReadonlyArray<keyof RedisOptions & keyof ClusterOptions> = [
  'enableOfflineQueue',
  'enableReadyCheck',
];

/** How `RedisConnections.open` builds a connection (see there). */
export interface OpenOptions {
  turnBatched?: boolean;
  resubscribing?: boolean;
}

/**
 * The library's own connections to Redis (never the host app's): one command
 * connection shared by every service, and dedicated connections for whatever
 * needs one of its own (pub/sub subscribers, blocking queue clients). Keys and
 * channels are all built with `key()`, under the configured prefix, so several
 * apps can share one Redis. Connections send a turn's commands in one write
 * (`TurnBatchedRedis`; on a cluster one write per node, `batchTurnsPerNode`).
 * Every connection opened here is closed on shutdown.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly logger = new Logger('Realtime');
  private readonly settings: ResolvedRealtimeOptions['redis'];
  private commandConnection: Redis | undefined;
  private readonly opened = new Set<Redis>();
  /** Where every key and channel lives (hash tags on a cluster). */
  readonly layout: KeyLayout;
  /**
   * Presence's user calls (each connection's connect and disconnect, a
   * RoundTripBatch on the command connection), set by the presence store:
   * a connection's inbox read follows its presence write there
   * (RedisOfflineStore.pending).
   */
  connectWrites: BatchAhead | undefined;
  /** Batches whose queued calls still go out at shutdown, before the connections close. */
  private readonly drained = new Set<{ idle(): Promise<void> }>();

  constructor(@Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions) {
    this.settings = options.redis;
    this.layout = new KeyLayout(this.keyPrefix, this.isCluster, databaseOf(this.settings));
  }

  /** Whether the options configure Redis Cluster (`redis.cluster`). */
  get isCluster(): boolean {
    return this.settings?.cluster !== undefined;
  }

  /**
   * The command connection as the ioredis `Cluster` it is in cluster mode
   * (its slot map routes sharded subscriptions), undefined otherwise.
   */
  get cluster(): Cluster | undefined {
    return this.isCluster ? (this.command as unknown as Cluster) : undefined;
  }

  /** Whether the options configure Redis at all. */
  get enabled(): boolean {
    return this.settings !== undefined;
  }

  get keyPrefix(): string {
    return this.settings?.keyPrefix ?? '';
  }

  /** A key or channel name under the prefix, untagged (see `layout` for tagged ones). */
  key(...parts: string[]): string {
    return this.layout.key(...parts);
  }

  /** The shared command connection, opened on first use. */
  get command(): Redis {
    // A command Redis does not answer in time fails instead of holding its caller (a publish) forever.
    this.commandConnection ??= this.open('command', AT_MOST_ONCE, {
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    return this.commandConnection;
  }

  /**
   * A new connection of its own (a pub/sub subscriber, a queue's blocking
   * client). It is closed with the others on shutdown, or by the caller.
   * `turnBatched: false` for a caller that already sends one command per turn
   * (it would only wait a turn longer for its write). `resubscribing`: a
   * subscriber for a client library that keeps its subscriptions through
   * reconnects itself (ResubscribingRedis; a cluster's own subscriber does).
   */
  open(
    name: string,
    overrides: RedisOptions = {},
    defaults: RedisOptions = {},
    { turnBatched = true, resubscribing = false }: OpenOptions = {},
  ): Redis {
    if (!this.settings) throw new Error('RealtimeModule: Redis is not configured (option "redis")');
    const { url, options, cluster } = this.settings;
    const backoff = new ReconnectBackoff();
    const settings: RedisOptions = {
      connectionName: `realtime:${name}`,
      ...CLOSE_AT_ONCE,
      // A cluster's node connections do not reconnect themselves (the Cluster does).
      ...(cluster ? {} : { retryStrategy: backoff.delay }),
      ...defaults,
      ...options,
      ...overrides,
    };
    let connection: Redis;
    if (cluster) {
      // A Cluster answers the commands the library sends like one Redis does (each script and
      // MULTI touches one slot, see KeyLayout): typed as one, so callers need not know.
      const clusterLevel: ClusterOptions = {};
      for (const option of CLUSTER_LEVEL) {
        if (settings[option] !== undefined)
          Object.assign(clusterLevel, { [option]: settings[option] });
      }
      const client = new Cluster(cluster.nodes, {
        // ioredis's own delay (100 ms + 2 ms per attempt) keeps a cluster that refuses the
        // credentials at about seven slot refreshes a second, each trying every node, for half an hour.
        clusterRetryStrategy: backoff.delay,
        ...clusterLevel,
        ...cluster.options,
        ...(settings.autoResendUnfulfilledCommands === false ? CLUSTER_AT_MOST_ONCE : {}),
        redisOptions: { ...settings, ...cluster.options.redisOptions },
      });
      if (turnBatched) batchTurnsPerNode(client);
      backOffClusterSubscriber(client);
      endWhenDisconnected(client);
      connection = client as unknown as Redis;
    } else if (resubscribing) {
      const resubscribed = { ...settings, autoResubscribe: false };
      connection = url
        ? new ResubscribingRedis(url, resubscribed)
        : new ResubscribingRedis(resubscribed);
    } else {
      const Connection = turnBatched ? TurnBatchedRedis : Redis;
      connection = url ? new Connection(url, settings) : new Connection(settings);
    }
    return this.track(name, connection, backoff);
  }

  /**
   * A connection to one node of the cluster (a sharded subscriber's), with
   * the node options of `open()`; closed with the others on shutdown.
   */
  openNode(name: string, host: string, port: number, overrides: RedisOptions = {}): Redis {
    if (!this.settings) throw new Error('RealtimeModule: Redis is not configured (option "redis")');
    const { options, cluster } = this.settings;
    const backoff = new ReconnectBackoff();
    return this.track(
      name,
      new Redis({
        connectionName: `realtime:${name}`,
        ...CLOSE_AT_ONCE,
        retryStrategy: backoff.delay,
        ...options,
        ...cluster?.options.redisOptions,
        ...overrides,
        host,
        port,
      }),
      backoff,
    );
  }

  private track(name: string, connection: Redis, backoff: ReconnectBackoff): Redis {
    // ioredis reconnects by itself; without a listener an 'error' event would crash the process.
    // One warning per outage, not one per reconnection attempt.
    let failing = false;
    connection.on('error', (error: Error) => {
      if (failing) return;
      failing = true;
      this.logger.warn(`redis ${name} connection: ${connectionFailure(error)} (reconnecting)`);
    });
    connection.on('ready', () => {
      // Without a ready check, 'ready' comes even after Redis refused the AUTH (the link is
      // already closing then): not a recovery.
      if (connection.stream?.writableEnded) return;
      backoff.held();
      if (!failing) return;
      failing = false;
      this.logger.log(`redis ${name} connection: ready again`);
    });
    // Tracked while it may reconnect: Bull ends a blocking connection and connects it again when a queue closes.
    connection.on('end', () => this.opened.delete(connection));
    connection.on('connecting', () => this.opened.add(connection));
    this.opened.add(connection);
    return connection;
  }

  /** Waits, bounded, until no connection is still connecting (each is then ready or given up). */
  async settle(): Promise<void> {
    await Promise.all([...this.opened].filter(isConnecting).map(settled));
  }

  /**
   * A batch (RoundTripBatch) that shutdown lets finish before it closes the
   * connections: the closes of shutdown's own connections, queued behind a
   * call in flight, still reach Redis.
   */
  drainOnShutdown(batch: { idle(): Promise<void> }): void {
    this.drained.add(batch);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.drained.size > 0) {
      // Bounded: each call by its command timeout, and what was queued behind it by one more.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.drained].map((batch) => batch.idle())),
        new Promise((resolve) => (timer = setTimeout(resolve, 2 * COMMAND_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
    }
    const connections = [...this.opened];
    this.opened.clear();
    this.commandConnection = undefined;
    await Promise.all(connections.map((connection) => closeConnection(connection)));
  }
}

/**
 * What is disconnected has nothing left to send (a connection never ready, a
 * failed QUIT, Bull's blocking one): its socket goes at once. ioredis's 2 s
 * wait for the peer to close held the host's exit that long when the peer
 * never did (a stalled proxy, a half-open link).
 */
const CLOSE_AT_ONCE: RedisOptions = { disconnectTimeout: 0 };

/** How long shutdown lets a connection that is still connecting finish, so that it can QUIT. */
const SETTLE_MS = 500;

/** QUIT when connected (pending replies still arrive), otherwise drop at once. */
async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  // Dropped in the middle of its ready check, ioredis would arm a reconnect and a 2 s timer.
  if (isConnecting(connection)) await settled(connection);
  if (connection.status === 'ready') {
    try {
      await connection.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  connection.disconnect();
}

function isConnecting(connection: Redis): boolean {
  return connection.status === 'connecting' || connection.status === 'connect';
}

function settled(connection: Redis): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      connection.off('ready', done).off('end', done);
      resolve();
    };
    const timer = setTimeout(done, SETTLE_MS);
    connection.once('ready', done).once('end', done);
  });
}

/** The database the connections select, as ioredis reads the URL and options (the URL's wins). */
function databaseOf(settings: ResolvedRealtimeOptions['redis']): number {
  if (!settings || settings.cluster) return 0;
  const options = { ...settings.options, lazyConnect: true };
  // Never connects (lazyConnect): only ioredis's own parsing is wanted.
  const probe = settings.url ? new Redis(settings.url, options) : new Redis(options);
  return probe.options.db ?? 0;
}

/**
 * A connection error as a log line should say it. A cluster client that
 * reached no node fails with "Failed to refresh slots cache." (ioredis's
 * ClusterAllFailedError, not exported): the last node's own error (a refused
 * AUTH, a refused connection) is what an operator needs to read.
 */
function connectionFailure(error: Error): string {
  const cause = (error as Error & { lastNodeError?: unknown }).lastNodeError;
  return cause instanceof Error ? `${error.message} ${cause.message}` : error.message;
}
