import { RevocationService } from '@nest-realtime/server';
import {
  Admission,
  type AdmissionMode,
  type AdmissionRefusal,
} from '../../libs/realtime/src/auth/admission/admission.port';
import { LibraryApp } from '../support/library-app';
import type { TestClient } from '../support/ws-client';
import { waitUntil } from '../support/waits';

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
