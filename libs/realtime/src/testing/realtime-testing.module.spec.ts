import { Injectable, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { BroadcastService } from '../delivery/broadcast.service';
import type { Broadcaster } from '../delivery/broadcaster.interface';
import { RevocationService } from '../auth/revocation.service';
import { TokenRejectedError, TokenService } from '../auth/token.service';
import { OnRealtimeEvent } from '../presence/lifecycle/on-realtime-event.decorator';
import type { RealtimeEvent } from '../presence/lifecycle/realtime-event';
import { RealtimeEvents } from '../presence/lifecycle/realtime-events.service';
import { PresenceService } from '../presence/presence.service';
import { RecordedRevocations } from './recorded-revocations';
import { RealtimeEventsFixture } from './realtime-events.fixture';
import { RealtimePresenceFixture } from './realtime-presence.fixture';
import { RealtimeTestTokens } from './realtime-test-tokens';
import { RealtimeRecorder } from './realtime-recorder';
import { RealtimeTestingModule } from './realtime-testing.module';

/** Domain code that uses the whole of BroadcastService, as an operations dashboard would. */
@Injectable()
class Dashboard {
  constructor(private readonly realtime: BroadcastService) {}

  async report() {
    await this.realtime.publish('orders', 'order.created', { id: '1' });
    await this.realtime.sendToUser('42', 'notice', { text: 'hi' }, { ttlSeconds: 60 });
    await this.realtime.broadcast('maintenance', { at: 1 });
    await this.realtime.disconnectUser('43');
    return {
      stats: this.realtime.stats(),
      detailed: await this.realtime.detailedStats(),
      offline: await this.realtime.offlineStats(),
      deadLetters: await this.realtime.deadLetters(10),
    };
  }
}

/** The README's SupportDesk: domain code that reads presence. */
@Injectable()
class SupportDesk {
  constructor(private readonly presence: PresenceService) {}

  async room(chatId: string) {
    const { connections, users } = await this.presence.count(`chat:${chatId}`);
    const { members, cursor } = await this.presence.members(`chat:${chatId}`, { limit: 100 });
    return {
      connections,
      users,
      members,
      cursor,
      agentOnline: await this.presence.isOnline('agent-7'),
    };
  }
}

/** Domain code that revokes: closing an account ends its sessions everywhere. */
@Injectable()
class AccountClosure {
  constructor(private readonly revocations: RevocationService) {}

  close(userId: string) {
    return this.revocations.revoke({ userId });
  }

  revokeNothing() {
    return this.revocations.revoke({});
  }
}

/** The app's own check of the library's tokens, as an HTTP guard of the app makes it. */
@Injectable()
class AdminCheck {
  constructor(private readonly tokens: TokenService) {}

  adminOf(token: string): string | null {
    const principal = this.tokens.verify(token);
    return principal.roles.includes('admin') ? principal.userId : null;
  }
}

/** The app's lifecycle handler, and an operations view of the events' counts. */
@Injectable()
class LastSeen {
  readonly seen = new Map<string, number>();

  constructor(private readonly events: RealtimeEvents) {}

  @OnRealtimeEvent('user.offline')
  offline({ data }: RealtimeEvent<'user.offline'>): void {
    if (data.userId === 'unreachable') throw new Error('profile store down');
    this.seen.set(data.userId, data.lastSeen);
  }

  counts() {
    return this.events.stats();
  }
}

/** A module of the testing module and one piece of domain code, as a test of the app compiles it. */
function withDomainCode(domainCode: Type<unknown>): Promise<TestingModule> {
  return Test.createTestingModule({
    imports: [RealtimeTestingModule],
    providers: [domainCode],
  }).compile();
}

describe('RealtimeTestingModule', () => {
  it('gives domain code a BroadcastService whose every method works, backed by the recorder', async () => {
    const moduleRef = await withDomainCode(Dashboard);
    const recorder = moduleRef.get(RealtimeRecorder);
    const letter = {
      id: 'm1',
      userId: '42',
      type: 'notice',
      payload: null,
      ts: 1,
      expiresAt: 2,
      reason: 'expired' as const,
      deadAt: 2,
    };
    recorder.deadLettered.push(letter);

    const report = await moduleRef.get(Dashboard).report();

    expect(moduleRef.get(BroadcastService)).toBe(recorder);
    expect(recorder.publishedTo('orders')).toHaveLength(1);
    expect(recorder.disconnectedUsers).toEqual([{ userId: '43', code: 4003 }]);
    expect(report.stats.counters).toEqual({ published: 1, broadcasts: 1 });
    expect(report.detailed.engine).toMatchObject({ engine: 'recorder', published: 1 });
    expect(report.offline).toEqual({ pending: 1, delivered: 0, deadLettered: 1 });
    expect(report.deadLetters).toEqual([letter]);
  });

  it('gives domain code the real PresenceService, counting the connections the test opens', async () => {
    const moduleRef = await withDomainCode(SupportDesk);
    const fixture = moduleRef.get(RealtimePresenceFixture);
    const desk = moduleRef.get(SupportDesk);
    expect(await desk.room('7')).toEqual({
      connections: 0,
      users: 0,
      members: [],
      cursor: null,
      agentOnline: false,
    });

    const agent = await fixture.connect('agent-7', ['chat:7']);
    await fixture.connect('ada', ['chat:7']);
    await fixture.connect('ada', ['chat:7']);
    await fixture.connect(null, ['chat:7']);
    expect(await desk.room('7')).toEqual({
      connections: 4,
      users: 2,
      members: expect.arrayContaining([
        { userId: 'ada', connections: 2 },
        { userId: 'agent-7', connections: 1 },
      ]),
      cursor: null,
      agentOnline: true,
    });

    await fixture.disconnect(agent);
    expect(await desk.room('7')).toMatchObject({ connections: 3, users: 1, agentOnline: false });

    // Each compiled module has presence of its own: the next test starts from nobody.
    const next = await withDomainCode(SupportDesk);
    expect(await next.get(SupportDesk).room('7')).toMatchObject({ connections: 0, users: 0 });
  });

  it('gives domain code a RevocationService that records what it revokes', async () => {
    const moduleRef = await withDomainCode(AccountClosure);
    const closure = moduleRef.get(AccountClosure);
    const recorded = moduleRef.get(RecordedRevocations);
    await closure.close('mallory');
    expect(moduleRef.get(RevocationService)).toBe(recorded);
    expect(recorded.revoked).toEqual([{ userId: 'mallory' }]);
    await expect(closure.revokeNothing()).rejects.toThrow('revoke needs a tokenId or a userId');
    expect(recorded.size).toBe(1);
  });

  it("gives the app's token checks the real TokenService, accepting what RealtimeTestTokens signs", async () => {
    const moduleRef = await withDomainCode(AdminCheck);
    const tokens = moduleRef.get(RealtimeTestTokens);
    const check = moduleRef.get(AdminCheck);
    expect(check.adminOf(tokens.sign('root', { roles: ['admin'] }))).toBe('root');
    expect(check.adminOf(tokens.sign('ada'))).toBeNull();
    expect(() => check.adminOf(tokens.sign('root', { expiresInSec: -60 }))).toThrow(
      TokenRejectedError,
    );
    // Another testing module's key: its tokens are valid nowhere else.
    const otherModule = await withDomainCode(AdminCheck);
    const other = otherModule.get(RealtimeTestTokens);
    expect(() => check.adminOf(other.sign('root', { roles: ['admin'] }))).toThrow(
      TokenRejectedError,
    );
    await Promise.all([moduleRef.close(), otherModule.close()]);
  });

  it("delivers lifecycle events to the app's handlers, and gives it the real RealtimeEvents", async () => {
    const moduleRef = await withDomainCode(LastSeen);
    const events = moduleRef.get(RealtimeEventsFixture);
    const lastSeen = moduleRef.get(LastSeen);
    const event = await events.deliver('user.offline', { userId: 'ada', lastSeen: 1_700 });
    expect(event).toMatchObject({ name: 'user.offline', data: { userId: 'ada' } });
    expect(lastSeen.seen.get('ada')).toBe(1_700);
    // The handler's failure reaches the test (the library would retry, then dead-letter it).
    await expect(
      events.deliver('user.offline', { userId: 'unreachable', lastSeen: 1 }),
    ).rejects.toThrow('profile store down');
    // What the library emits reaches the same handler, in this process.
    moduleRef.get(RealtimeEvents).emit('user.offline', { userId: 'grace', lastSeen: 2_000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lastSeen.seen.get('grace')).toBe(2_000);
    expect(await lastSeen.counts()).toEqual({ emitted: 1, deadLettered: 0 });
    await moduleRef.close();
  });

  it('refuses what BroadcastService refuses: a close code the protocol does not use', async () => {
    const recorder = new RealtimeRecorder();
    await expect(recorder.disconnectUser('43', 1000 as never)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(recorder.disconnectedUsers).toEqual([]);
  });

  it('is a Broadcaster, as BroadcastService is (the compiler checks both)', () => {
    const broadcaster: Broadcaster = new RealtimeRecorder();
    expect(typeof broadcaster.detailedStats).toBe('function');
  });
});
