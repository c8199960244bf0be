// The servers under test: how to build/start each one, wait until it serves, probe it (GC, heap,
// CPU via bench/probe.cjs over IPC; RSS and CPU from /proc) and stop it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createRpc, forkTracked, spawnTracked, stopChild } from './children.mjs';
import { readCpu, readRss, wallNow } from './proc.mjs';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const BENCH = path.join(ROOT, 'bench');
const PROBE = path.join(BENCH, 'probe.cjs');
export const DEMO_MAIN = path.join(ROOT, 'dist/src/main.js');

/** Environment every server gets; the demo reads these, the peers read PORT and JWT_SECRET. */
export function serverEnv(port, secret, extra = {}) {
  return {
    ...process.env,
    PORT: String(port),
    JWT_SECRET: secret,
    REALTIME_ALLOWED_ORIGINS: '*',
    REALTIME_MAX_CONNECTIONS: '19000',
    REALTIME_MAX_CONNECTIONS_PER_IP: '19000',
    REALTIME_MAX_CONNECTIONS_PER_USER: '19000',
    REALTIME_CONNECT_RATE_PER_MIN: '1000000',
    REALTIME_MESSAGE_RATE_PER_MIN: '10000000',
    REALTIME_MAX_QUEUED_MESSAGES: '100000',
    // Every load socket comes from 127.0.0.1: the slowloris cap per IP would refuse them.
    REALTIME_MAX_PENDING_PER_IP: '100000',
    // One admin sends every notification of the notify burst.
    HTTP_RATE_PER_MIN: '100000000',
    NODE_ENV: 'development',
    ...extra,
  };
}

export const SERVERS = [
  {
    name: 'demo',
    protocol: 'ws',
    script: DEMO_MAIN,
    description: 'the project demo app (`node dist/src/main.js`), RealtimeModule',
    startTimeoutMs: 60_000,
    notifies: true,
    presence: true,
  },
  {
    name: 'ws-bare',
    protocol: 'ws',
    script: path.join(BENCH, 'servers/ws-bare.mjs'),
    description: '`ws`, JSON once per publish, `socket.send(string)` per subscriber',
    startTimeoutMs: 15_000,
  },
  {
    name: 'ws-preframed',
    protocol: 'ws',
    script: path.join(BENCH, 'servers/ws-preframed.mjs'),
    description: '`ws`, frame built once per publish, same buffer written to every TCP socket',
    startTimeoutMs: 15_000,
  },
  {
    name: 'socketio',
    protocol: 'socketio',
    script: path.join(BENCH, 'servers/socketio.mjs'),
    description: 'Socket.IO 4, rooms, `io.to(topic).emit()`, WebSocket transport only',
    startTimeoutMs: 15_000,
  },
  {
    name: 'demo-redis',
    protocol: 'ws',
    script: DEMO_MAIN,
    instances: 2,
    redis: true,
    description:
      'the demo app as two instances sharing one Redis (`REDIS_URL`: the Redis engine, cluster-wide admission, Bull)',
    startTimeoutMs: 60_000,
    notifies: true,
    presence: true,
  },
  {
    name: 'demo-redis-cluster',
    protocol: 'ws',
    script: DEMO_MAIN,
    instances: 2,
    redisCluster: true,
    description:
      'the demo app as two instances on a 3-master Redis Cluster (`REDIS_CLUSTER_NODES`: hash-tagged keys, sharded pub/sub)',
    startTimeoutMs: 60_000,
    notifies: true,
    presence: true,
  },
  {
    name: 'socketio-redis',
    protocol: 'socketio',
    script: path.join(BENCH, 'servers/socketio.mjs'),
    instances: 2,
    redis: true,
    description: 'Socket.IO 4 as two instances with `@socket.io/redis-adapter` on one Redis',
    startTimeoutMs: 15_000,
  },
];

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/**
 * Builds the demo (`npx nest build`) if dist/src/main.js is missing or older than any source.
 * Resolves { ok: true } or { ok: false, reason }.
 */
export async function ensureDemoBuilt({ allowBuild, log, timeoutMs = 300_000 }) {
  if (!existsSync(path.join(ROOT, 'src/main.ts'))) {
    return { ok: false, reason: 'src/main.ts does not exist yet' };
  }
  const sourcesMtime = Math.max(
    newestMtime(path.join(ROOT, 'src')),
    newestMtime(path.join(ROOT, 'libs')),
    ...['tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'].map((f) =>
      existsSync(path.join(ROOT, f)) ? statSync(path.join(ROOT, f)).mtimeMs : 0,
    ),
  );
  const fresh = existsSync(DEMO_MAIN) && statSync(DEMO_MAIN).mtimeMs >= sourcesMtime;
  if (fresh) return { ok: true, built: false };
  if (!allowBuild) {
    return existsSync(DEMO_MAIN)
      ? { ok: true, built: false, stale: true }
      : { ok: false, reason: 'dist/src/main.js missing and --no-build given' };
  }
  log('building the demo (npx nest build)...');
  const started = Date.now();
  const result = await new Promise((resolve) => {
    const child = spawnTracked('npx', ['nest', 'build'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk) => (output = (output + chunk).slice(-20_000));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => (output += String(err)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
  if (result.code !== 0 || !existsSync(DEMO_MAIN)) {
    const tail = result.output.trim().split('\n').slice(-15).join('\n');
    return {
      ok: false,
      reason: `nest build failed (${result.signal ?? `exit ${result.code}`}):\n${tail}`,
    };
  }
  log(`demo built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { ok: true, built: true };
}

/**
 * Identifies the demo build on disk (a hash of every .js file under dist/), to notice a rebuild
 * with different code in the middle of a run. Content, not mtime: rebuilding the same sources
 * is harmless.
 */
export function demoBuildStamp() {
  const dist = path.join(ROOT, 'dist');
  if (!existsSync(DEMO_MAIN)) return null;
  const hash = createHash('sha1');
  const files = readdirSync(dist, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.js'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
  for (const file of files) {
    try {
      hash.update(file).update(readFileSync(file));
    } catch {
      hash.update(`${file}: unreadable`); // Deleted mid-rebuild: a change either way.
    }
  }
  return hash.digest('hex');
}

/** Asks the OS for a free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function httpStatus(port, urlPath, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A running server under test. Output is kept in a small ring buffer, shown when it fails.
 */
export class ServerProcess {
  static async start(def, secret, extraEnv = {}, fixedPort = undefined) {
    const port = fixedPort ?? (await freePort());
    const child = forkTracked(def.script, [], {
      cwd: ROOT,
      env: serverEnv(port, secret, extraEnv),
      execArgv: ['--expose-gc', '--require', PROBE],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const server = new ServerProcess(def, child, port);
    await server.waitHealthy(def.startTimeoutMs);
    return server;
  }

  constructor(def, child, port) {
    this.def = def;
    this.name = def.name;
    this.protocol = def.protocol;
    this.child = child;
    this.pid = child.pid;
    this.port = port;
    this.output = [];
    this.rpc = createRpc(child, def.name);
    const keep = (chunk) => {
      // eslint-disable-next-line no-control-regex -- Nest's logger colours its output.
      for (const line of String(chunk)
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')) {
        if (line.trim()) this.output.push(line);
      }
      if (this.output.length > 40) this.output.splice(0, this.output.length - 40);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  outputTail(lines = 15) {
    return this.output.slice(-lines).join('\n');
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let lastStatus = null;
    while (Date.now() < deadline) {
      if (!this.alive) {
        throw new Error(`${this.name} exited during start-up:\n${this.outputTail()}`);
      }
      lastStatus = await httpStatus(this.port, '/health', 1000);
      if (lastStatus === 200) return;
      await delay(lastStatus === null ? 100 : 250);
    }
    await this.stop();
    throw new Error(
      `${this.name} not healthy after ${timeoutMs} ms (last GET /health: ${lastStatus ?? 'no answer'}):\n` +
        this.outputTail(),
    );
  }

  /** Starts a CPU profile in the server (bench/probe.cjs). */
  profileStart() {
    return this.rpc({ cmd: 'bench:prof-start' }, 10_000);
  }

  /** A heap snapshot of the server, written to `file` (.heapsnapshot). */
  heapSnapshot(file) {
    return this.rpc({ cmd: 'bench:heap-snapshot', file }, 120_000);
  }

  /** Stops it and writes it to `file` (.cpuprofile). */
  profileStop(file) {
    return this.rpc({ cmd: 'bench:prof-stop', file }, 30_000);
  }

  /** Full GC in the server, then V8 heap in use and RSS, in bytes. */
  async memory() {
    const { heapUsed, external } = await this.rpc({ cmd: 'bench:gc' }, 30_000);
    return { heapUsed, external, rss: readRss(this.pid) };
  }

  /**
   * CPU time so far in microseconds, { user, system }. IPC gives microsecond resolution; /proc
   * (clock-tick resolution) is the fallback when the server is too busy to answer quickly.
   */
  async cpu() {
    if (!this.alive) throw new Error(`${this.name} has exited`);
    try {
      return (await this.rpc({ cmd: 'bench:cpu' }, 2000)).cpu;
    } catch {
      return readCpu(this.pid);
    }
  }

  /** CPU share of one core over `ms` (from /proc, no work in the server). */
  async cpuShare(ms) {
    const a = readCpu(this.pid);
    const t = performance.now();
    await delay(ms);
    const b = readCpu(this.pid);
    return (b.user + b.system - a.user - a.system) / ((performance.now() - t) * 1000);
  }

  /**
   * Waits until the server is idle (below `threshold` of a core for two samples in a row), so
   * the previous phase's work (closing sockets, GC, queued writes) does not leak into the next.
   */
  async settle({ threshold = 0.03, sampleMs = 250, timeoutMs = 15_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (Date.now() < deadline && quiet < 2) {
      quiet = (await this.cpuShare(sampleMs)) < threshold ? quiet + 1 : 0;
    }
    return quiet >= 2;
  }

  stop() {
    return stopChild(this.child, 2000);
  }
}

/**
 * What a session measures: one server process, or a cluster of `def.instances` processes sharing
 * the bench's Redis. Subscribers are spread over `ports` (all instances); the publisher uses
 * `port` (the first), so most deliveries cross Redis. CPU is the instances' plus Redis's, memory
 * the instances' (both summed).
 */
export class ServerGroup {
  /** `flush: false` when other servers already run on the same Redis (the setup stage). */
  static async start(
    def,
    secret,
    redis,
    extraEnv = {},
    redisCluster = null,
    { flush = true } = {},
  ) {
    if (def.redis && flush) await redis.command('FLUSHALL');
    if (def.redisCluster && flush) await redisCluster.flushAll();
    const env = {
      ...extraEnv,
      ...(def.redis ? { REDIS_URL: redis.url } : {}),
      ...(def.redisCluster ? { REDIS_CLUSTER_NODES: redisCluster.nodeList } : {}),
    };
    const instances = [];
    try {
      for (let i = 0; i < (def.instances ?? 1); i++) {
        instances.push(await ServerProcess.start(def, secret, env));
      }
    } catch (err) {
      await Promise.all(instances.map((instance) => instance.stop()));
      throw err;
    }
    const group = new ServerGroup(
      def,
      instances,
      def.redis ? redis : def.redisCluster ? redisCluster : null,
    );
    group.secret = secret;
    group.env = env;
    return group;
  }

  constructor(def, instances, redis) {
    this.def = def;
    this.name = def.name;
    this.protocol = def.protocol;
    this.notifies = def.notifies === true;
    /** The demo: presence namespaces and lifecycle handlers (the presence and connected phases). */
    this.presence = def.presence === true;
    /** CPU of instances stopped by a restart, so procCpu() stays a running total. */
    this.retiredCpu = { user: 0, system: 0 };
    this.instances = instances;
    this.redis = redis;
    this.port = instances[0].port;
    this.ports = instances.map((instance) => instance.port);
  }

  get alive() {
    return this.instances.every((instance) => instance.alive);
  }

  outputTail(lines = 15) {
    if (this.instances.length === 1) return this.instances[0].outputTail(lines);
    return this.instances.map((s, i) => `[instance ${i}]\n${s.outputTail(lines)}`).join('\n');
  }

  async memory() {
    const all = await Promise.all(this.instances.map((instance) => instance.memory()));
    return {
      heapUsed: sum(all.map((m) => m.heapUsed)),
      external: sum(all.map((m) => m.external)),
      rss: sum(all.map((m) => m.rss)),
    };
  }

  /** CPU time so far in µs, { user, system }, of every instance and of Redis. */
  async cpu() {
    const all = await Promise.all(this.instances.map((instance) => instance.cpu()));
    if (this.redis) all.push(this.redis.cpu());
    return { user: sum(all.map((c) => c.user)), system: sum(all.map((c) => c.system)) };
  }

  /** The same from /proc only (no request to the servers), instances stopped by a restart included. */
  procCpu() {
    const all = this.instances.map((instance) => readCpu(instance.pid));
    all.push(this.retiredCpu);
    if (this.redis) all.push(this.redis.cpu());
    return { user: sum(all.map((c) => c.user)), system: sum(all.map((c) => c.system)) };
  }

  /**
   * Stops the first instance (SIGTERM: its clients are closed) and starts it again on the same
   * port; resolves { stoppingAt, healthyAt } (wallNow(): comparable with the load workers').
   */
  async restartFirst() {
    const old = this.instances[0];
    const stoppingAt = wallNow();
    this.retire(old);
    await old.stop();
    this.instances[0] = await ServerProcess.start(this.def, this.secret, this.env, old.port);
    return { stoppingAt, healthyAt: wallNow() };
  }

  /**
   * Stops every instance and starts them again on the same ports with `extraEnv` laid over the
   * environment they had (Redis emptied in between, as for a fresh start).
   */
  async restartAll(extraEnv) {
    for (const instance of this.instances) this.retire(instance);
    await this.stop();
    if (this.def.redis) await this.redis.command('FLUSHALL');
    if (this.def.redisCluster) await this.redis.flushAll();
    this.env = { ...this.env, ...extraEnv };
    for (let i = 0; i < this.instances.length; i++) {
      const port = this.instances[i].port;
      this.instances[i] = await ServerProcess.start(this.def, this.secret, this.env, port);
    }
  }

  /** Counts an instance's CPU so far (from /proc) before it is stopped. */
  retire(instance) {
    const cpu = readCpu(instance.pid);
    this.retiredCpu.user += cpu.user;
    this.retiredCpu.system += cpu.system;
  }

  async settle(options) {
    const quiet = await Promise.all(this.instances.map((instance) => instance.settle(options)));
    return quiet.every(Boolean);
  }

  stop() {
    return Promise.all(this.instances.map((instance) => instance.stop()));
  }
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}
