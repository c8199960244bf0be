import Redis from 'ioredis';
import { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedis } from '../../../../../test/support/redis-server';
import { TcpProxy } from '../../../../../test/support/tcp-proxy';
import { readUntil, sleep, waitUntil } from '../../../../../test/support/waits';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import type { AdmissionRefusal } from './admission.port';
import { AdmissionKeys } from './admission-keys';
import { AdmissionReaper } from './admission-reaper';
import { IP_REFUSAL, USER_REFUSAL } from './admission-refusals';
import { RedisAdmission } from './redis.admission';

const LIMITS = { maxConnectionsPerIp: 3, maxConnectionsPerUser: 2, connectRate: 8 };

/**
 * RedisAdmission on one Redis while a reservation call is unanswered: the
 * handshakes of the turns meanwhile wait for it and leave together, and fall
 * back to local counts at once when it fails. Redis is held with CLIENT PAUSE
 * (its clients' commands wait, as behind a slow script).
 */
describe('RedisAdmission on one Redis, with a reservation call in flight', () => {
  let redis: TestRedis;
  let connections: RedisConnections;
  let admission: RedisAdmission;
  const sockets: Socket[] = [];
  let prefix = 0;

  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    const options = resolveRealtimeOptions({
      redis: { url: redis.url, keyPrefix: `inflight${++prefix}:` },
      limits: LIMITS,
    });
    connections = new RedisConnections(options);
    admission = new RedisAdmission(options, connections);
    await waitUntil(() => admission.mode === 'cluster', 2_000, 'admission in cluster mode');
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await admission.beforeApplicationShutdown();
    await connections.onApplicationShutdown();
  });

  function reserve(ip: string, userId: string | null): Promise<AdmissionRefusal | undefined> {
    const socket = new Socket();
    sockets.push(socket);
    return Promise.resolve(admission.reserve(socket, { ip, userId, exempt: false }));
  }

  /**
   * One handshake per turn, `handshakes` turns, the first call sent while
   * Redis is paused (below the 1 s command timeout, and long enough for the
   * turns to pass on a busy machine).
   */
  async function turnsWhilePaused(
    pauseMs: number,
    handshakes: Array<[string, string | null]>,
  ): Promise<Array<AdmissionRefusal | undefined>> {
    await redis.command('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    const replies: Array<Promise<AdmissionRefusal | undefined>> = [];
    for (const [ip, user] of handshakes) {
      replies.push(reserve(ip, user));
      await nextTurn();
    }
    return Promise.all(replies);
  }

  it('sends the handshakes of the turns behind an unanswered call in one call', async () => {
    const before = await redis.scriptRuns();
    const replies = await turnsWhilePaused(600, [
      ['10.1.0.1', 'w1'],
      ['10.1.0.1', 'w1'],
      ['10.1.0.1', null],
      ['10.1.0.2', 'w3'],
    ]);
    expect(replies).toEqual([undefined, undefined, undefined, undefined]);
    // The first turn's call, then one for the three turns that waited behind it.
    expect((await redis.scriptRuns()) - before).toBe(2);
    // Each count written once per call, with its last handshake's count; each held key once.
    const keys = new AdmissionKeys(connections);
    const command = connections.command;
    const count = (key: string) => command.hget(keys.count(key), admission.instanceId);
    expect([await count('ip:10.1.0.1'), await count('user:w1')]).toEqual(['3', '2']);
    expect((await command.smembers(keys.held(admission.instanceId))).sort()).toEqual(
      ['ip:10.1.0.1', 'user:w1', 'ip:10.1.0.2', 'user:w3'].map((key) => keys.count(key)).sort(),
    );
  });

  it('answers the handshakes that waited behind a call as one call each, in order, would', async () => {
    const replies = await turnsWhilePaused(600, [
      ['10.3.0.1', 'w4'],
      ['10.3.0.2', 'w4'],
      ['10.3.0.3', 'w4'],
      ['10.3.0.4', null],
      ['10.3.0.4', null],
      ['10.3.0.4', null],
      ['10.3.0.4', null],
    ]);
    expect(replies).toEqual([
      undefined,
      undefined,
      USER_REFUSAL,
      undefined,
      undefined,
      undefined,
      IP_REFUSAL,
    ]);
  });

  it("counts a call's attempts of one address in its connect-rate window, each as its own INCR would", async () => {
    const attempts = Array.from({ length: 10 }, () => reserve('10.4.0.1', null));
    const replies = await Promise.all(attempts);
    const rate = { reason: 'too many connection attempts', retryAfterSec: 60 };
    // The first 3 hold the address's slots, the next 5 pass the rate but not the cap, 2 are over the rate.
    expect(replies).toEqual([
      ...Array.from({ length: 3 }, () => undefined),
      ...Array.from({ length: 5 }, () => IP_REFUSAL),
      rate,
      rate,
    ]);
    // The window started with the call's first attempt: the next call counts on from 10.
    expect(await reserve('10.4.0.1', null)).toEqual(rate);
    const keys = new AdmissionKeys(connections);
    const counter = keys.rate('ip:10.4.0.1');
    expect(await connections.command.get(counter)).toBe('11');
    const ttl = await connections.command.pttl(counter);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('falls back to local counts, without a call of their own, for the handshakes behind a call that timed out', async () => {
    const before = await redis.scriptRuns();
    // Longer than the 1 s a handshake waits for Redis: the first call times out.
    const replies = await turnsWhilePaused(1_500, [
      ['10.2.0.1', 'w2'],
      ['10.2.0.1', 'w2'],
      ['10.2.0.1', 'w2'],
    ]);
    // Admitted on the local checks alone (which HandshakeService made before), the mode says so.
    expect(replies).toEqual([undefined, undefined, undefined]);
    expect(admission.mode).toBe('local');
    // Only the call that timed out reached Redis (and ran once the pause ended).
    const calls = await readUntil(
      async () => (await redis.scriptRuns()) - before,
      (runs) => runs >= 1,
      2_000,
    );
    expect(calls).toBe(1);
  });

  it('writes a count released while a reservation of it waited once that is answered: Redis ends at the tally', async () => {
    const keys = new AdmissionKeys(connections);
    const field = () => connections.command.hget(keys.count('ip:10.5.0.1'), admission.instanceId);
    const open = new Socket();
    expect(
      await Promise.resolve(
        admission.reserve(open, { ip: '10.5.0.1', userId: null, exempt: false }),
      ),
    ).toBeUndefined();
    expect(await field()).toBe('1');
    await redis.command('CLIENT', 'PAUSE', '600', 'ALL');
    const inFlight = reserve('10.5.0.2', null);
    await nextTurn();
    // Queued behind that call, with this instance's count of the address as it is now (1).
    const queued = reserve('10.5.0.1', null);
    await nextTurn();
    // Its release (count 1) is written at this turn's end, before the queued call (count 2) is sent.
    open.destroy();
    expect(await Promise.all([inFlight, queued])).toEqual([undefined, undefined]);
    expect(await readUntil(field, (written) => written === '1', 2_000)).toBe('1');
  });

  it('sends nothing after shutdown forgot the counts: queued reservations fall back, nothing is left in Redis', async () => {
    const keys = new AdmissionKeys(connections);
    const id = admission.instanceId;
    await redis.command('CLIENT', 'PAUSE', '600', 'ALL');
    const inFlight = reserve('10.6.0.1', null);
    await nextTurn();
    const queued = reserve('10.6.0.2', 'w6');
    await nextTurn();
    await admission.beforeApplicationShutdown();
    expect(await Promise.all([inFlight, queued])).toEqual([undefined, undefined]);
    expect(admission.mode).toBe('local');
    const command = connections.command;
    // A later turn would have sent the queued call: let one pass.
    await sleep(50);
    expect({
      held: await command.smembers(keys.held(id)),
      ip: await command.hget(keys.count('ip:10.6.0.2'), id),
      user: await command.hget(keys.count('user:w6'), id),
      registered: await command.sismember(keys.instances, id),
    }).toEqual({ held: [], ip: null, user: null, registered: 0 });
    expect(await new AdmissionReaper(connections).reapDeadInstances()).toBe(0);
  });
});

describe('RedisAdmission on a Redis that answers every call in 600 ms', () => {
  it('checks a handshake queued behind a call against the cluster counts, not the local ones', async () => {
    const redis = await TestRedis.start();
    const direct = new Redis(redis.url);
    const proxy = await TcpProxy.start(redis.port);
    proxy.delay(300);
    const options = resolveRealtimeOptions({
      redis: { url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: 'slow:' },
      limits: LIMITS,
    });
    const connections = new RedisConnections(options);
    const admission = new RedisAdmission(options, connections);
    const reserve = (ip: string) =>
      Promise.resolve(admission.reserve(new Socket(), { ip, userId: null, exempt: false }));
    try {
      await waitUntil(() => admission.mode === 'cluster', 5_000, 'admission in cluster mode');
      // Another live instance holds all 3 slots of the address.
      const keys = new AdmissionKeys(connections);
      await direct.set(keys.alive('other'), '1', 'PX', 60_000);
      await direct.hset(keys.count('ip:10.7.0.9'), 'other', '3');
      const first = reserve('10.7.0.1');
      await nextTurn();
      // Each call takes 600 ms: this one waits for the first, then gets its own second.
      const queued = reserve('10.7.0.9');
      expect(await first).toBeUndefined();
      expect(await queued).toEqual(IP_REFUSAL);
      expect(admission.mode).toBe('cluster');
    } finally {
      await admission.beforeApplicationShutdown();
      await connections.onApplicationShutdown();
      direct.disconnect();
      await proxy.stop();
      await redis.stop();
    }
  });
});
