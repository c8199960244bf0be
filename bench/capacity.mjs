// Capacity run: `npm run bench:capacity` (= node bench/capacity.mjs). Idle subscribed connections
// held by the demo in Redis mode, several instances on one redis-server, more sockets than one
// process may open here (the open-file limit is per process). Reports memory per connection and
// checks that one publish still reaches every one of them. Writes bench/results/capacity.json,
// which the next `npm run bench` renders into docs/benchmarks.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { installCleanupHandlers, killAllChildren } from './lib/children.mjs';
import { signToken } from './lib/jwt.mjs';
import { LoadPool } from './lib/loadpool.mjs';
import { machineInfo } from './lib/proc.mjs';
import { BenchRedis } from './lib/redis.mjs';
import { ensureDemoBuilt, freePort, ROOT, SERVERS, ServerGroup } from './lib/servers.mjs';
import { Publisher } from './load/publisher.mjs';

const CONNECTIONS = Number(process.env.BENCH_CAPACITY_CONNS) || 50_000;
const INSTANCES = Number(process.env.BENCH_CAPACITY_INSTANCES) || 3;
/** Sockets per load worker, well under the per-process open-file limit. */
const PER_WORKER = 9_000;
const KB = 1024;
const MB = 1024 * 1024;

const startedAt = new Date();
const t0 = performance.now();
const log = (text) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${text}`);

async function main() {
  installCleanupHandlers();
  const built = await ensureDemoBuilt({ allowBuild: true, log });
  if (!built.ok) throw new Error(built.reason);
  const secret = `capacity-${process.pid}-${Date.now()}`;
  const def = {
    ...SERVERS.find((s) => s.name === 'demo-redis'),
    name: `demo-redis ×${INSTANCES}`,
    instances: INSTANCES,
  };
  const redis = await BenchRedis.start(await freePort());
  const pool = new LoadPool(Math.ceil(CONNECTIONS / PER_WORKER));
  // Every load socket comes from 127.0.0.1, and in Redis mode the per-IP cap is cluster-wide.
  const env = { REALTIME_MAX_CONNECTIONS_PER_IP: String(CONNECTIONS * 2) };
  const cluster = await ServerGroup.start(def, secret, redis, env);
  log(`${INSTANCES} instances on ports ${cluster.ports.join(', ')}, redis on ${redis.port}`);
  let publisher;
  try {
    publisher = await Publisher.connect({
      port: cluster.port,
      protocol: 'ws',
      token: signToken(secret, 'publisher'),
      topic: 'bench',
    });
    await cluster.settle();
    const base = await cluster.memory();
    const redisBase = await redis.usedMemory();
    const connected = await pool.connect(CONNECTIONS, {
      ports: cluster.ports,
      protocol: 'ws',
      auth: true,
      secret,
      userPrefix: 'c',
      userOffset: 0,
      subscribe: 'bench',
      ready: 'subscribed',
      concurrency: 100,
      sampleEvery: 100,
      timeoutMs: 300_000,
    });
    const seconds = (connected.finishedAt - connected.startedAt) / 1000;
    log(`${connected.opened} subscribed in ${seconds.toFixed(1)} s, ${connected.failed} failed`);
    if (connected.opened === 0) throw new Error('no connection could subscribe');
    await cluster.settle({ timeoutMs: 60_000 });
    const held = await cluster.memory();
    const redisHeld = await redis.usedMemory();
    const perInstance = await Promise.all(cluster.instances.map((instance) => instance.memory()));

    // One publish on the first instance must reach every subscriber on every instance.
    await pool.arm(1);
    publisher.publish();
    const delivered = await pool.wait(60_000);
    log(`one publish: ${delivered.received}/${connected.opened} subscribers got it`);

    const result = {
      startedAt: startedAt.toISOString(),
      machine: machineInfo(),
      instances: INSTANCES,
      requested: CONNECTIONS,
      subscribed: connected.opened,
      failed: connected.failed,
      errors: connected.errors,
      connectSeconds: seconds,
      heapPerConnKB: (held.heapUsed - base.heapUsed) / connected.opened / KB,
      rssPerConnKB: (held.rss - base.rss) / connected.opened / KB,
      redisPerConnKB: (redisHeld - redisBase) / connected.opened / KB,
      rssPerInstanceMB: perInstance.map((m) => m.rss / MB),
      delivered: delivered.received,
    };
    log(
      `memory per connection: heap ${result.heapPerConnKB.toFixed(2)} KB, RSS ${result.rssPerConnKB.toFixed(2)} KB, ` +
        `Redis ${result.redisPerConnKB.toFixed(2)} KB`,
    );
    const file = path.join(ROOT, 'bench/results/capacity.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${path.relative(ROOT, file)}`);
  } finally {
    publisher?.close();
    await pool.closeAll(60_000).catch(() => {});
    await pool.stop();
    await cluster.stop();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(`[capacity] failed: ${err.stack ?? err}`);
  killAllChildren();
  process.exit(1);
});
