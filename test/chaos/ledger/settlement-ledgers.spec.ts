import { NotificationLedger } from './notification-ledger';
import { RevocationLedger } from './revocation-ledger';
import { Violations } from './violations';

const never = () => false;

/** The chaos run's checks of retained notifications and revocations, against planted defects. */
describe('NotificationLedger', () => {
  let violations: Violations;
  let ledger: NotificationLedger;
  const kinds = () => violations.byKind().map(([kind]) => kind);

  beforeEach(() => {
    violations = new Violations();
    ledger = new NotificationLedger(violations);
  });

  it('passes notifications acknowledged once or dead-lettered, counted as the server counts', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 5_000);
    ledger.notified('n2', 'bob', 1_000, 1_010, 5_000);
    const annOnline = ledger.connected('ann', 2_000);
    ledger.delivered(annOnline, 'n1', 2_010);
    ledger.delivered(annOnline, 'n1', 2_020);
    ledger.acked(['n1'], 2_100);
    ledger.deadLettered('n2');
    const values = { pending: 0, delivered: 1, deadLettered: 1 };
    expect(ledger.finish(never, { values }, { graceMs: 500, excused: () => false })).toEqual({
      sent: 2,
      acked: 1,
      deadLettered: 1,
      erased: 0,
      redelivered: 1,
    });
    expect(kinds()).toEqual([]);
  });

  it('finds a notification neither acknowledged nor dead-lettered, unless Redis erased it', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 5_000);
    expect(ledger.settled(never)).toBe(false);
    expect(
      ledger.finish(() => true, undefined, { graceMs: 500, excused: () => false }),
    ).toMatchObject({ erased: 1 });
    expect(kinds()).toEqual([]);
    ledger.finish(never, undefined, { graceMs: 500, excused: () => false });
    expect(kinds()).toEqual(['notification not settled']);
  });

  it('finds a dead letter of a notification acknowledged before its TTL', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 5_000);
    ledger.acked(['n1'], 3_000);
    ledger.deadLettered('n1');
    ledger.finish(never, undefined, { graceMs: 500, excused: () => false });
    expect(kinds()).toEqual(['notification settled twice']);
  });

  it('finds a new connection that did not get a pending notification', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 10_000);
    const early = ledger.connected('ann', 2_000);
    ledger.closed(early, 2_100);
    ledger.connected('ann', 3_000);
    ledger.deadLettered('n1');
    ledger.finish(never, undefined, { graceMs: 500, excused: () => false });
    expect(kinds()).toEqual(['notification not sent on a new connection']);
  });

  it('owes no connection a notification acknowledged before its inbox could be read', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 10_000);
    const first = ledger.connected('ann', 1_005);
    ledger.delivered(first, 'n1', 1_020);
    ledger.connected('ann', 1_500);
    ledger.acked(['n1'], 1_600);
    ledger.finish(never, undefined, { graceMs: 500, excused: () => false });
    expect(kinds()).toEqual([]);

    // Acknowledged after the read must have come: that connection was owed it.
    ledger.connected('ann', 1_050);
    ledger.finish(never, undefined, { graceMs: 500, excused: () => false });
    expect(kinds()).toEqual(['notification not sent on a new connection']);
  });

  it('finds counters that disagree with the ledger', () => {
    ledger.notified('n1', 'ann', 1_000, 1_010, 5_000);
    ledger.acked(['n1'], 2_000);
    ledger.finish(
      never,
      { values: { pending: 0, delivered: 2, deadLettered: 0 } },
      { graceMs: 500, excused: () => false },
    );
    expect(kinds()).toEqual(['offline counters disagree']);
  });
});

describe('RevocationLedger', () => {
  let violations: Violations;
  let ledger: RevocationLedger;
  const kinds = () => violations.byKind().map(([kind]) => kind);
  const clients = (user: string) => (user === 'ann' ? ['ann-1', 'ann-2'] : []);
  const bound = (_client: string, _requested: number, confirmed: number) => ({
    by: confirmed + 1_000,
    faulted: false,
  });

  beforeEach(() => {
    violations = new Violations();
    ledger = new RevocationLedger(violations);
    ledger.revoked('ann', 10_000, 10_050);
  });

  it('passes every client of the user closed (4003) or refused (401) within the bound', () => {
    ledger.ended('ann-1', 'ann', 4003, undefined, 10_100);
    ledger.ended('ann-2', 'ann', 1006, 401, 10_900);
    expect(ledger.finish(clients, bound)).toEqual({
      users: 1,
      clientsClosed: 2,
      slowestMs: 850,
      slowestAfterFaultMs: 0,
    });
    expect(kinds()).toEqual([]);
  });

  it('finds a client closed late, one never closed, and a user closed without a revocation', () => {
    ledger.ended('ann-1', 'ann', 4003, undefined, 12_000);
    ledger.ended('bob-1', 'bob', 4003, undefined, 12_000);
    ledger.finish(clients, bound);
    expect(kinds()).toEqual(['unexpected close', 'revocation not applied in time']);
    expect(violations.count('revocation not applied in time')).toBe(2);
  });

  it('expects endings from the first request on, before its 202 arrives', () => {
    const fresh = new RevocationLedger(violations);
    const ofCid = () => ['cid-1'];
    fresh.requested('cid');
    fresh.ended('cid-1', 'cid', 1006, 401, 20_100);
    fresh.revoked('cid', 20_000, 20_300);
    expect(fresh.finish(ofCid, bound).clientsClosed).toBe(1);
    expect(kinds()).toEqual([]);
  });
});
