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
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let reply = '';
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        reply += chunk;
        if (reply.endsWith('\r\n')) {
          socket.end();
          resolve(reply.trim());
        }
      });
      const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
      socket.write(`*${args.length}\r\n${encoded}`);
    });
  }

  /** INFO `section` as text (a bulk reply, read whole). */
  info(section) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let reply = '';
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        reply += chunk;
        const header = /^\$(\d+)\r\n/.exec(reply);
        if (header && Buffer.byteLength(reply) >= header[0].length + Number(header[1]) + 2) {
          socket.end();
          resolve(reply.slice(header[0].length));
        }
      });
      socket.write(`*2\r\n$4\r\nINFO\r\n$${section.length}\r\n${section}\r\n`);
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
