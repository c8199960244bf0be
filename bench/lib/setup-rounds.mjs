// Connection setup, every server side by side: all of a repetition's servers run at once, idle,
// and their measured rounds take turns (each kind of round on every server, in an order that
// rotates per trial) instead of each server's rounds falling in its own minutes of the run. On a
// shared machine the rate of the same server moved by nearly 2× between sessions minutes apart;
// rounds seconds apart see the same machine, so the ratios between servers are the servers'.
import path from 'node:path';
import { describeErrors, medianOf, NO_LOG, offlineGracePassed, quiet } from './scenarios.mjs';

/**
 * The four setup rounds: with a JWT per connection and anonymous (no token), each with
 * `setupConcurrency` handshakes in flight per load worker and with `setupHighInFlight` in all
 * (hundreds at once, as after a deploy or a network blip). Metric keys `<kind>PerSec`,
 * `<kind>CpuPerConn` and, with Redis, `<kind>RedisCpuPerConn`.
 */
function setupKinds(config, pool) {
  const high = Math.max(1, Math.ceil(config.setupHighInFlight / pool.workers.length));
  return {
    setup: [true, config.setupConcurrency],
    anonSetup: [false, config.setupConcurrency],
    setupHigh: [true, high],
    anonSetupHigh: [false, high],
  };
}

/**
 * Runs every setup round on `servers` (started ServerGroups, idle) and returns, per server name,
 * its metrics (the median of its trials) and its notes.
 *
 * Every server process first gets the same unmeasured warm-up round of each kind, so the rate is
 * the connection path's, not its JIT compilation's: a cluster of N instances gets N times the
 * connections, spread over them, so each of its processes is as warm as a single one. Before each
 * measured round every server is idle: the users of a round with JWT go offline a grace period
 * after it closes and the demo handles their `user.offline` (a job and a Redis write each in
 * Redis mode); that work belongs to no round, so it is waited out.
 */
export async function setupRounds(servers, pool, config, log) {
  const kinds = setupKinds(config, pool);
  const results = new Map(
    servers.map((server) => [
      server.name,
      { notes: [], trials: Object.fromEntries(Object.keys(kinds).map((kind) => [kind, []])) },
    ]),
  );
  const noteFor = (server) => (text) => {
    results.get(server.name).notes.push(text);
    log(`  ! ${server.name}: ${text}`);
  };
  const allIdle = () => Promise.all(servers.map((server) => server.settle()));

  for (const server of servers) {
    const warmUp = config.setupWarmUp * server.ports.length;
    for (const [auth, concurrency] of Object.values(kinds)) {
      await round(server, pool, config, noteFor(server), NO_LOG, auth, concurrency, warmUp);
    }
  }
  await Promise.all(servers.map(offlineGracePassed));
  for (let trial = 0; trial < config.setupTrials; trial++) {
    const order = servers.map((_, i) => servers[(i + trial) % servers.length]);
    for (const [kind, [auth, concurrency]] of Object.entries(kinds)) {
      for (const server of order) {
        await allIdle();
        const named = (text) => log(`  [${server.name}]${text}`);
        const logged = trial === 0 ? named : quiet(named);
        const measured = await round(
          server,
          pool,
          config,
          noteFor(server),
          logged,
          auth,
          concurrency,
        );
        results.get(server.name).trials[kind].push(measured);
        if (auth) await offlineGracePassed(server);
      }
    }
  }

  const out = new Map();
  for (const server of servers) {
    const { notes, trials } = results.get(server.name);
    const metrics = {};
    for (const [kind, measured] of Object.entries(trials)) {
      metrics[`${kind}PerSec`] = medianOf(measured.map((r) => r.perSec));
      metrics[`${kind}CpuPerConn`] = medianOf(measured.map((r) => r.cpuPerConn));
      if (server.redis)
        metrics[`${kind}RedisCpuPerConn`] = medianOf(measured.map((r) => r.redisCpuPerConn));
    }
    out.set(server.name, { metrics, notes });
  }
  return out;
}

/** `count` connections to `server`, `concurrency` in flight per load worker, then all closed. */
async function round(
  server,
  pool,
  config,
  note,
  log,
  auth,
  concurrency,
  count = config.setupConnections,
) {
  const inFlight = concurrency * pool.workers.length;
  const label = `${auth ? 'setup with JWT' : 'setup anonymous'}, ${inFlight} in flight`;
  // BENCH_SERVER_PROF=1: a CPU profile of the first instance during each kind's first trial.
  const profile =
    process.env.BENCH_SERVER_PROF === '1' && log !== NO_LOG && !log.unprofiled
      ? path.join(
          import.meta.dirname,
          '../results',
          `server-${server.name}-setup-${auth ? 'jwt' : 'anon'}-${inFlight}.cpuprofile`,
        )
      : undefined;
  if (profile) await server.instances[0].profileStart();
  const cpuBefore = await server.cpu();
  const redisBefore = server.redis?.cpu();
  const res = await pool.connect(count, {
    ports: server.ports,
    protocol: server.protocol,
    auth,
    secret: config.secret,
    userPrefix: 's',
    userOffset: 0,
    subscribe: null,
    ready: 'connected',
    concurrency,
    sampleEvery: 1_000_000,
    timeoutMs: 60_000,
  });
  const cpuAfter = await server.cpu();
  const redisAfter = server.redis?.cpu();
  if (profile) {
    await server.instances[0].profileStop(profile);
    log(`  (server CPU profile: ${path.relative(process.cwd(), profile)})`);
  }
  if (res.failed > 0)
    note(`${label}: ${res.failed} connections failed: ${describeErrors(res.errors)}`);
  const seconds = (res.finishedAt - res.startedAt) / 1000;
  const used = (before, after) => after.user + after.system - before.user - before.system;
  const out = {
    perSec: res.opened / seconds,
    cpuPerConn: used(cpuBefore, cpuAfter) / Math.max(1, res.opened),
    redisCpuPerConn: redisBefore && used(redisBefore, redisAfter) / Math.max(1, res.opened),
  };
  log(
    `  ${label}: ${res.opened} connections in ${seconds.toFixed(2)} s = ${out.perSec.toFixed(0)}/s, ` +
      `${out.cpuPerConn.toFixed(0)} µs server CPU each`,
  );
  await pool.closeAll();
  return out;
}
