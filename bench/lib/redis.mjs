// The benchmark's own redis-server (never the machine's Redis on 6379): from the binary on PATH,
// on a free loopback port, nothing kept on disk. Started once per run, only when a server under
// test runs in Redis mode; emptied before each of their sessions.
import net from 'node:net';
import { spawnTracked, stopChild } from './children.mjs';
import { readCpu } from './proc.mjs';

const START_DEADLINE_MS = 10_000;
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export class BenchRedis {
  static async start(port) {
    const child = spawnTracked(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
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
