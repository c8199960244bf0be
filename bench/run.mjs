// Benchmark harness: `npm run bench` (= node bench/run.mjs). See docs/benchmarks.md for the
// method and `node bench/run.mjs --help` for the options.
//
// One run measures every server under the same conditions. Each repetition first starts every
// server at once and measures their connection setup in turn, round by round
// (bench/lib/setup-rounds.mjs); then it starts each server fresh (as its own process), runs the
// other scenarios against it (bench/lib/scenarios.mjs) and stops it before the next server
// starts. Servers alternate, so drift on the machine (thermal, noisy neighbours) spreads over all
// of them instead of biasing one.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { installCleanupHandlers, killAllChildren } from './lib/children.mjs';
import { burstMessages, loadConfig, PHASES, USAGE } from './lib/config.mjs';
import { LoadPool } from './lib/loadpool.mjs';
import { machineInfo, readMachineBusy } from './lib/proc.mjs';
import {
  clusterRatios,
  cpuRatios,
  metricCatalog,
  presenceTargets,
  renderCapacity,
  renderMarkdown,
  renderText,
  summarize,
} from './lib/report.mjs';
import { runSession } from './lib/scenarios.mjs';
import { setupRounds } from './lib/setup-rounds.mjs';
import { BenchRedis, BenchRedisCluster } from './lib/redis.mjs';
import {
  DEMO_MAIN,
  demoBuildStamp,
  ensureDemoBuilt,
  freePort,
  ROOT,
  SERVERS,
  ServerGroup,
} from './lib/servers.mjs';

/** Hard stop for the whole run: no new session starts after this (a full run takes about 72 min here). */
const MAX_RUN_MINUTES = Number(process.env.BENCH_MAX_MINUTES) || 90;

const startedAt = new Date();
const t0 = performance.now();
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
const log = (text) => console.log(`[${elapsed()}s] ${text}`);

/** Share of a core used by processes outside the benchmark before a session is flagged. */
const FOREIGN_CPU_WARNING = 0.1;

/** Machine-wide busy CPU, and the part of it that is ours (servers, load workers, harness). */
function ownAndMachineCpu(servers, pool) {
  const self = process.cpuUsage();
  const serversCpu = servers.reduce((total, server) => {
    const s = server.procCpu();
    return total + s.user + s.system;
  }, 0);
  return {
    at: performance.now(),
    machine: readMachineBusy(),
    own: serversCpu + pool.cpu() + self.user + self.system,
  };
}

/** Other processes' CPU between two samples, as a share of one core (approximate). */
function foreignCpuShare(a, b) {
  const foreign = b.machine - a.machine - (b.own - a.own);
  return Math.max(0, foreign / ((b.at - a.at) * 1000));
}

/** The last capacity run (npm run bench:capacity), rendered for docs/benchmarks.md. */
function capacitySection() {
  const file = path.join(ROOT, 'bench/results/capacity.json');
  return renderCapacity(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null);
}

function writeAtomic(file, content) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

async function main() {
  installCleanupHandlers();
  const config = loadConfig();
  if (config.help) {
    console.log(USAGE);
    return;
  }
  const unknown = config.servers.filter((name) => !SERVERS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`unknown server(s): ${unknown.join(', ')}`);
  const defs = SERVERS.filter((s) => config.servers.includes(s.name));
  const machine = machineInfo();
  log(
    `${machine.cpuModel}, ${machine.nproc} vCPU, Node ${machine.node}; servers: ${defs.map((d) => d.name).join(', ')}; ` +
      `scales ${config.scales.join('/')}, ${config.repeat} repetition(s)` +
      (config.quick ? ' (quick)' : ''),
  );

  // Availability: the demo needs a build; peers are always there.
  const serverInfo = defs.map((def) => ({
    name: def.name,
    description: def.description,
    available: true,
  }));
  const demos = serverInfo.filter((s) => defs.find((d) => d.name === s.name).script === DEMO_MAIN);
  if (demos.length > 0) {
    const built = await ensureDemoBuilt({ allowBuild: config.build, log });
    if (!built.ok) {
      for (const demo of demos) Object.assign(demo, { available: false, reason: built.reason });
      log(`demo unavailable, continuing with the peers: ${built.reason}`);
    } else if (built.stale) {
      log('warning: dist/ is older than the sources (--no-build): measuring the old build');
    }
  }
  // Redis mode: one redis-server of the bench's own for the whole run.
  let redis = null;
  const clustered = serverInfo.filter((s) => defs.find((d) => d.name === s.name).redis);
  if (clustered.length > 0) {
    try {
      redis = await BenchRedis.start(await freePort());
      log(`redis-server on port ${redis.port} for ${clustered.map((s) => s.name).join(', ')}`);
    } catch (err) {
      for (const info of clustered) Object.assign(info, { available: false, reason: err.message });
      log(`Redis mode unavailable: ${err.message}`);
    }
  }

  // Redis Cluster mode: one 3-master cluster of the bench's own for the whole run.
  let redisCluster = null;
  const sharded = serverInfo.filter((s) => defs.find((d) => d.name === s.name).redisCluster);
  if (sharded.length > 0) {
    try {
      redisCluster = await BenchRedisCluster.start(
        await Promise.all([0, 1, 2].map(() => freePort())),
      );
      log(`Redis Cluster on ${redisCluster.nodeList} for ${sharded.map((s) => s.name).join(', ')}`);
    } catch (err) {
      for (const info of sharded) Object.assign(info, { available: false, reason: err.message });
      log(`Redis Cluster mode unavailable: ${err.message}`);
    }
  }

  // `nest build` elsewhere (e.g. a developer's watch mode) would swap the demo between
  // repetitions; such repetitions are flagged, as they do not measure the same code.
  const demoStamp = demoBuildStamp();
  const pool = new LoadPool(config.workers);
  const runs = [];
  const notes = [];
  const available = () => serverInfo.filter((s) => s.available);

  const overTime = () => performance.now() - t0 > MAX_RUN_MINUTES * 60_000;
  const sessions = PHASES.some((phase) => phase !== 'setup' && config.phases.has(phase));

  /** Starts a server for repetition `rep`; null (and the server dropped) if it cannot start. */
  async function startServer(name, rep, options) {
    const info = serverInfo.find((s) => s.name === name);
    const def = defs.find((d) => d.name === name);
    if (def.script === DEMO_MAIN && demoBuildStamp() !== demoStamp) {
      const text =
        'dist/ was rebuilt with other code since the run started: this repetition measures another build';
      notes.push({ server: name, rep, text });
      log(`  ! ${text}`);
    }
    try {
      return await ServerGroup.start(def, config.secret, redis, {}, redisCluster, options);
    } catch (err) {
      // A server that cannot start will not start next time either: drop it from the run.
      Object.assign(info, { available: false, reason: `failed to start: ${err.message}` });
      notes.push({ server: name, rep, text: info.reason });
      log(`${name} unavailable: ${err.message}`);
      return null;
    }
  }

  function flagForeignCpu(name, rep, before, after) {
    const foreign = foreignCpuShare(before, after);
    if (foreign > FOREIGN_CPU_WARNING) {
      const text =
        `other processes used ${(foreign * 100).toFixed(0)}% of a core during this ` +
        'session: its numbers may be disturbed';
      notes.push({ server: name, rep, text });
      log(`  ! ${text}`);
    }
    return foreign;
  }

  /** Every server's setup rounds in turn, all servers running (bench/lib/setup-rounds.mjs). */
  async function setupStage(names, rep) {
    if (overTime()) {
      for (const name of names)
        notes.push({
          server: name,
          rep,
          text: `setup skipped: run exceeded ${MAX_RUN_MINUTES} min`,
        });
      return;
    }
    log(`repetition ${rep}/${config.repeat}: setup, in turn: ${names.join(', ')}`);
    // Emptied once: each server's start must not empty what the others already keep there.
    await redis?.command('FLUSHALL');
    await redisCluster?.flushAll();
    const servers = [];
    for (const name of names) {
      const server = await startServer(name, rep, { flush: false });
      if (server) servers.push(server);
    }
    const before = ownAndMachineCpu(servers, pool);
    try {
      const results = await setupRounds(servers, pool, config, log);
      const foreign = flagForeignCpu('setup', rep, before, ownAndMachineCpu(servers, pool));
      for (const [name, { metrics, notes: texts }] of results) {
        runs.push({ server: name, rep, metrics, foreignCpuShare: foreign });
        for (const text of texts) notes.push({ server: name, rep, text });
      }
    } catch (err) {
      notes.push({ server: 'setup', rep, text: `setup stage failed: ${err.message}` });
      log(`setup stage failed: ${err.stack ?? err}`);
      await pool.closeAll().catch(() => {});
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  }

  for (let rep = 1; rep <= config.repeat; rep++) {
    // Rotate the order each repetition so no server always runs first (or right after another).
    const order = available().map((s) => s.name);
    const rotated = order.map((_, i) => order[(i + rep - 1) % order.length]);
    if (config.phases.has('setup')) await setupStage(rotated, rep);
    for (const name of sessions ? rotated : []) {
      if (overTime()) {
        notes.push({ server: name, rep, text: `skipped: run exceeded ${MAX_RUN_MINUTES} min` });
        continue;
      }
      if (!serverInfo.find((s) => s.name === name).available) continue;
      log(`repetition ${rep}/${config.repeat}: ${name}`);
      const server = await startServer(name, rep);
      if (!server) continue;
      const def = defs.find((d) => d.name === name);
      const busyBefore = ownAndMachineCpu([server], pool);
      const nodesBefore = def.redisCluster ? redisCluster.nodeCpu() : null;
      try {
        const result = await runSession(server, pool, config, log);
        const foreign = flagForeignCpu(name, rep, busyBefore, ownAndMachineCpu([server], pool));
        runs.push({ server: name, rep, metrics: result.metrics, foreignCpuShare: foreign });
        if (nodesBefore) {
          // How the session's Redis work spread over the masters (CPU seconds each).
          const used = redisCluster.nodeCpu().map((after, i) => (after - nodesBefore[i]) / 1e6);
          const total = used.reduce((a, b) => a + b, 0) || 1;
          const text = `Redis CPU per cluster master: ${used
            .map((s) => `${s.toFixed(1)} s (${((100 * s) / total).toFixed(0)}%)`)
            .join(', ')}`;
          notes.push({ server: name, rep, text });
          log(`  ${text}`);
        }
        for (const text of result.notes) notes.push({ server: name, rep, text });
      } catch (err) {
        const tail = server.alive ? '' : `\n(server exited; last output:)\n${server.outputTail()}`;
        notes.push({ server: name, rep, text: `session failed: ${err.message}${tail}` });
        log(`${name} session failed: ${err.stack ?? err}${tail}`);
        await pool.closeAll().catch(() => {});
      } finally {
        await server.stop();
      }
    }
  }
  await pool.stop();
  await redis?.stop();
  await redisCluster?.stop();

  const names = serverInfo.map((s) => s.name);
  const catalog = metricCatalog(config);
  const summary = summarize(catalog, names, runs);
  const ratios = cpuRatios(config, names, summary);
  const cluster = clusterRatios(config, catalog, names, summary);
  const targets = presenceTargets(catalog, summary);
  const durationS = (performance.now() - t0) / 1000;

  console.log(`\n${renderText(catalog, names, summary, ratios, cluster, targets)}\n`);
  for (const n of notes) console.log(`note: ${n.server} rep ${n.rep}: ${n.text}`);
  for (const s of serverInfo.filter((i) => !i.available))
    console.log(`not measured: ${s.name}: ${s.reason}`);

  const { secret: _secret, ...publicConfig } = config;
  const json = {
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(durationS),
    machine,
    config: {
      ...publicConfig,
      burstMessages: Object.fromEntries(config.scales.map((n) => [n, burstMessages(config, n)])),
    },
    servers: serverInfo,
    metrics: catalog,
    summary,
    cpuRatios: ratios,
    clusterRatios: cluster,
    presenceTargets: targets,
    runs,
    notes,
  };
  const resultsFile = path.join(ROOT, 'bench/results', config.quick ? 'quick.json' : 'latest.json');
  writeAtomic(resultsFile, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, resultsFile)}`);
  if (!config.quick) {
    const docsFile = path.join(ROOT, 'docs/benchmarks.md');
    writeAtomic(
      docsFile,
      renderMarkdown({
        config,
        machine,
        servers: names,
        serverInfo,
        catalog,
        summary,
        ratios,
        cluster,
        targets,
        capacity: capacitySection(),
        notes,
        started: startedAt,
        durationS,
      }),
    );
    log(`wrote ${path.relative(ROOT, docsFile)}`);
  }
  log(`done in ${(durationS / 60).toFixed(1)} min`);
}

main().catch((err) => {
  console.error(`[bench] failed: ${err.stack ?? err}`);
  killAllChildren();
  process.exit(1);
});
