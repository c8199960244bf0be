import WebSocket from 'ws';
import { sleep } from '../support/waits';
import { ChaosCluster, type FaultRecord } from './chaos-cluster';
import type { ChaosConfig } from './chaos-config';
import type { Balancer, ChaosClient } from './chaos-client';
import { faultSchedule, revocationTimes, type ScheduledFault } from './fault-schedule';
import { ChaosLedger } from './ledger/chaos-ledger';
import type { NotificationTotals, OfflineCounters } from './ledger/notification-ledger';
import type { RevocationBound, RevocationTotals } from './ledger/revocation-ledger';
import type { TopicTotals } from './ledger/topic-ledger';
import { SeededRandom } from './seeded-random';
import { ENTITY_IN_KEY, type PublishCounts, Workload } from './workload';

/**
 * How long after a revoke returns its connections on an instance connected
 * to Redis must be closed (docs/guarantees.md, "Revocations").
 */
export const REVOCATION_BOUND_MS = 2_000;
/** Bull's lock and stall check (30 s each): an expiry taken by an instance that died runs again after. */
const STALLED_JOB_MS = 60_000;
/** How long the server may take to read a new connection's inbox: retries for 7.5 s when Redis fails. */
const INBOX_READ_MS = 10_000;
const RESOURCE_WAIT_MS = 15_000;
/**
 * Heap an instance may hold after its clients left beyond its baseline: code
 * compiled meanwhile and the demo's own orders (~5 MB in a full run); a
 * connection retained after its close (~10 KB with its socket) would pass it
 * within about a thousand.
 */
const HEAP_ALLOWANCE_BYTES = 12 * 1024 * 1024;
/** Keys beyond the baseline that name no user, room, SKU or job: the library's fixed bookkeeping. */
const FIXED_KEYS_ALLOWANCE = 32;
/** Bull keeps the last 100 completed and 1,000 failed jobs of each of the library's three queues. */
const KEPT_JOB_KEYS = 3 * (100 + 1_000);
/** Bull's keys, whatever prefix or hash tag surrounds the word. */
const BULL_KEY = /bull/;

export interface InstanceResources {
  heapBaseline: number;
  heapAfter: number;
  connections: number;
  subscriptions: number;
  topics: number;
  watchedTopics: number;
}

export interface ChaosResult {
  config: ChaosConfig;
  ok: boolean;
  ledger: ChaosLedger;
  faults: FaultRecord[];
  published: PublishCounts;
  topics: TopicTotals;
  notifications: NotificationTotals;
  revocations: RevocationTotals;
  resources: InstanceResources[];
  keys: { baseline: number; after: number; entityKeys: string[]; shapes: Array<[string, number]> };
  clients: number;
  users: number;
  wallMs: number;
  /** What each instance slot printed (across restarts), for a look after a failed run. */
  logs: string[];
}

/**
 * One chaos run (docs/guarantees.md, "Measured"): start the cluster, connect
 * the clients, run the workload under the seeded fault schedule, let it
 * settle, then check the ledger, and that connections, memory and Redis keys
 * are back to their baseline once the clients left.
 */
export async function runChaos(
  config: ChaosConfig,
  log: (line: string) => void = () => undefined,
): Promise<ChaosResult> {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
  const say = (line: string) => log(`[${elapsed()}] ${line}`);
  const random = new SeededRandom(config.seed);
  const schedule = faultSchedule(config, random.fork());
  const revokeAt = revocationTimes(config, random.fork());
  const ledger = new ChaosLedger();
  say(`starting Redis and 3 instances (seed ${config.seed})`);
  const cluster = await ChaosCluster.start(config);
  const killOnExit = () => cluster.killNow();
  process.once('exit', killOnExit);
  try {
    const balancer: Balancer = {
      pick: () => {
        const healthy = cluster.healthy();
        return healthy.length === 0
          ? undefined
          : healthy[Math.floor(Math.random() * healthy.length)];
      },
      port: (index) => cluster.ports[index],
    };
    const workload = new Workload(config, cluster, ledger, random.fork(), balancer);
    const heapBaseline = await Promise.all([0, 1, 2].map((i) => cluster.heapUsed(i)));
    const keysBaseline = await cluster.dbsize();
    say(`ramping up ${workload.clients.length} clients (${workload.users.length} users)`);
    await workload.ramp();

    say(
      `chaos for ${config.durationMs / 1000} s: ${schedule.length} faults, ${revokeAt.length} revocations`,
    );
    const chaosStart = Date.now();
    workload.start();
    const actions = [
      ...schedule.map((fault) => at(chaosStart + fault.at, () => inject(cluster, fault, say))),
      ...revokeAt.map((ms) => at(chaosStart + ms, () => workload.revokeSomeone())),
    ];
    await sleep(config.durationMs);
    workload.stop();
    const failed = (await Promise.all(actions)).find((outcome) => outcome instanceof Error);
    if (failed) throw failed;

    say('settling: everyone back, every fault over');
    workload.everyoneBack();
    const erasedBy = (sentAt: number, settledBy: number) =>
      cluster.emptyRestarts().some((restart) => restart > sentAt && restart < settledBy);
    const settleDeadline =
      Date.now() + config.notificationTtlSeconds * 1000 + STALLED_JOB_MS + RESOURCE_WAIT_MS;
    const collectDeadLetters = () => {
      for (const id of cluster.deadLetters()) ledger.notifications.deadLettered(id);
    };
    await until(settleDeadline, () => {
      collectDeadLetters();
      const present = workload.present();
      return (
        present.every((client) => client.connected) &&
        ledger.topics.caughtUp(present.map((client) => client.id)) &&
        ledger.notifications.settled(erasedBy)
      );
    });
    // Notifications whose 202 never arrived count too: the cluster's own count of pending ones.
    await until(
      settleDeadline,
      async () => (await offlineCounters(cluster, workload))?.pending === 0,
    );
    await sleep(1_000);
    collectDeadLetters();

    const present = workload.present();
    for (const client of present) {
      if (!client.connected) ledger.violations.add('client not back by the end', client.id);
    }
    const there = present.filter((c) => c.connected).map((c) => c.id);
    checkConfirmedPublishes(workload, ledger, ledger.topics.owedSince(there));
    const topics = ledger.topics.finish(there);
    const counters = await offlineCounters(cluster, workload);
    const lastReset = cluster.faults.filter((f) => f.kind === 'redis-restart-empty').at(-1);
    const notifications = ledger.notifications.finish(
      erasedBy,
      counters && {
        reset: lastReset && { start: lastReset.startedAt, end: lastReset.endedAt ?? Date.now() },
        values: counters,
      },
      {
        graceMs: INBOX_READ_MS,
        excused: ({ instance }, from, to) =>
          instance === undefined || cluster.faultsDuring(instance, from, to).length > 0,
      },
    );
    const revocations = ledger.revocations.finish(
      (user) => (workload.byUser.get(user) ?? []).map((c) => c.id),
      (client, requestedAt, confirmedAt) =>
        revocationDeadline(config, cluster, clientById(workload, client), requestedAt, confirmedAt),
    );
    await probeRevokedTokens(cluster, workload, ledger);

    say('clients leaving; checking connections, memory and Redis keys');
    workload.leaveAll();
    const resources = await releasedResources(cluster, workload, ledger, heapBaseline);
    const keys = await keysBack(cluster, config, ledger, keysBaseline);
    return {
      config,
      ok: ledger.violations.total === 0,
      ledger,
      faults: cluster.faults,
      published: workload.published,
      topics,
      notifications,
      revocations,
      resources,
      keys,
      clients: workload.clients.length,
      users: workload.users.length,
      wallMs: Date.now() - started,
      logs: [0, 1, 2].map((i) => cluster.output(i)),
    };
  } finally {
    process.off('exit', killOnExit);
    await cluster.stop();
  }
}

async function inject(
  cluster: ChaosCluster,
  fault: ScheduledFault,
  say: (line: string) => void,
): Promise<void> {
  const target = instanceFor(cluster, fault.target);
  const ofInstance = fault.kind === 'kill' || fault.kind === 'pause';
  const redisDown = fault.kind !== 'partition' && !ofInstance && !cluster.redisRunning;
  if ((ofInstance && target === undefined) || redisDown) {
    say(`fault: ${fault.kind} skipped (it would leave no instance up, or Redis is down already)`);
    return;
  }
  say(`fault: ${fault.kind}${ofInstance ? ` of ${'ABC'[target!]}` : ''} (${fault.ms} ms)`);
  switch (fault.kind) {
    case 'kill':
      if (target !== undefined) await cluster.kill(target, fault.ms);
      return;
    case 'pause':
      if (target !== undefined) await cluster.pause(target, fault.ms);
      return;
    case 'redis-restart-empty':
      return cluster.restartRedis(true, fault.ms);
    case 'redis-restart-aof':
      return cluster.restartRedis(false, fault.ms);
    case 'subscriber-drop':
      return cluster.dropSubscribers();
    case 'partition':
      return cluster.partition(fault.ms);
  }
}

/** The preferred instance if it is up, else another that is up; none when that would leave no instance serving. */
function instanceFor(cluster: ChaosCluster, preferred: number): number | undefined {
  const healthy = cluster.healthy();
  if (healthy.length < 2) return undefined;
  return healthy.includes(preferred) ? preferred : healthy[0];
}

/**
 * Runs `action` at `time`. A failure (an instance that does not come back)
 * is the run's, not a broken promise: it is kept and rethrown once the
 * phase is over, so the cluster is still stopped cleanly.
 */
function at(time: number, action: () => Promise<void>): Promise<unknown> {
  return sleep(Math.max(0, time - Date.now()))
    .then(action)
    .catch((error: unknown) => error);
}

async function until(deadline: number, done: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await done()) && Date.now() < deadline) await sleep(250);
}

function clientById(workload: Workload, id: string): ChaosClient {
  return workload.clients.find((client) => client.id === id)!;
}

/**
 * The revocation bound, from the client's point of view: REVOCATION_BOUND_MS
 * after the revoke returned when the client was connected to an instance
 * that had no fault meanwhile; otherwise counted from the end of the faults
 * that kept the instance from hearing it, plus what the client needs to
 * notice a dead link and reconnect (its next handshake is refused).
 */
function revocationDeadline(
  config: ChaosConfig,
  cluster: ChaosCluster,
  client: ChaosClient,
  requestedAt: number,
  confirmedAt: number,
): RevocationBound {
  const windowEnd = confirmedAt + REVOCATION_BOUND_MS;
  const link = client.links.findLast((l) => l.openedAt <= confirmedAt);
  const connected =
    link?.connectedAt !== undefined &&
    link.connectedAt <= requestedAt &&
    (link.endedAt ?? Number.POSITIVE_INFINITY) >= windowEnd;
  const faults =
    link?.instance === undefined ? [] : cluster.faultsDuring(link.instance, requestedAt, windowEnd);
  if (connected && faults.length === 0) return { by: windowEnd, faulted: false };
  const faultEnd = Math.max(confirmedAt, ...faults.map((f) => f.endedAt ?? Date.now()));
  const reconnect = config.heartbeatMs + config.pongTimeoutMs + config.backoffMaxMs + 5_000;
  return { by: faultEnd + reconnect + REVOCATION_BOUND_MS, faulted: true };
}

/**
 * A REST publish whose route answered 2xx names no offset; its message must
 * have reached any client owed every message of the topic since before the
 * request (subscribed then, and never told `recovered: false` since), so
 * some client must have seen its ledger id.
 */
function checkConfirmedPublishes(
  workload: Workload,
  ledger: ChaosLedger,
  owedSince: Map<string, number>,
): void {
  for (const publish of workload.confirmed) {
    if (ledger.topics.truth(publish.topic).has(publish.ledgerId)) continue;
    if ((owedSince.get(publish.topic) ?? Infinity) > publish.requestedAt) continue;
    ledger.violations.add(
      'confirmed publish never delivered',
      `${publish.topic} ${publish.ledgerId} (confirmed at ${new Date(publish.confirmedAt).toISOString()})`,
    );
  }
}

async function adminGet(cluster: ChaosCluster, workload: Workload, path: string): Promise<any> {
  for (const index of cluster.healthy()) {
    const reply = await cluster
      .http(index, 'GET', path, undefined, workload.adminTokenValue)
      .catch(() => undefined);
    if (reply?.status === 200) return reply.body;
  }
  return undefined;
}

async function offlineCounters(
  cluster: ChaosCluster,
  workload: Workload,
): Promise<OfflineCounters | undefined> {
  const stats = await adminGet(cluster, workload, '/ws/stats');
  return stats?.offline as OfflineCounters | undefined;
}

/**
 * A revoked user's token must be refused by every instance, except one
 * started after a restart of Redis without persistence that came after the
 * revocation: it never heard of it (documented).
 */
async function probeRevokedTokens(
  cluster: ChaosCluster,
  workload: Workload,
  ledger: ChaosLedger,
): Promise<void> {
  for (const user of workload.users) {
    if (!ledger.revocations.isRevoked(user)) continue;
    const revokedAt = ledger.revocations.confirmedAt(user)!;
    for (const index of cluster.healthy()) {
      const started = cluster.startedAt(index);
      if (cluster.emptyRestarts().some((r) => r > revokedAt && r < started)) continue;
      const status = await handshakeStatus(cluster.ports[index], workload.tokenOf(user));
      if (status !== 401) {
        ledger.violations.add('revoked token accepted', `${user} on instance ${index}: ${status}`);
      }
    }
  }
}

function handshakeStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`);
    socket.once('open', () => {
      socket.terminate();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    socket.once('error', () => resolve(0));
  });
}

/**
 * After every client left: no connection, subscription or watched topic on
 * any instance, and each instance's heap (after GC) within an allowance of
 * its baseline.
 */
async function releasedResources(
  cluster: ChaosCluster,
  workload: Workload,
  ledger: ChaosLedger,
  heapBaseline: number[],
): Promise<InstanceResources[]> {
  const resources: InstanceResources[] = [];
  for (let index = 0; index < cluster.size; index++) {
    let stats: any;
    const deadline = Date.now() + RESOURCE_WAIT_MS;
    do {
      const reply = await cluster
        .http(index, 'GET', '/ws/stats', undefined, workload.adminTokenValue)
        .catch(() => undefined);
      stats = reply?.body;
      if (stats?.connections === 0 && stats?.engine?.watchedTopics === 0) break;
      await sleep(250);
    } while (Date.now() < deadline);
    const heapAfter = await cluster.heapUsed(index);
    const entry: InstanceResources = {
      heapBaseline: heapBaseline[index],
      heapAfter,
      connections: stats?.connections ?? -1,
      subscriptions: stats?.subscriptions ?? -1,
      topics: stats?.topics ?? -1,
      watchedTopics: stats?.engine?.watchedTopics ?? -1,
    };
    resources.push(entry);
    const held = [entry.connections, entry.subscriptions, entry.topics, entry.watchedTopics];
    if (held.some((n) => n !== 0)) {
      ledger.violations.add('resource not released', `instance ${index}: ${JSON.stringify(entry)}`);
    }
    if (heapAfter > heapBaseline[index] + HEAP_ALLOWANCE_BYTES) {
      ledger.violations.add(
        'resource not released',
        `instance ${index}: heap ${mb(heapAfter)} MB after the clients left, baseline ${mb(heapBaseline[index])} MB`,
      );
    }
  }
  return resources;
}

/**
 * Redis keys back to the baseline once the history's lifetime (twice its
 * TTL, for the topic meta) and presence's (three TTLs after a topic's last
 * member) have passed: no key left that names a user, room
 * or SKU of the run, and the rest within the library's fixed bookkeeping.
 */
async function keysBack(
  cluster: ChaosCluster,
  config: ChaosConfig,
  ledger: ChaosLedger,
  baseline: number,
): Promise<ChaosResult['keys']> {
  const lifetimeMs = Math.max(2 * config.historyTtlSeconds, 3 * config.presenceTtlSeconds) * 1000;
  const deadline = Date.now() + lifetimeMs + RESOURCE_WAIT_MS;
  let names = await cluster.keys();
  while (names.some((name) => ENTITY_IN_KEY.test(name)) && Date.now() < deadline) {
    await sleep(1_000);
    names = await cluster.keys();
  }
  const entityKeys = names.filter((name) => ENTITY_IN_KEY.test(name));
  if (entityKeys.length > 0) {
    ledger.violations.add(
      'resource not released',
      `Redis keys left: ${entityKeys.slice(0, 5).join(', ')}`,
    );
  }
  const jobs = names.filter((name) => BULL_KEY.test(name) && !ENTITY_IN_KEY.test(name));
  const fixed = names.filter((name) => !BULL_KEY.test(name) && !ENTITY_IN_KEY.test(name));
  if (jobs.length > KEPT_JOB_KEYS || fixed.length > baseline + FIXED_KEYS_ALLOWANCE) {
    ledger.violations.add(
      'resource not released',
      `${jobs.length} Bull keys (at most ${KEPT_JOB_KEYS} kept), ${fixed.length} others (baseline ${baseline})`,
    );
  }
  return { baseline, after: names.length, entityKeys, shapes: shapesOf(names) };
}

/** Key names with ids and numbers folded (`rt:bull:q:*`), most common first: what is left, at a glance. */
function shapesOf(names: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const name of names) {
    const shape = name.replace(/[A-Za-z0-9_-]{16,}/g, '*').replace(/\d+/g, '#');
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
