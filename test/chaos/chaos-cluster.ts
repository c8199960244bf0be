import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { TEST_JWT_SECRET } from '../support/demo-app';
import { DemoProcess } from '../support/demo-process';
import { freePort } from '../support/free-port';
import { type HttpReply, requestJson } from '../support/http';
import { TestRedis } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { sleep } from '../support/waits';
import type { ChaosConfig } from './chaos-config';

export type InstanceState = 'up' | 'down' | 'paused';

/** One fault as it happened, for the report and for the checks that depend on faults. */
export interface FaultRecord {
  kind: FaultKind;
  /** Instance index, for faults of one instance. */
  target?: number;
  startedAt: number;
  endedAt?: number;
}

export type FaultKind =
  'kill' | 'pause' | 'redis-restart-empty' | 'redis-restart-aof' | 'subscriber-drop' | 'partition';

const HTTP_TIMEOUT_MS = 5_000;
/** What src/admin/notification-fallback.handler.ts logs for each dead letter it is handed. */
const DEAD_LETTER_LOG = /dead letter (\S+) \(\w+\) for user/g;
/** The instance whose Redis connections go through a proxy, so it alone can be cut off. */
export const PARTITIONED_INSTANCE = 2;

/**
 * Three demo instances (child processes) on one redis-server of the run's
 * own (AOF on, on a free port), the third one reaching Redis through a TCP
 * proxy; and every fault the chaos run injects into them. All loopback.
 */
export class ChaosCluster {
  readonly faults: FaultRecord[] = [];
  private readonly instances: Array<DemoProcess | undefined>;
  private readonly states: InstanceState[];
  /** Everything each instance slot printed, across restarts (dead-letter hand-overs are read from it). */
  private readonly retiredOutput: string[];
  private readonly startTimes: number[];
  private redisUp = true;

  private constructor(
    private readonly config: ChaosConfig,
    readonly redis: TestRedis,
    private readonly aofDir: string,
    private readonly proxy: TcpProxy,
    readonly ports: number[],
  ) {
    this.instances = ports.map(() => undefined);
    this.states = ports.map(() => 'down');
    this.retiredOutput = ports.map(() => '');
    this.startTimes = ports.map(() => 0);
  }

  static async start(config: ChaosConfig): Promise<ChaosCluster> {
    const aofDir = mkdtempSync(join(tmpdir(), 'chaos-redis-'));
    const redis = await TestRedis.start({ appendOnlyDir: aofDir });
    const proxy = await TcpProxy.start(redis.port);
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const cluster = new ChaosCluster(config, redis, aofDir, proxy, ports);
    try {
      await Promise.all(ports.map((_, i) => cluster.startInstance(i)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get size(): number {
    return this.ports.length;
  }

  state(index: number): InstanceState {
    return this.states[index];
  }

  /** Instances a load balancer would send new connections and requests to. */
  healthy(): number[] {
    return this.states.flatMap((state, i) => (state === 'up' ? [i] : []));
  }

  get redisRunning(): boolean {
    return this.redisUp;
  }

  /** The admin-authorised HTTP call every check and publisher makes; never hangs longer than 5 s. */
  async http(
    index: number,
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<HttpReply<any>> {
    return withTimeout(
      requestJson(`http://127.0.0.1:${this.ports[index]}${path}`, method, body, token),
      HTTP_TIMEOUT_MS,
    );
  }

  /** SIGKILL, then a new process on the same port after `downMs`. */
  async kill(index: number, downMs: number): Promise<void> {
    const instance = this.instances[index];
    if (!instance || this.states[index] !== 'up') return;
    const fault = this.begin('kill', index);
    this.states[index] = 'down';
    await instance.kill();
    this.retire(index);
    await sleep(downMs);
    await this.startInstance(index);
    fault.endedAt = Date.now();
  }

  /** SIGSTOP for `ms` (past the heartbeat), then SIGCONT. */
  async pause(index: number, ms: number): Promise<void> {
    const instance = this.instances[index];
    if (!instance || this.states[index] !== 'up') return;
    const fault = this.begin('pause', index);
    this.states[index] = 'paused';
    instance.pause();
    await sleep(ms);
    instance.resume();
    this.states[index] = 'up';
    fault.endedAt = Date.now();
  }

  /**
   * Restarts Redis: `empty` kills it and deletes its append-only file (a
   * restart without persistence); otherwise it stops gracefully and comes
   * back from its AOF.
   */
  async restartRedis(empty: boolean, downMs: number): Promise<void> {
    if (!this.redisUp) return;
    const fault = this.begin(empty ? 'redis-restart-empty' : 'redis-restart-aof');
    this.redisUp = false;
    await this.redis.stop({ graceful: !empty });
    if (empty) rmSync(join(this.aofDir, 'appendonlydir'), { recursive: true, force: true });
    await sleep(downMs);
    await this.redis.restart();
    this.redisUp = true;
    fault.endedAt = Date.now();
  }

  /** CLIENT KILL of every pub/sub connection: each instance's subscriber drops and reconnects. */
  async dropSubscribers(): Promise<void> {
    if (!this.redisUp) return;
    const fault = this.begin('subscriber-drop');
    await this.redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub').catch(() => undefined);
    fault.endedAt = fault.startedAt;
  }

  /** Cuts the partitioned instance off Redis for `ms`: every link reset, new ones refused. */
  async partition(ms: number): Promise<void> {
    const fault = this.begin('partition', PARTITIONED_INSTANCE);
    this.proxy.cut();
    await sleep(ms);
    this.proxy.restore();
    fault.endedAt = Date.now();
  }

  /** Faults active on `index` (or on Redis, which every instance needs) at any time in [from, to]. */
  faultsDuring(index: number, from: number, to: number): FaultRecord[] {
    return this.faults.filter(
      (f) =>
        (f.target === undefined || f.target === index) &&
        f.kind !== 'subscriber-drop' &&
        f.startedAt <= to &&
        (f.endedAt ?? Number.POSITIVE_INFINITY) >= from,
    );
  }

  /** Times of the restarts of Redis without persistence. */
  emptyRestarts(): number[] {
    return this.faults.filter((f) => f.kind === 'redis-restart-empty').map((f) => f.startedAt);
  }

  /** When the process now serving `index` was started. */
  startedAt(index: number): number {
    return this.startTimes[index];
  }

  /** GC in the instance, then its V8 heap in use (bytes). */
  heapUsed(index: number): Promise<number> {
    const instance = this.instances[index];
    if (!instance) throw new Error(`instance ${index} is not running`);
    return instance.heapUsedAfterGc();
  }

  /** Keys in Redis (DBSIZE): counts whatever the key names are. */
  async dbsize(): Promise<number> {
    return Number(/:(\d+)/.exec(await this.redis.command('DBSIZE'))?.[1] ?? NaN);
  }

  /** Every key name in Redis (SCAN), for the leak check at the end. */
  async keys(): Promise<string[]> {
    const client = new Redis(this.redis.port, '127.0.0.1', { lazyConnect: true });
    try {
      await client.connect();
      const names: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
        names.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      return names;
    } finally {
      client.disconnect();
    }
  }

  /** Ids of the dead letters the demo's handler logged, on any instance (hand-over is at least once). */
  deadLetters(): Set<string> {
    const ids = new Set<string>();
    for (let i = 0; i < this.size; i++) {
      for (const match of this.output(i).matchAll(DEAD_LETTER_LOG)) ids.add(match[1]);
    }
    return ids;
  }

  /** Everything instance slot `index` printed, across its restarts. */
  output(index: number): string {
    return this.retiredOutput[index] + (this.instances[index]?.output ?? '');
  }

  /** SIGKILL to every process of the cluster, synchronously: the harness is exiting. */
  killNow(): void {
    for (const instance of this.instances) instance?.child.kill('SIGKILL');
    this.redis.killNow();
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.instances.map(async (instance, i) => {
        if (this.states[i] === 'paused') instance?.resume();
        await instance?.stop(5_000);
      }),
    );
    await this.proxy.stop();
    await this.redis.stop();
    rmSync(this.aofDir, { recursive: true, force: true });
  }

  private async startInstance(index: number): Promise<void> {
    const redisPort = index === PARTITIONED_INSTANCE ? this.proxy.port : this.redis.port;
    const instance = await DemoProcess.start(
      instanceEnv(this.config, redisPort),
      this.ports[index],
      { heapProbe: true },
    );
    this.instances[index] = instance;
    this.states[index] = 'up';
    this.startTimes[index] = Date.now();
  }

  private retire(index: number): void {
    this.retiredOutput[index] += this.instances[index]?.output ?? '';
    this.instances[index] = undefined;
  }

  private begin(kind: FaultKind, target?: number): FaultRecord {
    const fault: FaultRecord = { kind, target, startedAt: Date.now() };
    this.faults.push(fault);
    return fault;
  }
}

/** The demo's environment in the chaos run: limits out of the way of 3,000 loopback clients, short timers. */
function instanceEnv(config: ChaosConfig, redisPort: number): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    REALTIME_ALLOWED_ORIGINS: 'http://localhost:3000',
    REALTIME_MAX_CONNECTIONS: '20000',
    REALTIME_MAX_CONNECTIONS_PER_IP: '20000',
    REALTIME_MAX_CONNECTIONS_PER_USER: '100',
    REALTIME_CONNECT_RATE_PER_MIN: '1000000',
    REALTIME_MESSAGE_RATE_PER_MIN: '1000000',
    REALTIME_MAX_PENDING_PER_IP: '20000',
    REALTIME_HEARTBEAT_MS: String(config.heartbeatMs),
    REALTIME_PONG_TIMEOUT_MS: String(config.pongTimeoutMs),
    REALTIME_HISTORY_SIZE: String(config.historySize),
    REALTIME_HISTORY_TTL_S: String(config.historyTtlSeconds),
    REALTIME_PRESENCE_TTL_S: String(config.presenceTtlSeconds),
    REALTIME_CLEANUP_INTERVAL_MS: String(config.cleanupIntervalMs),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
