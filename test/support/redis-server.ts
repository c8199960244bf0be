import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { freePort } from './free-port';

const START_DEADLINE_MS = 10_000;

export interface TestRedisOptions {
  /**
   * Keep an append-only file in this directory (`appendonly yes`): a
   * graceful stop and restart keeps the data, as a Redis run with AOF does.
   */
  appendOnlyDir?: string;
  /** More `redis-server` arguments (a cluster node's `--cluster-enabled yes`, …). */
  extraArgs?: string[];
}

/**
 * A real redis-server of the test's own, from the binary on PATH, on a free
 * loopback port, keeping nothing on disk unless asked to. Never the machine's
 * Redis on 6379. Fault tests stop() and start() it again on the same port:
 * the data is gone, as after a real restart without persistence.
 */
export class TestRedis {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly options: TestRedisOptions,
  ) {}

  static async start(options: TestRedisOptions = {}): Promise<TestRedis> {
    const redis = new TestRedis(await freePort(), options);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /** Starts the server (again) on the same port and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.process) return;
    const { appendOnlyDir, extraArgs = [] } = this.options;
    const persistence = appendOnlyDir
      ? ['--appendonly', 'yes', '--dir', appendOnlyDir]
      : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...persistence,
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.process = child;
    child.once('exit', () => {
      if (this.process === child) this.process = undefined;
    });
    await this.waitUntilReady();
  }

  /**
   * Stops the server and waits for the exit: SIGKILL by default (no chance to
   * flush anything), SIGTERM with `graceful` (Redis writes its AOF and exits).
   */
  async stop({ graceful = false }: { graceful?: boolean } = {}): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    const exited = once(child, 'exit');
    child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await exited;
  }

  /** SIGKILL now, without waiting: for a harness's exit handler. */
  killNow(): void {
    this.process?.kill('SIGKILL');
  }

  /** Runs one command over a raw connection (RESP), e.g. `command('FLUSHALL')`; resolves to the reply text. */
  command(...args: string[]): Promise<string> {
    return respCommand(this.port, ...args);
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      try {
        if ((await this.command('PING')) === '+PONG') return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }
}

/** One command to a Redis (or Sentinel) on a loopback port over a raw connection; the reply text. */
export function respCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) {
        socket.end();
        resolve(reply.trim());
      }
    });
    const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
    socket.write(`*${args.length}\r\n${encoded}`);
  });
}
