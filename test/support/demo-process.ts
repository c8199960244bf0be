import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { ClientOptions } from 'ws';
import { ClientPool } from './client-pool';
import { type HttpReply, requestJson } from './http';
import { TEST_JWT_SECRET } from './demo-app';
import { freePort } from './free-port';
import type { ConnectResult, TestClient } from './ws-client';

const root = join(__dirname, '..', '..');
/** Built once per test run by test/global-setup.ts (`nest build`). */
export const DEMO_MAIN = join(root, 'dist', 'src', 'main.js');
/** The benchmarks' probe: answers a GC-and-measure request over IPC (bench/probe.cjs). */
const HEAP_PROBE = join(root, 'bench', 'probe.cjs');
const PROBE_TIMEOUT_MS = 10_000;

export interface DemoProcessOptions {
  /** Preload the heap probe (`--expose-gc`, IPC): heapUsedAfterGc() works. */
  heapProbe?: boolean;
}

const RELAXED_ENV: NodeJS.ProcessEnv = {
  NODE_ENV: 'test',
  JWT_SECRET: TEST_JWT_SECRET,
  REALTIME_ALLOWED_ORIGINS: 'http://localhost:3000',
  REALTIME_MAX_CONNECTIONS_PER_IP: '1000',
  REALTIME_MAX_CONNECTIONS_PER_USER: '100',
  REALTIME_CONNECT_RATE_PER_MIN: '100000',
  REALTIME_MESSAGE_RATE_PER_MIN: '100000',
  REALTIME_MAX_PENDING_PER_IP: '1000',
  HTTP_RATE_PER_MIN: '100000',
};

/** The demo's own defaults (PROTOCOL §7) for the limits RELAXED_ENV relaxes: for tests of those limits. */
export const DEMO_DEFAULT_LIMITS: NodeJS.ProcessEnv = {
  REALTIME_MAX_CONNECTIONS_PER_IP: '10',
  REALTIME_MAX_CONNECTIONS_PER_USER: '3',
  REALTIME_CONNECT_RATE_PER_MIN: '10',
  REALTIME_MESSAGE_RATE_PER_MIN: '100',
  REALTIME_MAX_PENDING_PER_IP: '16',
};

/**
 * The demo app as a real process (`node dist/src/main.js`), for tests that
 * need several instances on one Redis, or a crash. Its output is kept for
 * assertions and for the failure message.
 */
export class DemoProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly pool = new ClientPool();

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = once(child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
  }

  /**
   * How the process ended, for an assertion on it: `exit 0`, or the code or
   * signal with the tail of its output (what it logged before it failed).
   */
  async exitStatus(): Promise<string> {
    const { code, signal } = await this.exited;
    if (code === 0) return 'exit 0';
    return `exit ${code ?? signal}:\n${this.output.slice(-3000)}`;
  }

  /** Starts an instance on a free port and waits until /health answers (200 or 503). */
  static async start(
    env: NodeJS.ProcessEnv = {},
    port?: number,
    { heapProbe = false }: DemoProcessOptions = {},
  ): Promise<DemoProcess> {
    const listenPort = port ?? (await freePort());
    const args = heapProbe ? ['--expose-gc', '--require', HEAP_PROBE, DEMO_MAIN] : [DEMO_MAIN];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...RELAXED_ENV, ...env, PORT: String(listenPort) },
      stdio: heapProbe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    const instance = new DemoProcess(child, listenPort);
    try {
      await instance.waitUntilListening();
    } catch (error) {
      // Nobody holds this instance to stop it: a process left running would load the machine
      // (and keep its Redis connections retrying) for the rest of the run.
      await instance.kill();
      throw error;
    }
    return instance;
  }

  /**
   * Starts `count` instances together. If one does not come up, the others are
   * stopped before the error is thrown: a suite whose beforeAll failed never
   * gets them to stop.
   */
  static async startMany(count: number, env: NodeJS.ProcessEnv = {}): Promise<DemoProcess[]> {
    const started = await Promise.allSettled(
      Array.from({ length: count }, () => DemoProcess.start(env)),
    );
    const failure = started.find((result) => result.status === 'rejected');
    const instances = started.flatMap((result) =>
      result.status === 'fulfilled' ? [result.value] : [],
    );
    if (failure === undefined) return instances;
    await Promise.all(instances.map((instance) => instance.stop()));
    throw failure.reason;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(query: Record<string, string> = {}): string {
    const search = new URLSearchParams(query).toString();
    return `ws://127.0.0.1:${this.port}/ws${search ? `?${search}` : ''}`;
  }

  http(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers: Record<string, string> = {},
  ): Promise<HttpReply<any>> {
    return requestJson(this.baseUrl + path, method, body, token, headers);
  }

  /** Polls GET /health until it answers `status`; bounded by `ms`. */
  async healthBecomes(status: number, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const response = await this.http('GET', '/health');
      if (response.status === status) return;
      if (Date.now() > deadline)
        throw new Error(`/health stayed ${response.status}, not ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async token(userId: string, roles: string[] = [], ttlSeconds?: number): Promise<string> {
    const response = await this.http('POST', '/auth/token', { userId, roles, ttlSeconds });
    if (response.status !== 200) throw new Error(`token request failed: ${response.status}`);
    return (response.body as { token: string }).token;
  }

  connect(query: Record<string, string> = {}, options: ClientOptions = {}): Promise<TestClient> {
    return this.pool.connect(this.wsUrl(query), options);
  }

  tryConnect(
    query: Record<string, string> = {},
    options: ClientOptions = {},
  ): Promise<ConnectResult> {
    return this.pool.tryConnect(this.wsUrl(query), options);
  }

  /** Two full GCs in the process, then the V8 heap in use (bytes); needs `heapProbe`. */
  heapUsedAfterGc(): Promise<number> {
    return new Promise((resolve, reject) => {
      const rpcId = Math.random();
      const timer = setTimeout(() => {
        this.child.off('message', onReply);
        reject(new Error('the heap probe did not answer'));
      }, PROBE_TIMEOUT_MS);
      const onReply = (reply: { rpcId?: number; heapUsed?: number }) => {
        if (reply?.rpcId !== rpcId) return;
        clearTimeout(timer);
        this.child.off('message', onReply);
        resolve(Number(reply.heapUsed));
      };
      this.child.on('message', onReply);
      this.child.send({ cmd: 'bench:gc', rpcId });
    });
  }

  /** SIGSTOP: the process freezes with its sockets open, as a stalled VM or a long GC pause. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** SIGKILL: a crash, nothing closed cleanly. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for the exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.pool.closeAll((client) => Promise.resolve(client.socket.terminate()));
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Bounded by what a suite's setup hook allows (60 s where several start at once): a Nest
   * boot takes 2 s alone, several times that while the whole suite shares two cores.
   */
  private async waitUntilListening(deadlineMs = 40_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`demo exited with ${this.child.exitCode}:\n${this.output}`);
      }
      try {
        await fetch(`${this.baseUrl}/health`);
        return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`demo did not start listening:\n${this.output}`);
  }
}
