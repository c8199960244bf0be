// The benchmark's own redis-server (never the machine's Redis on 6379): from the binary on PATH,
// on a free loopback port, nothing kept on disk. Started once per run, only when a server under
// test runs in Redis mode; emptied before each of their sessions.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, stopChild } from './children.mjs';
import { readCpu } from './proc.mjs';

const START_DEADLINE_MS = 10_000;
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export class BenchRedis {
  static async start(port, extraArgs = []) {
    const child = spawnTracked(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    const redis = new BenchRedis(child, port);
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      if ((await redis.command('PING').catch(() => null)) === '+PONG') return redis;
      if (child.exitCode !== null) break;
      await delay(50);
    }
    await redis.stop();
    throw new Error(`redis-server did not answer on port ${port} (is it installed?)`);
  }

  constructor(child, port) {
    this.child = child;
    this.pid = child.pid;
    this.url = `redis://127.0.0.1:${port}`;
    this.port = port;
  }

  /** One command over a fresh connection (RESP); resolves to the first reply line. */
  command(...args) {
    return this.send(args, (reply) => reply.endsWith('\r\n')).then((reply) => reply.trim());
  }

  /** Bytes of data Redis holds (INFO memory's `used_memory`). */
  async usedMemory() {
    return Number(/used_memory:(\d+)/.exec(await this.info('memory'))?.[1] ?? 0);
  }

  /** INFO `section` as text (a bulk reply, read whole). */
  async info(section) {
    const complete = (reply) => {
      const header = /^\$(\d+)\r\n/.exec(reply);
      return (
        header !== null && Buffer.byteLength(reply) >= header[0].length + Number(header[1]) + 2
      );
    };
    const reply = await this.send(['INFO', section], complete);
    return reply.slice(reply.indexOf('\r\n') + 2);
  }

  /** Writes one command and resolves with the raw reply once `complete(reply)` holds. */
  send(args, complete) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let reply = '';
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        reply += chunk;
        if (complete(reply)) {
          socket.end();
          resolve(reply);
        }
      });
      const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
      socket.write(`*${args.length}\r\n${encoded}`);
    });
  }

  /** CPU time so far, µs (from /proc). */
  cpu() {
    return readCpu(this.pid);
  }

  stop() {
    return stopChild(this.child, 2000);
  }
}

/**
 * A Redis Cluster of the bench's own: `masters` redis-servers with `--cluster-enabled yes` on free
 * loopback ports, joined by `redis-cli --cluster create` (no replicas: the bench measures the
 * load, not failover). Its nodes' CPU is reported one by one, to show how the load spreads.
 */
export class BenchRedisCluster {
  static async start(ports) {
    const dir = mkdtempSync(path.join(tmpdir(), 'rt-bench-cluster-'));
    const nodes = [];
    try {
      for (const [i, port] of ports.entries()) {
        const conf = path.join(dir, `node-${i}.conf`);
        const args = ['--cluster-enabled', 'yes', '--cluster-config-file', conf, '--dir', dir];
        nodes.push(await BenchRedis.start(port, args));
      }
      await promisify(execFile)('redis-cli', [
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-yes',
      ]);
      const cluster = new BenchRedisCluster(nodes, dir);
      await cluster.untilConverged();
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  constructor(nodes, dir) {
    this.nodes = nodes;
    this.dir = dir;
    this.nodeList = nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
    this.port = nodes[0].port;
  }

  async untilConverged() {
    const deadline = Date.now() + START_DEADLINE_MS * 2;
    while (Date.now() < deadline) {
      const infos = await Promise.all(
        this.nodes.map((node) => node.command('CLUSTER', 'INFO').catch(() => '')),
      );
      if (infos.every((info) => info.includes('cluster_state:ok'))) return;
      await delay(100);
    }
    throw new Error('the bench Redis Cluster did not converge');
  }

  /** Empties every master (FLUSHALL is per node on a cluster). */
  async flushAll() {
    await Promise.all(this.nodes.map((node) => node.command('FLUSHALL')));
  }

  /** INFO `section` of every node, one after the other: counters summed over lines count the cluster's. */
  async info(section) {
    return (await Promise.all(this.nodes.map((node) => node.info(section)))).join('\n');
  }

  /** CPU time so far of every node together, µs. */
  cpu() {
    const all = this.nodes.map((node) => node.cpu());
    return {
      user: all.reduce((a, c) => a + c.user, 0),
      system: all.reduce((a, c) => a + c.system, 0),
    };
  }

  /** CPU time so far of each node, µs (user + system). */
  nodeCpu() {
    return this.nodes.map((node) => {
      const c = node.cpu();
      return c.user + c.system;
    });
  }

  async stop() {
    await Promise.all(this.nodes.map((node) => node.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
