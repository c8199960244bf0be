// In-process notification burst: `node bench/notify.mjs [--redis] [--notifies=N]`
// (also `npm run bench:notify`). The library's own share of a notification to an offline user,
// without the HTTP stack of `POST /admin/notify`: a minimal app (RealtimeModule only, from dist/)
// calls `BroadcastService.sendToUser(user, type, payload, { ttlSeconds })` for N distinct users
// who are not connected, `BENCH_NOTIFY_CHUNK` calls per event-loop turn, and reports:
//   - server CPU per notification (this process: the library, plus the loop that calls it);
//   - in Redis mode, Redis's CPU per notification, and Redis commands per notification: the ones
//     the instance sends (EVALSHA, PUBLISH, …: counted with MONITOR on a separate, smaller burst,
//     so MONITOR's cost is not in the CPU figures) and every command Redis ran (INFO
//     commandstats, the scripts' inner calls included).
// Bounded: N (default 10,000), one process, the bench's own redis-server on a free port.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { installCleanupHandlers } from './lib/children.mjs';
import { BenchRedis } from './lib/redis.mjs';
import { DEMO_MAIN, ensureDemoBuilt, freePort, ROOT } from './lib/servers.mjs';

const require = createRequire(import.meta.url);
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}`));
const value = (name, fallback) => Number(arg(name)?.split('=')[1] ?? fallback);

export const NOTIFY_USAGE = `Usage: node bench/notify.mjs [--redis] [--notifies=N] [--json]
  --redis        Redis engine (the bench's own redis-server); memory engine without it
  --notifies=N   notifications in the measured burst [10000]; a warm-up of min(N, 2000) first
  --json         print the result as one JSON line (for bench/run.mjs)
  --prof=FILE    a CPU profile of the measured burst only, written to FILE (.cpuprofile)
Environment: BENCH_NOTIFY_CHUNK calls per event-loop turn [500]`;

/** Sum of `calls=` over every command in INFO commandstats, INFO itself left out. */
function commandCalls(info) {
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
}

/**
 * Counts, with MONITOR, the commands clients sent (not the scripts' inner calls, which MONITOR
 * tags `[0 lua]`) while `run()` runs; returns { clientCommands, byName }.
 */
async function monitored(redis, run) {
  const socket = net.connect(redis.port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (chunk) => (text += chunk));
  socket.write('*1\r\n$7\r\nMONITOR\r\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await run();
  await new Promise((resolve) => setTimeout(resolve, 300));
  socket.destroy();
  const byName = {};
  let clientCommands = 0;
  for (const line of text.split('\r\n')) {
    const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!match || match[1] === 'lua') continue;
    const name = match[2].toLowerCase();
    byName[name] = (byName[name] ?? 0) + 1;
    clientCommands++;
  }
  return { clientCommands, byName };
}

async function startApp(redisUrl) {
  const core = require('@nestjs/core');
  const common = require('@nestjs/common');
  const lib = require(path.join(ROOT, 'dist/libs/realtime/src/index.js'));
  const options = {
    jwt: { secret: 'bench-notify-secret-long-enough-for-hs256-0123456789' },
    allowAnonymous: true,
    offline: { maxUsers: 1_000_000 },
    ...(redisUrl ? { redis: { url: redisUrl }, engine: { type: 'redis' } } : {}),
  };
  class BenchModule {}
  common.Module({ imports: [lib.RealtimeModule.forRoot(options)] })(BenchModule);
  const app = await core.NestFactory.create(BenchModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new lib.RealtimeWsAdapter(app));
  await app.init();
  return { app, realtime: app.get(lib.BroadcastService) };
}

/** `count` notifications to users `prefix0…`, `chunk` calls per turn; resolves when all did. */
async function burst(realtime, prefix, count, chunk) {
  for (let start = 0; start < count; start += chunk) {
    const calls = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      calls.push(
        realtime.sendToUser(
          `${prefix}${i}`,
          'notice',
          { message: `notice ${i}` },
          { ttlSeconds: 3600 },
        ),
      );
    }
    await Promise.all(calls);
  }
}

/** Runs `work` under the inspector's CPU profiler when `file` is set, and writes the profile there. */
async function profiled(file, work) {
  if (!file) return work();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

export async function runNotifyBench({ useRedis, notifies, chunk, profile }) {
  const redis = useRedis ? await BenchRedis.start(await freePort()) : null;
  const { app, realtime } = await startApp(redis?.url);
  try {
    await burst(realtime, 'warm', Math.min(notifies, 2000), chunk);
    global.gc?.();
    const statsBefore = redis ? commandCalls(await redis.info('commandstats')) : 0;
    const redisCpuBefore = redis?.cpu();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await profiled(profile, () => burst(realtime, 'offline', notifies, chunk));
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const result = {
      engine: useRedis ? 'redis' : 'memory',
      notifies,
      perSec: notifies / seconds,
      cpuUs: (cpu.user + cpu.system) / notifies,
    };
    if (redis) {
      const redisCpuAfter = redis.cpu();
      result.redisCpuUs =
        (redisCpuAfter.user + redisCpuAfter.system - redisCpuBefore.user - redisCpuBefore.system) /
        notifies;
      result.redisOpsPerNotify =
        (commandCalls(await redis.info('commandstats')) - statsBefore) / notifies;
      const sample = Math.min(notifies, 2000);
      const counted = await monitored(redis, () => burst(realtime, 'monitored', sample, chunk));
      result.redisCommandsPerNotify = counted.clientCommands / sample;
      result.redisCommands = counted.byName;
    }
    return result;
  } finally {
    await app.close();
    await redis?.stop();
  }
}

async function main() {
  if (arg('help')) return console.log(NOTIFY_USAGE);
  installCleanupHandlers();
  const built = await ensureDemoBuilt({ allowBuild: true, log: console.log });
  if (!built.ok) throw new Error(`cannot build ${DEMO_MAIN}: ${built.reason}`);
  const result = await runNotifyBench({
    useRedis: Boolean(arg('redis')),
    notifies: value('notifies', 10_000),
    chunk: Number(process.env.BENCH_NOTIFY_CHUNK) || 500,
    profile: arg('prof')?.split('=')[1],
  });
  if (arg('json')) return console.log(JSON.stringify(result));
  console.log(
    `in-process notify burst (${result.engine}): ${result.notifies} in ` +
      `${(result.notifies / result.perSec).toFixed(2)} s = ${result.perSec.toFixed(0)}/s, ` +
      `${result.cpuUs.toFixed(1)} µs CPU each` +
      (result.redisCpuUs === undefined
        ? ''
        : `; Redis ${result.redisCpuUs.toFixed(1)} µs CPU each, ` +
          `${result.redisCommandsPerNotify.toFixed(2)} commands sent per notification ` +
          `(${JSON.stringify(result.redisCommands)}), ` +
          `${result.redisOpsPerNotify.toFixed(1)} commands run (scripts' inner calls included)`),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
