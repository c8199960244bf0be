import { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TestRedis } from '../../../../../test/support/redis-server';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { RedisConnections } from '../../redis/redis-connections.service';
import type { AdmissionRefusal } from './admission.port';
import { AdmissionKeys } from './admission-keys';
import { IP_REFUSAL, USER_REFUSAL } from './admission-refusals';
import { RedisAdmission } from './redis.admission';

const LIMITS = { maxConnectionsPerIp: 3, maxConnectionsPerUser: 2, connectRate: 8 };

/** Script runs Redis answered: EVAL and EVALSHA calls that did not fail (a NOSCRIPT is no run). */
async function scriptCalls(redis: TestRedis): Promise<number> {
  const info = await redis.command('INFO', 'commandstats');
  let runs = 0;
  for (const match of info.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+),.*failed_calls=(\d+)/g)) {
    runs += Number(match[1]) - Number(match[2]);
  }
  return runs;
}

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
    for (let tries = 0; admission.mode !== 'cluster' && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(admission.mode).toBe('cluster');
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

  /** One handshake per turn, `handshakes` turns, the first call sent while Redis is paused. */
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
    const before = await scriptCalls(redis);
    const replies = await turnsWhilePaused(200, [
      ['10.1.0.1', 'w1'],
      ['10.1.0.1', 'w1'],
      ['10.1.0.1', null],
      ['10.1.0.2', 'w3'],
    ]);
    expect(replies).toEqual([undefined, undefined, undefined, undefined]);
    // The first turn's call, then one for the three turns that waited behind it.
    expect((await scriptCalls(redis)) - before).toBe(2);
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
    const replies = await turnsWhilePaused(200, [
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
    const before = await scriptCalls(redis);
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
    let calls = 0;
    for (let tries = 0; calls < 1 && tries < 100; tries++) {
      calls = (await scriptCalls(redis)) - before;
      if (calls < 1) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(calls).toBe(1);
  });
});
