import { REALTIME_OPTIONS, RevocationService } from '@nest-realtime/server';
import type { WebSocket } from 'ws';
import {
  Admission,
  type AdmissionMode,
  type AdmissionRefusal,
} from '../../libs/realtime/src/auth/admission/admission.port';
import { RedisAdmission } from '../../libs/realtime/src/auth/admission/redis.admission';
import type { Principal } from '../../libs/realtime/src/auth/principal';
import type { ResolvedRealtimeOptions } from '../../libs/realtime/src/options/resolved-options';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';
import type { TestClient } from '../support/ws-client';
import { sleep, waitUntil } from '../support/waits';

/**
 * Admits every sign-in, after the test opens the gate: the wait of Redis
 * mode's cluster-wide reservation, held as long as the test needs.
 */
class GatedAdmission extends Admission {
  readonly mode: AdmissionMode = 'local';
  private readonly waiting: Array<() => void> = [];

  get held(): number {
    return this.waiting.length;
  }

  reserve(): undefined {
    return undefined;
  }

  reserveUser(): Promise<AdmissionRefusal | undefined> {
    return new Promise((resolve) => this.waiting.push(() => resolve(undefined)));
  }

  releaseUser(): void {}

  open(): void {
    for (const release of this.waiting.splice(0)) release();
  }
}

/**
 * An anonymous connection signing in (`auth`) waits for its user's slot; what
 * happens meanwhile still counts: the per-user cap admits no more than it
 * allows however sign-ins interleave, and a token revoked during the wait
 * does not sign anyone in (PROTOCOL §6).
 */
describe('protection: what happens while a sign-in waits for its slot', () => {
  let lib: LibraryApp;
  const gate = new GatedAdmission();

  beforeAll(async () => {
    lib = await LibraryApp.start({
      realtime: {
        limits: { maxConnectionsPerUser: 1 },
        topics: { mine: { subscribe: 'owner' } },
      },
      override: (builder) => builder.overrideProvider(Admission).useValue(gate),
    });
  });
  afterAll(() => lib.stop());

  const signIn = (clients: TestClient[], userId: string) =>
    Promise.all(clients.map((client) => client.request('auth', { token: lib.token(userId) })));

  it('signs in one of two connections racing for the last slot and refuses the other', async () => {
    const replies = signIn([await lib.connect(), await lib.connect()], 'ann');
    await waitUntil(() => gate.held === 2, 5_000, 'both sign-ins waiting for a slot');
    gate.open();

    const answers = (await replies).map((reply) => reply.data.code ?? reply.event);
    expect(answers.sort()).toEqual(['UNAUTHORIZED', 'authenticated']);
    expect((await replies).find((reply) => reply.event === 'error')?.data.message).toBe(
      'too many connections for this user',
    );
  });

  it('refuses a token revoked while its sign-in waited, and leaves the connection anonymous', async () => {
    const client = await lib.connect();
    const reply = signIn([client], 'bo');
    await waitUntil(() => gate.held === 1, 5_000, 'the sign-in waiting for a slot');
    await lib.app.get(RevocationService).revoke({ userId: 'bo' });
    gate.open();

    expect((await reply)[0].data).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'token revoked',
    });
    expect(client.isOpen).toBe(true);
    expect((await client.request('subscribe', { topics: ['mine:bo'] })).data.code).toBe(
      'UNAUTHORIZED',
    );
  });
});

/** Redis mode's admission, whose sign-in reservations start when the test opens the gate. */
class GatedRedisAdmission extends RedisAdmission {
  private readonly waiting: Array<() => void> = [];

  get held(): number {
    return this.waiting.length;
  }

  override reserveUser(socket: WebSocket, userId: string): Promise<AdmissionRefusal | undefined> {
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() =>
      super.reserveUser(socket, userId),
    );
  }

  open(): void {
    for (const release of this.waiting.splice(0)) release();
  }
}

/**
 * Redis mode: a sign-in refused after its user's slot was reserved in the
 * cluster's counts gives the slot back, so the user's cap is whole again.
 */
describe('protection: a refused sign-in gives its reserved slot back (Redis mode)', () => {
  let redis: TestRedis;
  let lib: LibraryApp;
  let gate: GatedRedisAdmission;

  beforeAll(async () => {
    redis = await TestRedis.start();
    lib = await LibraryApp.start({
      realtime: { redis: { url: redis.url }, limits: { maxConnectionsPerUser: 1 } },
      override: (builder) =>
        builder.overrideProvider(Admission).useFactory({
          factory: (options: ResolvedRealtimeOptions, connections: RedisConnections) =>
            (gate = new GatedRedisAdmission(options, connections)),
          inject: [REALTIME_OPTIONS, RedisConnections],
        }),
    });
  }, 30_000);
  afterAll(async () => {
    await lib?.stop();
    await redis?.stop();
  });

  it('lets the user connect up to the cap after a sign-in refused for a revocation', async () => {
    const anonymous = await lib.connect();
    const reply = anonymous.request('auth', { token: lib.token('cy') });
    await waitUntil(() => gate.held === 1, 5_000, 'the sign-in waiting for its slot');
    const revocations = lib.app.get(RevocationService);
    await revocations.revoke({ userId: 'cy' });
    const revokedToken = { userId: 'cy', issuedAt: Math.floor(Date.now() / 1000) } as Principal;
    await waitUntil(() => revocations.isRevoked(revokedToken), 5_000, 'the revocation applied');
    gate.open();
    expect((await reply).data).toMatchObject({ code: 'UNAUTHORIZED', message: 'token revoked' });

    // The revocation covers tokens issued up to its second: the next token is from a later one.
    const revokedAtSec = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) <= revokedAtSec) await sleep(50);
    const again = await lib.tryConnect({ token: lib.token('cy') });
    expect(again.kind).toBe('open');
  });
});
