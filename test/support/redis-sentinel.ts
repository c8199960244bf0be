import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { respCommand, TestRedis } from './redis-server';

const START_DEADLINE_MS = 10_000;

/**
 * A real Sentinel setup of the test's own: a primary, one replica
 * (`--replicaof`), and one `redis-server --sentinel` (quorum 1) watching
 * them as `name`, all on free loopback ports; the sentinel's config file
 * (Sentinel rewrites it) in a temporary directory removed by stop().
 */
export class TestSentinel {
  private constructor(
    readonly name: string,
    readonly primary: TestRedis,
    readonly replica: TestRedis,
    readonly port: number,
    private readonly process: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(name = 'rtprimary'): Promise<TestSentinel> {
    // Replication writes RDB files: into the temporary directory, never the working tree.
    const dir = await mkdtemp(join(tmpdir(), 'rt-sentinel-'));
    const primary = await TestRedis.start({ extraArgs: ['--dir', dir] });
    const replica = await TestRedis.start({
      extraArgs: [
        '--dir',
        dir,
        '--dbfilename',
        'replica.rdb',
        '--replicaof',
        '127.0.0.1',
        String(primary.port),
      ],
    });
    const port = await freePort();
    const config = join(dir, 'sentinel.conf');
    await writeFile(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    const sentinel = new TestSentinel(name, primary, replica, port, child, dir);
    try {
      await sentinel.untilAnswering();
      await sentinel.untilReplicaSynced();
      return sentinel;
    } catch (error) {
      await sentinel.stop();
      throw error;
    }
  }

  get sentinels(): Array<{ host: string; port: number }> {
    return [{ host: '127.0.0.1', port: this.port }];
  }

  /** The port of the primary the sentinel names now. */
  async primaryPort(): Promise<number> {
    const reply = await this.command('SENTINEL', 'get-master-addr-by-name', this.name);
    return Number(/\$\d+\r\n(\d+)\s*$/.exec(reply)?.[1]);
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = once(this.process, 'exit');
      this.process.kill('SIGKILL');
      await exited;
    }
    await Promise.all([this.primary.stop(), this.replica.stop()]);
    await rm(this.dir, { recursive: true, force: true });
  }

  private command(...args: string[]): Promise<string> {
    return respCommand(this.port, ...args);
  }

  private async untilAnswering(): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      const reply = await this.command('PING').catch(() => '');
      if (reply === '+PONG') return;
      if (Date.now() > deadline) throw new Error('redis sentinel did not start');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  private async untilReplicaSynced(): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      const info = await this.replica.command('INFO', 'replication').catch(() => '');
      if (/master_link_status:up/.test(info)) return;
      if (Date.now() > deadline) throw new Error('replica did not sync with the primary');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
