// JWT handshake probe: `node bench/handshake.mjs [cluster|single]` (also `npm run bench:handshake`).
// Starts the bench's own Redis (a 3-master cluster, or one redis-server) on free ports and two
// demo instances (`dist/src/main.js`, run `npm run build` first), opens N connections with a JWT
// each (distinct users, INFLIGHT at once, spread over the instances) after an unmeasured warm-up,
// and reports per handshake: Redis commands per master (INFO commandstats, the scripts' inner
// calls included), with SLOWLOG=1 the script calls per master by script (SLOWLOG at 0 µs, which
// costs Redis CPU: leave it off for the CPU figures), with STRACE=1 each instance's read/write
// syscalls (`strace -c -f -p`, which slows the instances: batches get smaller), and CPU per
// handshake (noisy on a shared machine: compare the counts). Env: N (4000), INFLIGHT (250),
// INSTANCES (2), TTL (REALTIME_PRESENCE_TTL_S: 600 keeps presence renewals out of the window).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Redis from 'ioredis';
import WebSocket from 'ws';
import { installCleanupHandlers, spawnTracked, stopChild } from './lib/children.mjs';
import { signToken } from './lib/jwt.mjs';
import { readCpu } from './lib/proc.mjs';
import { BenchRedis, BenchRedisCluster } from './lib/redis.mjs';
import { DEMO_MAIN, freePort, ROOT, serverEnv } from './lib/servers.mjs';

installCleanupHandlers();
const mode = process.argv[2] ?? 'cluster';
const N = Number(process.env.N ?? 4000);
const INFLIGHT = Number(process.env.INFLIGHT ?? 250);
const INSTANCES = Number(process.env.INSTANCES ?? 2);
const secret = 'handshake-probe-secret-0123456789abcdef';
const outDir = tmpdir();

const redisPorts = [await freePort(), await freePort(), await freePort()];
const redis =
  mode === 'cluster'
    ? await BenchRedisCluster.start(redisPorts)
    : await BenchRedis.start(redisPorts[0]);
const nodes = mode === 'cluster' ? redis.nodes : [redis];
const extra =
  mode === 'cluster' ? { REDIS_CLUSTER_NODES: redis.nodeList } : { REDIS_URL: redis.url };
if (process.env.TTL) extra.REALTIME_PRESENCE_TTL_S = process.env.TTL;

const servers = [];
for (let i = 0; i < INSTANCES; i++) {
  const port = await freePort();
  const child = spawnTracked('node', [DEMO_MAIN], {
    cwd: ROOT,
    env: serverEnv(port, secret, extra),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  servers.push({ port, child });
}
for (const { port } of servers) {
  for (let tries = 0; ; tries++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (tries > 600) throw new Error(`instance on ${port} never healthy`);
    await delay(100);
  }
}

/** Opens `count` JWT connections (users `user-<offset+i>`), INFLIGHT at a time. */
function connectAll(count, offset) {
  return new Promise((resolve) => {
    let next = 0;
    let inFlight = 0;
    let done = 0;
    let failed = 0;
    const sockets = [];
    const launch = () => {
      while (inFlight < INFLIGHT && next < count) {
        const i = next++;
        inFlight++;
        const token = signToken(secret, `user-${offset + i}`);
        const { port } = servers[i % servers.length];
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`);
        sockets.push(ws);
        let settled = false;
        const settle = (ok) => {
          if (settled) return;
          settled = true;
          inFlight--;
          done++;
          if (!ok) failed++;
          if (done === count) resolve({ sockets, failed });
          else launch();
        };
        ws.on('message', (data) => String(data).includes('"connected"') && settle(true));
        ws.on('error', () => settle(false));
        ws.on('close', () => settle(false));
      }
    };
    launch();
  });
}

async function closeAll(sockets) {
  for (const ws of sockets) ws.terminate();
  await delay(3000);
}

/** Script names by SHA1, from the library's compiled script modules. */
function scriptNames() {
  const require = createRequire(import.meta.url);
  const names = {};
  const modules = [
    'auth/admission/admission.scripts',
    'auth/admission/slot-admission.scripts',
    'delivery/offline/redis-offline.scripts',
    'engine/redis/redis-engine.scripts',
    'presence/redis-presence.scripts',
  ];
  for (const module of modules) {
    const exports = require(path.join(ROOT, 'dist/libs/realtime/src', `${module}.js`));
    for (const [name, lua] of Object.entries(exports)) {
      if (typeof lua === 'string') names[createHash('sha1').update(lua).digest('hex')] = name;
    }
  }
  return names;
}

async function commandStats() {
  return Promise.all(
    nodes.map(async (node) => {
      const stats = {};
      const text = await node.info('commandstats');
      for (const [, name, calls] of text.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
        stats[name] = Number(calls);
      }
      return stats;
    }),
  );
}

async function withNode(node, use) {
  const client = new Redis(node.port, '127.0.0.1');
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

async function scriptCalls() {
  const names = scriptNames();
  return Promise.all(
    nodes.map((node) =>
      withNode(node, async (client) => {
        await client.config('SET', 'slowlog-log-slower-than', '10000');
        const calls = {};
        for (const [, , , args] of await client.call('SLOWLOG', 'GET', '-1')) {
          if (String(args[0]).toLowerCase() !== 'evalsha') continue;
          const name = names[args[1]] ?? args[1].slice(0, 8);
          calls[name] = (calls[name] ?? 0) + 1;
        }
        return calls;
      }),
    ),
  );
}

const cpuOf = (pid) => {
  const { user, system } = readCpu(pid);
  return user + system;
};
const perHandshake = (n) => (n / N).toFixed(3);

await closeAll((await connectAll(500, 1_000_000)).sockets);
if (process.env.SLOWLOG) {
  for (const node of nodes) {
    await withNode(node, async (client) => {
      await client.config('SET', 'slowlog-max-len', '1000000');
      await client.call('SLOWLOG', 'RESET');
      await client.config('SET', 'slowlog-log-slower-than', '0');
    });
  }
}
const before = await commandStats();
const traces = process.env.STRACE
  ? servers.map(({ port, child }) => {
      const file = path.join(outDir, `handshake-strace-${mode}-${port}.txt`);
      const args = ['-c', '-f', '-p', String(child.pid), '-o', file];
      return { file, tracer: spawn('strace', args, { stdio: 'ignore' }) };
    })
  : [];
if (traces.length > 0) await delay(1500);
const cpuBefore = {
  instances: servers.map((s) => cpuOf(s.child.pid)),
  redis: nodes.map((n) => cpuOf(n.pid)),
};
const startedAt = performance.now();
const run = await connectAll(N, 0);
const ms = performance.now() - startedAt;
const cpuAfter = {
  instances: servers.map((s) => cpuOf(s.child.pid)),
  redis: nodes.map((n) => cpuOf(n.pid)),
};
for (const { tracer } of traces) tracer.kill('SIGINT');
if (traces.length > 0) await delay(1500);
const after = await commandStats();
const scripts = process.env.SLOWLOG ? await scriptCalls() : [];

const sum = (values) => values.reduce((a, b) => a + b, 0);
console.log(
  `${mode}: ${N} JWT handshakes, ${INFLIGHT} in flight, ${INSTANCES} instances: ` +
    `${ms.toFixed(0)} ms (${((N / ms) * 1000).toFixed(0)}/s), failed ${run.failed}`,
);
console.log(
  `  CPU per handshake: instances ${((sum(cpuAfter.instances) - sum(cpuBefore.instances)) / N).toFixed(0)} µs, ` +
    `redis ${((sum(cpuAfter.redis) - sum(cpuBefore.redis)) / N).toFixed(0)} µs ` +
    `(${cpuAfter.redis.map((cpu, i) => ((cpu - cpuBefore.redis[i]) / N).toFixed(0)).join('/')})`,
);
after.forEach((stats, i) => {
  const delta = Object.entries(stats)
    .map(([name, calls]) => [name, calls - (before[i][name] ?? 0)])
    .filter(([name, calls]) => calls > 0 && !['info', 'config', 'slowlog'].includes(name))
    .sort((a, b) => b[1] - a[1]);
  const total = sum(delta.map(([, calls]) => calls));
  console.log(
    `  redis ${i} (:${nodes[i].port}): ${perHandshake(total)} commands/handshake: ` +
      delta.map(([name, calls]) => `${name} ${perHandshake(calls)}`).join(', '),
  );
  if (scripts[i]) {
    const byScript = Object.entries(scripts[i]).sort((a, b) => b[1] - a[1]);
    console.log(`    scripts: ${byScript.map(([n, c]) => `${n} ${perHandshake(c)}`).join(', ')}`);
  }
});
for (const { file } of traces) {
  const counts = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
    if (match && /^(read|write|writev|readv|sendmsg|recvmsg)$/.test(match[2])) {
      counts.push(`${match[2]} ${(Number(match[1]) / (N / servers.length)).toFixed(2)}`);
    }
  }
  console.log(`  instance ${path.basename(file)}: syscalls/handshake ${counts.join(', ')}`);
}
await closeAll(run.sockets);
await Promise.all(servers.map(({ child }) => stopChild(child, 5000)));
await redis.stop();
process.exit(0);
