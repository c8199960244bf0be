import Redis from 'ioredis';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestRedis } from './redis-server';

const run = promisify(execFile);

/** How long the cluster may take to agree on its slots (every node `cluster_state:ok`). */
const CONVERGE_DEADLINE_MS = 20_000;
const POLL_MS = 100;

export interface TestRedisClusterOptions {
  /** Masters (3 by default: the smallest cluster `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Replicas per master (0 by default). */
  replicasPerMaster?: number;
}

/**
 * A real Redis Cluster of the test's own: `redis-server --cluster-enabled yes`
 * nodes on free loopback ports, joined by `redis-cli --cluster create`, each
 * node's cluster state in a temporary directory removed by stop(). Failover
 * tests kill a master (`kill(node)`) and wait for a replica to take over.
 */
export class TestRedisCluster {
  private constructor(
    readonly nodes: TestRedis[],
    private readonly dir: string,
  ) {}

  static async start({
    masters = 3,
    replicasPerMaster = 0,
  }: TestRedisClusterOptions = {}): Promise<TestRedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'rt-cluster-'));
    const nodes: TestRedis[] = [];
    const cluster = new TestRedisCluster(nodes, dir);
    try {
      const count = masters * (1 + replicasPerMaster);
      for (let i = 0; i < count; i++) {
        nodes.push(
          await TestRedis.start({
            extraArgs: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, `node-${i}.conf`),
              // Long enough that a busy machine never looks like a failed node (a false failover).
              '--cluster-node-timeout',
              '3000',
              '--dir',
              dir,
            ],
          }),
        );
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ]);
      await cluster.untilConverged();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `host:port` of every node, comma-separated: what `REDIS_CLUSTER_NODES` takes. */
  get nodeList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  /** The port of the master serving each slot (CLUSTER SLOTS on a running node). */
  async slotOwners(): Promise<Map<number, number>> {
    const node = this.nodes.find((candidate) => candidate.running);
    if (!node) throw new Error('no cluster node is running');
    const client = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true });
    try {
      await client.connect();
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number, ...unknown[]], ...unknown[]]
      >;
      const owners = new Map<number, number>();
      for (const [start, end, [, port]] of ranges) {
        for (let slot = start; slot <= end; slot++) owners.set(slot, port);
      }
      return owners;
    } finally {
      client.disconnect();
    }
  }

  /** Waits until every running node reports `cluster_state:ok` and all 16384 slots are served. */
  async untilConverged(deadlineMs = CONVERGE_DEADLINE_MS): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const states = await Promise.all(
        this.nodes
          .filter((node) => node.running)
          .map((node) => node.command('CLUSTER', 'INFO').catch(() => '')),
      );
      if (states.every((info) => /cluster_state:ok/.test(info) && /slots_ok:16384/.test(info))) {
        return;
      }
      if (Date.now() > deadline) throw new Error('Redis Cluster did not converge');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The node currently master of `slot`. */
  async masterOf(slot: number): Promise<TestRedis> {
    const port = (await this.slotOwners()).get(slot);
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no master serves slot ${slot}`);
    return node;
  }

  /**
   * Moves one slot, with its keys, to the master on `toPort` (what
   * `redis-cli --cluster reshard` does per slot): IMPORTING/MIGRATING,
   * MIGRATE of its keys, then SETSLOT NODE on every master.
   */
  async moveSlot(slot: number, toPort: number): Promise<void> {
    const fromPort = (await this.slotOwners()).get(slot);
    if (fromPort === undefined || fromPort === toPort) return;
    await this.withClients(async (client) => {
      const [from, to] = [await client(fromPort), await client(toPort)];
      const toId = await this.markMigrating(slot, from, to);
      for (let round = 0; round < 1000; round++) {
        const keys = (await from.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await from.call('MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...keys);
      }
      const masters = new Set((await this.slotOwners()).values());
      for (const port of masters) {
        await (await client(port)).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
      }
    });
  }

  /**
   * A reshard of `slot` to the master on `toPort` half-way: IMPORTING there,
   * MIGRATING on its owner, none of its keys moved yet (moveSlot finishes it).
   */
  async startMigration(slot: number, toPort: number): Promise<void> {
    const fromPort = (await this.slotOwners()).get(slot);
    if (fromPort === undefined || fromPort === toPort) return;
    await this.withClients(async (client) => {
      await this.markMigrating(slot, await client(fromPort), await client(toPort));
    });
  }

  /** Marks `slot` importing on `to` and migrating on `from`; resolves to `to`'s node id. */
  private async markMigrating(slot: number, from: Redis, to: Redis): Promise<string> {
    const [fromId, toId] = (await Promise.all([
      from.call('CLUSTER', 'MYID'),
      to.call('CLUSTER', 'MYID'),
    ])) as string[];
    await to.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await from.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    return toId;
  }

  /** Runs `work` with connections to masters by port, opened as asked, closed after. */
  private async withClients(
    work: (client: (port: number) => Promise<Redis>) => Promise<void>,
  ): Promise<void> {
    const clients = new Map<number, Redis>();
    try {
      await work(async (port) => {
        let found = clients.get(port);
        if (!found) {
          found = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
          clients.set(port, found);
          await found.connect();
        }
        return found;
      });
    } finally {
      for (const connection of clients.values()) connection.disconnect();
    }
  }

  /** SIGKILLs every node now, without waiting: for a harness's exit handler. */
  killNow(): void {
    for (const node of this.nodes) node.killNow();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
