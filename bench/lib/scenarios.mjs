// One benchmark session against one running server: idle memory, burst fan-out, paced latency,
// offline notifications, a reconnect storm and (the demo) setup with presence and with a
// `connected` handler, in that order, on the same process. Returns flat metrics
// ({ 'cpuPerDelivery.10000': 11.9, ... }) and notes on anything that went wrong. The connection
// setup rows are measured apart, every server's rounds in turn (setup-rounds.mjs).
//
// Order matters and is chosen so each measurement sees as little of the others as possible:
// memory at N is taken before the first burst at N; sockets are closed and the server left to
// settle before the next phase.
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { burstMessages } from './config.mjs';
import { signToken } from './jwt.mjs';
import { wallNow } from './proc.mjs';
import { presenceReads } from './presence-reads.mjs';
import { latencySummary, spread } from './stats.mjs';
import { Publisher } from '../load/publisher.mjs';

const KB = 1024;
export const NO_LOG = () => {};
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export function describeErrors(errors) {
  return Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([reason, count]) => `${count}× ${reason}`)
    .join('; ');
}

export async function runSession(server, pool, config, log) {
  const metrics = {};
  const notes = [];
  const note = (text) => {
    notes.push(text);
    log(`  ! ${text}`);
  };

  const publisher = await Publisher.connect({
    port: server.port,
    protocol: server.protocol,
    token: signToken(config.secret, 'publisher'),
    topic: config.topic,
  });

  try {
    // The publisher's connection warmed the connect path; the baseline includes it.
    await server.settle();
    const base = await server.memory();
    let subscribers = 0;
    const fanout = config.phases.has('fanout');

    for (const scale of fanout ? config.scales : []) {
      const wanted = scale - subscribers;
      const connected = await pool.connect(wanted, {
        ports: server.ports,
        protocol: server.protocol,
        auth: true,
        secret: config.secret,
        userPrefix: 'u',
        userOffset: subscribers,
        subscribe: config.topic,
        ready: 'subscribed',
        concurrency: config.connectConcurrency,
        sampleEvery: config.sampleEvery,
        timeoutMs: 60_000 + wanted * 5,
      });
      subscribers += connected.opened;
      const seconds = (connected.finishedAt - connected.startedAt) / 1000;
      log(`  ${subscribers} subscribers connected (${(connected.opened / seconds).toFixed(0)}/s)`);
      if (connected.failed > 0) {
        note(
          `@${scale}: ${connected.failed} subscribers failed: ${describeErrors(connected.errors)}`,
        );
      }
      if (subscribers === 0) throw new Error('no subscriber could connect');

      // a. Idle memory per subscribed connection, relative to the baseline.
      await server.settle();
      const mem = await server.memory();
      metrics[`heapPerConn.${scale}`] = (mem.heapUsed - base.heapUsed) / subscribers / KB;
      metrics[`rssPerConn.${scale}`] = (mem.rss - base.rss) / subscribers / KB;
      if (process.env.BENCH_HEAP_SNAPSHOT === '1') {
        const file = path.join(
          import.meta.dirname,
          '../results',
          `server-${server.name}-${scale}.heapsnapshot`,
        );
        await server.instances[0].heapSnapshot(file);
        log(`  (heap snapshot: ${path.relative(process.cwd(), file)})`);
      }
      log(
        `  memory @${subscribers}: heap ${metrics[`heapPerConn.${scale}`].toFixed(2)} KB/conn, ` +
          `RSS ${metrics[`rssPerConn.${scale}`].toFixed(2)} KB/conn`,
      );

      // b. Burst fan-out.
      Object.assign(metrics, await burst(server, pool, publisher, config, scale, note, log));
    }

    // c. Latency under paced publishing, at the largest scale.
    for (const rate of fanout ? config.rates : []) {
      Object.assign(metrics, await paced(server, pool, publisher, config, rate, note, log));
    }

    const closed = await pool.closeAll();
    if (closed.left > 0) note(`${closed.left} sockets did not close in time`);
    if (closed.unexpectedMessages > 0)
      note(`${closed.unexpectedMessages} messages outside any run`);
    await offlineGracePassed(server);

    // d. A burst of notifications to users who are offline (retained for later delivery), over
    // HTTP to the server, then in process (the library alone, bench/notify.mjs).
    if (server.notifies && config.phases.has('notify')) {
      await server.settle();
      Object.assign(metrics, await notifyBurst(server, config, note, log));
      Object.assign(metrics, await inProcessNotify(server, config, note, log));
    }

    // e. A reconnect storm: every subscribed client of the (first) instance closed by its restart.
    if (server.notifies && config.phases.has('storm')) {
      await server.settle();
      Object.assign(metrics, await reconnectStorm(server, pool, config, note, log));
    }

    // f. Setup with every new connection subscribing with presence to a topic that keeps it,
    // beside the same subscribe to a topic that keeps none. It restarts the server (the
    // heartbeat is a start-up setting), so the publisher, connected to the old process, goes first.
    if (server.presence && config.phases.has('presence')) {
      publisher.close();
      await server.settle();
      Object.assign(metrics, await presenceSetup(server, pool, config, note, log));
    }

    // g. Setup with and without an app `connected` handler. Last: it restarts the server (the
    // handler is a start-up switch).
    if (server.presence && config.phases.has('connected')) {
      publisher.close();
      Object.assign(metrics, await connectedHandlerSetup(server, pool, config, note, log));
    }
  } finally {
    publisher.close();
    await pool.closeAll().catch(() => {});
  }

  const publisherErrors = publisher.takeErrors();
  if (Object.keys(publisherErrors).length > 0) {
    note(`publisher got errors: ${describeErrors(publisherErrors)}`);
  }
  return { metrics, notes };
}

/** Publishes `count` messages back to back and waits until every subscriber has them all. */
async function fanOut(server, pool, publisher, count, timeoutMs) {
  const armed = await pool.arm(count);
  const cpuBefore = await server.cpu();
  const clientCpuBefore = pool.cpu();
  const startedAt = wallNow();
  for (let i = 0; i < count; i++) publisher.publish();
  const result = await pool.wait(timeoutMs);
  const endedAt = result.complete ? result.doneAt : wallNow();
  const cpuAfter = await server.cpu();
  return {
    armed,
    result,
    seconds: (endedAt - startedAt) / 1000,
    user: cpuAfter.user - cpuBefore.user,
    system: cpuAfter.system - cpuBefore.system,
    // Includes the workers' IPC round trips, negligible next to the frames they receive.
    clientCpu: pool.cpu() - clientCpuBefore,
  };
}

function checkRun(label, run, note) {
  const { result } = run;
  if (!result.complete || result.incompleteSockets > 0) {
    note(
      `${label}: ${result.received}/${run.armed.expected} deliveries, ` +
        `${result.incompleteSockets} sockets short, ${result.closedDuringRun} closed` +
        (Object.keys(result.errors).length ? ` (${describeErrors(result.errors)})` : ''),
    );
  }
  if (result.slowPathFrames > 0) {
    note(`${label}: ${result.slowPathFrames} message frames did not match the fast-path prefix`);
  }
}

async function burst(server, pool, publisher, config, scale, note, log) {
  const count = burstMessages(config, scale);
  // Warm-up: JIT-compile the fan-out path before measuring it.
  const warm = await fanOut(server, pool, publisher, 5, 30_000);
  checkRun(`warm-up @${scale}`, warm, note);
  await server.settle();

  const timeoutMs = 20_000 + scale * count * 0.05;
  const run = await fanOut(server, pool, publisher, count, timeoutMs);
  checkRun(`burst @${scale}`, run, note);
  const deliveries = run.result.received;
  if (!(await publisher.waitAcks(publisher.seq, 10_000))) {
    note(`burst @${scale}: only ${publisher.acks}/${publisher.seq} publishes acknowledged`);
  }
  if (deliveries === 0) return {};
  const out = {
    [`cpuPerDelivery.${scale}`]: (run.user + run.system) / deliveries,
    [`userPerDelivery.${scale}`]: run.user / deliveries,
    [`sysPerDelivery.${scale}`]: run.system / deliveries,
    [`deliveriesPerSec.${scale}`]: run.result.complete ? deliveries / run.seconds : null,
    [`clientCpuPerDelivery.${scale}`]: run.clientCpu / deliveries,
  };
  log(
    `  burst @${scale}: ${count} msgs, ${deliveries} deliveries in ${run.seconds.toFixed(2)} s, ` +
      `${out[`cpuPerDelivery.${scale}`].toFixed(2)} µs CPU/delivery ` +
      `(user ${out[`userPerDelivery.${scale}`].toFixed(2)}, sys ${out[`sysPerDelivery.${scale}`].toFixed(2)}); ` +
      `load generator ${out[`clientCpuPerDelivery.${scale}`].toFixed(2)} µs/delivery`,
  );
  await server.settle();
  return out;
}

async function paced(server, pool, publisher, config, rate, note, log) {
  const count = Math.max(1, Math.round(rate * config.latencySeconds));
  const interval = 1000 / rate;
  await pool.arm(count);
  const cpuBefore = await server.cpu();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    // Scheduled against the start time so timer drift does not lower the rate.
    await delay(Math.max(0, started + i * interval - performance.now()));
    publisher.publish();
  }
  const result = await pool.wait(30_000);
  const cpuAfter = await server.cpu();
  const elapsedUs = (performance.now() - started) * 1000;
  checkRun(`paced ${rate}/s`, { armed: { expected: result.expected }, result }, note);
  const lat = latencySummary(result.latencies);
  const cpuUs = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
  const cpuShare = cpuUs / elapsedUs;
  // One publish per event-loop turn: no server can batch writes across messages here, unlike in
  // the burst, so this is the per-message fan-out cost (plus idle work such as heartbeats).
  const cpuPerDelivery = result.received > 0 ? cpuUs / result.received : null;
  log(
    `  paced ${rate}/s @${config.latencyScale}: p50 ${lat.p50?.toFixed(1)} ms, ` +
      `p99 ${lat.p99?.toFixed(1)} ms, max ${lat.max?.toFixed(1)} ms ` +
      `(${lat.samples} samples), server CPU ${(cpuShare * 100).toFixed(0)}%, ` +
      `${cpuPerDelivery?.toFixed(2)} µs/delivery`,
  );
  await server.settle();
  return {
    [`latencyP50.${rate}`]: lat.p50,
    [`latencyP99.${rate}`]: lat.p99,
    [`latencyMax.${rate}`]: lat.max,
    [`cpuShare.${rate}`]: cpuShare * 100,
    [`pacedCpuPerDelivery.${rate}`]: cpuPerDelivery,
  };
}

/** Median of the trials' numbers (the middle one of an odd count; the mean of two); null if none. */
export function medianOf(values) {
  return spread(values)?.median ?? null;
}

/** Logs like `log` but takes no CPU profile: only a session's first trial is profiled. */
export function quiet(log) {
  const logged = (text) => log(text);
  logged.unprofiled = true;
  return logged;
}

/** Demo topics (src/config/topic-policies.ts): `chat:*` keeps presence and sends joins and leaves. */
const PRESENCE_TOPIC = 'chat:bench';
/** Authenticated like `chat:*`, no presence: the same subscribe without it. */
const PLAIN_TOPIC = 'inventory:bench';
/** The demo's REALTIME_OFFLINE_GRACE_MS (its default): a user's `user.offline` comes this late. */
const OFFLINE_GRACE_MS = 5000;
/** Each round of setupUntilIdle connects users of its own (`r<round>u<n>`): none is a reconnect. */
let setupRound = 0;

const us = ({ p50, p99 }) => `${p50.toFixed(0)}/${p99.toFixed(0)} µs`;

/** How many times each comparison ran (per server), to alternate the order of its two sides. */
const comparisons = new Map();

/** `pair` in its order on odd runs of comparison `key`, reversed on even ones (no side always first). */
function alternating(key, pair) {
  const n = comparisons.get(key) ?? 0;
  comparisons.set(key, n + 1);
  return n % 2 === 0 ? pair : [...pair].reverse();
}

/**
 * Server CPU (µs, instances plus Redis) per millisecond while idle, so a measurement that runs
 * until the server is idle again can leave the idle work out.
 */
async function idleCpuPerMs(server, ms = 500) {
  const before = await server.cpu();
  const started = performance.now();
  await delay(ms);
  const after = await server.cpu();
  const used = after.user + after.system - before.user - before.system;
  return Math.max(0, used / (performance.now() - started));
}

/**
 * `count` connections with JWT, each sending `subscribeFrame` on its `connected` frame and
 * counted once `subscribed` (or, without a frame, once `connected`). Rate: connections ÷ time
 * from the first attempt to the last one ready. CPU: from the first attempt until the server is
 * idle again (work it deferred, such as presence diffs or queued lifecycle events, included),
 * less the idle work over that time; per connection.
 */
async function setupUntilIdle(
  server,
  pool,
  config,
  note,
  log,
  { label, subscribeFrame, count, whileOpen },
) {
  const idle = await idleCpuPerMs(server);
  // BENCH_SERVER_PROF=1: a CPU profile of the first instance, until it is idle again.
  const profile =
    process.env.BENCH_SERVER_PROF === '1' && log !== NO_LOG && !log.unprofiled
      ? path.join(
          import.meta.dirname,
          '../results',
          `server-${server.name}-${label.replace(/[^\w]+/g, '-')}.cpuprofile`,
        )
      : undefined;
  if (profile) await server.instances[0].profileStart();
  const cpuBefore = await server.cpu();
  const started = performance.now();
  const res = await pool.connect(count, {
    ports: server.ports,
    protocol: server.protocol,
    auth: true,
    secret: config.secret,
    userPrefix: `r${setupRound++}u`,
    userOffset: 0,
    subscribe: null,
    subscribeFrame,
    ready: subscribeFrame ? 'subscribed' : 'connected',
    concurrency: config.setupConcurrency,
    sampleEvery: 1_000_000,
    timeoutMs: 60_000,
  });
  await server.settle();
  const cpuAfter = await server.cpu();
  if (profile) {
    await server.instances[0].profileStop(profile);
    log(`  (server CPU profile: ${path.relative(process.cwd(), profile)})`);
  }
  const cpuUs =
    cpuAfter.user +
    cpuAfter.system -
    cpuBefore.user -
    cpuBefore.system -
    idle * (performance.now() - started);
  if (res.failed > 0)
    note(`${label}: ${res.failed} connections failed: ${describeErrors(res.errors)}`);
  const seconds = (res.finishedAt - res.startedAt) / 1000;
  const out = {
    perSec: res.opened / seconds,
    cpuPerConn: Math.max(0, cpuUs) / Math.max(1, res.opened),
  };
  if (log !== NO_LOG) {
    log(
      `  ${label}: ${res.opened} connections in ${seconds.toFixed(2)} s = ${out.perSec.toFixed(0)}/s, ` +
        `${out.cpuPerConn.toFixed(0)} µs server CPU each (until idle)` +
        (res.presenceDiffs > 0 ? `; ${res.presenceDiffs} presence_diff frames meanwhile` : ''),
    );
  }
  if (whileOpen) out.whileOpen = await whileOpen();
  await pool.closeAll();
  await offlineGracePassed(server);
  return out;
}

/**
 * The users' `user.offline` events (the demo handles them) fall due a grace period after their
 * last close: let them pass before the next measurement, not in it (the setup phase's used to
 * land in the notification burst's CPU and Redis commands).
 */
export async function offlineGracePassed(server) {
  if (server.presence) await delay(OFFLINE_GRACE_MS + 500);
  await server.settle();
}

/**
 * Presence on vs off (the demo): every connection subscribes with `presence: true` to one topic
 * that keeps presence with joins and leaves (so each is also sent the topic's diffs), beside the
 * same subscribe to a topic that keeps none (the order alternates per trial), after an
 * unmeasured warm-up round of each, on a server restarted with the heartbeat at 10 minutes.
 */
async function presenceSetup(server, pool, config, note, log) {
  const on = { topics: [PRESENCE_TOPIC], presence: true };
  const off = { topics: [PLAIN_TOPIC] };
  // No heartbeat in the rounds: a beat pings every open connection (a write each, 200 ms of CPU
  // at 8000) and fell at random in one side, more often in the longer one (with presence).
  await server.restartAll({ REALTIME_HEARTBEAT_MS: '600000' });
  await server.settle();
  // A warm-up round of each side: neither is measured cold (the first round ran 1.3× slower).
  for (const subscribeFrame of [on, off]) {
    await setupUntilIdle(server, pool, config, note, NO_LOG, {
      label: 'presence warm-up',
      subscribeFrame,
      count: config.setupWarmUp * server.ports.length,
    });
  }
  const count = config.setupConnections;
  const rounds = {
    without: {
      label: `setup + subscribe ${PLAIN_TOPIC} (no presence)`,
      subscribeFrame: off,
      count,
    },
    with: {
      label: `setup + subscribe ${PRESENCE_TOPIC} with presence: true`,
      subscribeFrame: on,
      count,
      // Measured after the setup's CPU, while its members are all still there.
      whileOpen: () =>
        presenceReads({ port: server.ports[0], secret: config.secret, topic: PRESENCE_TOPIC }),
    },
  };
  const trials = [];
  for (let trial = 0; trial < config.setupTrials; trial++) {
    const results = {};
    for (const name of alternating(`presence ${server.name}`, ['without', 'with'])) {
      // The reads need the members of one round only: the first.
      const round = trial === 0 ? rounds[name] : { ...rounds[name], whileOpen: undefined };
      results[name] = await setupUntilIdle(
        server,
        pool,
        config,
        note,
        trial === 0 ? log : quiet(log),
        round,
      );
    }
    trials.push(results);
  }
  const median = (pick) => medianOf(trials.map(pick));
  const out = {
    presenceOffSetupPerSec: median((t) => t.without.perSec),
    presenceOffSetupCpuPerConn: median((t) => t.without.cpuPerConn),
    presenceOnSetupPerSec: median((t) => t.with.perSec),
    presenceOnSetupCpuPerConn: median((t) => t.with.cpuPerConn),
    presenceSetupRateRatio: median((t) => t.with.perSec / t.without.perSec),
    presenceSetupCpuRatio: median((t) =>
      t.without.cpuPerConn > 0 ? t.with.cpuPerConn / t.without.cpuPerConn : NaN,
    ),
  };
  const reads = trials[0].with.whileOpen;
  Object.assign(out, {
    presenceReadPingP99Us: reads.ping.p99,
    presenceCountP50Us: reads.count.p50,
    presenceCountP99Us: reads.count.p99,
    presencePageP50Us: reads.page.p50,
    presencePageP99Us: reads.page.p99,
  });
  log(
    `  presence on ÷ off (median of ${trials.length} trial(s)): ` +
      `setup rate ×${out.presenceSetupRateRatio.toFixed(2)}, ` +
      `CPU per connection ×${out.presenceSetupCpuRatio?.toFixed(2)}`,
  );
  log(
    `  presence reads among ${count} members, p50/p99: count ${us(reads.count)}, ` +
      `100-member page ${us(reads.page)} (ping ${us(reads.ping)})`,
  );
  return out;
}

/**
 * The connect storm with an app `connected` handler (the demo's DEMO_CONNECTED_HANDLER switch):
 * the server is restarted without the handler and with it (the order alternates per
 * repetition); each time an unmeasured warm-up round, then `setupTrials` rounds of
 * `setupConnections` connections with JWT, each side's median round compared. Its CPU runs until
 * the server is idle again, so the events it queued and handled (Bull jobs in Redis mode, with
 * Redis's CPU) count.
 */
async function connectedHandlerSetup(server, pool, config, note, log) {
  const warmUp = config.setupWarmUp * server.ports.length;
  const results = {};
  const flags = { without: '0', with: '1' };
  for (const name of alternating(`connected ${server.name}`, ['without', 'with'])) {
    const flag = flags[name];
    // No heartbeat in either side's rounds: a beat pings every open connection (a write each)
    // and fell at random in one side or the other, moving the ratio by up to ±0.4.
    await server.restartAll({ DEMO_CONNECTED_HANDLER: flag, REALTIME_HEARTBEAT_MS: '600000' });
    await server.settle();
    await setupUntilIdle(server, pool, config, note, NO_LOG, { label: 'warm-up', count: warmUp });
    const trials = [];
    for (let trial = 0; trial < config.setupTrials; trial++) {
      trials.push(
        await setupUntilIdle(server, pool, config, note, trial === 0 ? log : quiet(log), {
          label: `setup with JWT, ${name} a connected handler`,
          count: config.setupConnections,
        }),
      );
    }
    results[name] = {
      perSec: medianOf(trials.map((t) => t.perSec)),
      cpuPerConn: medianOf(trials.map((t) => t.cpuPerConn)),
    };
  }
  const out = {
    connectedOffSetupPerSec: results.without.perSec,
    connectedOffSetupCpuPerConn: results.without.cpuPerConn,
    connectedOnSetupPerSec: results.with.perSec,
    connectedOnSetupCpuPerConn: results.with.cpuPerConn,
    connectedSetupCpuRatio:
      results.without.cpuPerConn > 0 ? results.with.cpuPerConn / results.without.cpuPerConn : null,
  };
  log(`  connected handler: setup CPU with ÷ without ×${out.connectedSetupCpuRatio?.toFixed(2)}`);
  return out;
}

/** POST /admin/notify for users `prefix0…` over keep-alive connections, `concurrency` in flight. */
async function notifyUsers(server, config, prefix, count) {
  const token = signToken(config.secret, 'bench-admin', { extra: { roles: ['admin'] } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.notifyConcurrency });
  const statuses = {};
  let next = 0;
  const post = (i) =>
    new Promise((resolve) => {
      const body = JSON.stringify({ userId: `${prefix}${i}`, message: `notice ${i}` });
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.ports[i % server.ports.length],
          path: '/admin/notify',
          method: 'POST',
          agent,
          timeout: 30_000,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve(err.message));
      req.end(body);
    });
  const sender = async () => {
    while (next < count) {
      const status = await post(next++);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: config.notifyConcurrency }, sender));
  agent.destroy();
  return statuses;
}

/** Sum of `calls=` in Redis's INFO commandstats (every command it ran, scripts' inner ones included). */
async function redisCalls(redis) {
  let calls = 0;
  for (const match of (await redis.info('commandstats')).matchAll(
    /^cmdstat_([a-z|_-]+):calls=(\d+)/gm,
  )) {
    if (match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
}

async function notifyBurst(server, config, note, log) {
  await notifyUsers(server, config, 'warm', Math.min(1000, config.notifies));
  await server.settle();
  const redisBefore = server.redis ? await redisCalls(server.redis) : 0;
  const cpuBefore = await server.cpu();
  const started = performance.now();
  const statuses = await notifyUsers(server, config, 'offline', config.notifies);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = await server.cpu();
  const accepted = statuses['202'] ?? 0;
  if (accepted < config.notifies) {
    note(`notify burst: ${accepted}/${config.notifies} accepted: ${describeErrors(statuses)}`);
  }
  const cpuUs = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
  const out = {
    notifyPerSec: accepted / seconds,
    notifyCpu: accepted > 0 ? cpuUs / accepted : null,
  };
  if (server.redis && accepted > 0) {
    out.notifyRedisOps = ((await redisCalls(server.redis)) - redisBefore) / accepted;
  }
  log(
    `  notify burst: ${accepted} notifications to offline users in ${seconds.toFixed(2)} s = ` +
      `${out.notifyPerSec.toFixed(0)}/s, ${out.notifyCpu?.toFixed(0)} µs server CPU each` +
      (out.notifyRedisOps === undefined
        ? ''
        : `, ${out.notifyRedisOps.toFixed(1)} Redis commands run each`),
  );
  return out;
}

/**
 * bench/notify.mjs in its own process: the library's share of a notification (BroadcastService,
 * no HTTP), in the engine of `server` (Redis mode on a redis-server of its own).
 */
async function inProcessNotify(server, config, note, log) {
  const args = [
    '--expose-gc',
    path.join(import.meta.dirname, '../notify.mjs'),
    '--json',
    `--notifies=${config.notifies}`,
    ...(server.redis ? ['--redis'] : []),
  ];
  const output = await new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve(error ? { error: `${error.message} ${stderr}`.slice(0, 300) } : { stdout }),
    );
  });
  if (output.error) {
    note(`in-process notify failed: ${output.error}`);
    return {};
  }
  const result = JSON.parse(output.stdout.trim().split('\n').pop());
  const out = { inprocNotifyCpu: result.cpuUs, inprocNotifyPerSec: result.perSec };
  if (result.redisCpuUs !== undefined) {
    out.inprocNotifyRedisCpu = result.redisCpuUs;
    out.inprocNotifyCommands = result.redisCommandsPerNotify;
    out.inprocNotifyRedisOps = result.redisOpsPerNotify;
  }
  log(
    `  in-process notify: ${result.perSec.toFixed(0)}/s, ${result.cpuUs.toFixed(1)} µs CPU each` +
      (result.redisCpuUs === undefined
        ? ''
        : `, Redis ${result.redisCpuUs.toFixed(1)} µs, ${result.redisCommandsPerNotify.toFixed(2)} ` +
          `commands sent, ${result.redisOpsPerNotify.toFixed(1)} run per notification`),
  );
  return out;
}

/**
 * A reconnect storm: `stormClients` subscribed clients with JWT (spread over the instances), then
 * the first instance is stopped (SIGTERM: it closes its clients) and started again on the same
 * port. Its clients reconnect with the project client's backoff (full jitter: a first wait under
 * 500 ms, doubling per refused attempt up to 30 s) and subscribe again with `since` their last offset. Measured: time from the stop to
 * the last client subscribed again, the restarted instance's CPU from its health check passing to
 * then (plus Redis's), per client.
 */
async function reconnectStorm(server, pool, config, note, log) {
  const count = config.stormClients;
  const connected = await pool.connect(count, {
    ports: server.ports,
    protocol: server.protocol,
    auth: true,
    secret: config.secret,
    userPrefix: 'storm',
    userOffset: 0,
    subscribe: config.topic,
    ready: 'subscribed',
    concurrency: config.connectConcurrency,
    sampleEvery: 1_000_000,
    timeoutMs: 60_000 + count * 5,
  });
  if (connected.failed > 0) {
    note(
      `storm: ${connected.failed} clients failed to connect: ${describeErrors(connected.errors)}`,
    );
  }
  await server.settle();
  // The project client's reconnect backoff: full jitter, first wait under 500 ms, doubling.
  const { expected } = await pool.stormArm(server.port, 500, 120_000);
  const restart = await server.restartFirst();
  const redisCpu = server.redis?.cpu();
  const cpuBefore = await server.instances[0].cpu();
  const result = await pool.stormWait(120_000);
  const cpuAfter = await server.instances[0].cpu();
  const redisCpuAfter = server.redis?.cpu();
  let cpuUs = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
  if (redisCpu)
    cpuUs += redisCpuAfter.user + redisCpuAfter.system - redisCpu.user - redisCpu.system;
  if (!result.complete) {
    note(
      `storm: ${result.recovered}/${expected} clients back in time; ${describeErrors(result.errors)}`,
    );
  }
  const out = {
    stormRecoverySeconds: result.complete ? (result.doneAt - restart.stoppingAt) / 1000 : null,
    stormAfterStartSeconds: result.complete ? (result.doneAt - restart.healthyAt) / 1000 : null,
    stormCpuPerClient: result.recovered > 0 ? cpuUs / result.recovered : null,
  };
  log(
    `  reconnect storm: ${result.recovered}/${expected} clients subscribed again ` +
      `(${result.recoveredWithHistory} recovered from history, ${result.retries} retries) ` +
      `${out.stormRecoverySeconds?.toFixed(2)} s after the stop, ` +
      `${out.stormAfterStartSeconds?.toFixed(2)} s after the restart was healthy ` +
      `(${((restart.healthyAt - restart.stoppingAt) / 1000).toFixed(2)} s restart), ` +
      `${out.stormCpuPerClient?.toFixed(0)} µs server CPU per client`,
  );
  await pool.closeAll();
  return out;
}
