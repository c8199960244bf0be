import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { freePort } from './free-port';

const START_DEADLINE_MS = 10_000;
const START_ATTEMPTS = 3;

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
    // The port was free when freePort() looked; something else may bind it before this
    // server does (the whole suite starts servers at once): then try another port.
    for (let attempt = 1; ; attempt++) {
      const redis = new TestRedis(await freePort(), options);
      try {
        await redis.restart();
        return redis;
      } catch (error) {
        await redis.stop();
        if (attempt === START_ATTEMPTS) throw error;
      }
    }
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
    await this.waitUntilReady(child);
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

  /**
   * Script runs this server answered (INFO commandstats): EVAL and EVALSHA
   * calls that did not fail. ioredis sends a script as EVALSHA first and,
   * where the script cache does not hold it yet, again as EVAL after the
   * NOSCRIPT: that failed call is not a run.
   */
  /**
   * Starts each call in a turn of its own (`turnsApart` turns between
   * them), the first sent while this Redis holds its clients' writes and
   * scripts (CLIENT PAUSE for `pauseMs`): what a batch queues behind an
   * unanswered call. A rejection is a result here, not an unhandled one.
   */
  async callsWhilePaused<T>(
    calls: Array<() => Promise<T>>,
    turnsApart = 1,
    pauseMs = 300,
  ): Promise<Array<Promise<T>>> {
    await this.command('CLIENT', 'PAUSE', String(pauseMs), 'WRITE');
    const replies: Array<Promise<T>> = [];
    for (const call of calls) {
      const reply = call();
      reply.catch(() => undefined);
      replies.push(reply);
      for (let turn = 0; turn < turnsApart; turn++) await nextTurn();
    }
    return replies;
  }

  async scriptRuns(): Promise<number> {
    const info = await this.command('INFO', 'commandstats');
    let runs = 0;
    for (const match of info.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+),.*failed_calls=(\d+)/g)) {
      runs += Number(match[1]) - Number(match[2]);
    }
    return runs;
  }

  /**
   * Waits until every replica of this primary has acknowledged everything it
   * was sent (INFO replication: each `slaveN` offset at `master_repl_offset`).
   * `WAIT` would not do from the test: it counts only the calling
   * connection's own writes.
   */
  async untilReplicated(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.command('INFO', 'replication');
      const primary = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? NaN);
      const replicas = [...info.matchAll(/slave\d+:.*offset=(\d+)/g)].map((m) => Number(m[1]));
      if (replicas.length > 0 && replicas.every((offset) => offset >= primary)) return;
      if (Date.now() > deadline) throw new Error(`replicas of port ${this.port} did not catch up`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /**
   * Waits until this server answers: its own process, not another one that
   * holds the port (a redis-server that cannot bind exits at once).
   */
  private async waitUntilReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited at start on port ${this.port} (port taken?)`);
      }
      try {
        const info = await this.command('INFO', 'server');
        if (info.includes(`\r\nprocess_id:${child.pid}\r\n`)) return;
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
    let reply = Buffer.alloc(0);
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      // A long reply (INFO, CLIENT LIST) may come in several chunks, each ending a line.
      if (endOfReply(reply, 0) === reply.length) {
        socket.end();
        resolve(reply.toString().trim());
      }
    });
    const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
    socket.write(`*${args.length}\r\n${encoded}`);
  });
}

/** Where the RESP reply starting at `at` ends, or -1 while it is incomplete. */
function endOfReply(reply: Buffer, at: number): number {
  const lineEnd = reply.indexOf('\r\n', at);
  if (lineEnd === -1) return -1;
  const type = String.fromCharCode(reply[at]);
  const size = Number(reply.toString('latin1', at + 1, lineEnd));
  let end = lineEnd + 2;
  if (type === '$' && size >= 0) end += size + 2;
  if (type === '*') {
    for (let i = 0; i < size && end !== -1; i++) end = endOfReply(reply, end);
  }
  return end !== -1 && end <= reply.length ? end : -1;
}
