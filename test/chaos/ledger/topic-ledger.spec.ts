import { TopicLedger } from './topic-ledger';
import { Violations } from './violations';

/**
 * The chaos run's checker, fed frames a broken server could send: each
 * planted defect must be found, and each honest sequence must pass.
 */
describe('TopicLedger', () => {
  let violations: Violations;
  let ledger: TopicLedger;
  const E = '1700000000000000';
  const F = '1700000000999999';

  beforeEach(() => {
    violations = new Violations();
    ledger = new TopicLedger(violations);
  });

  const subscribe = (client: string, offset: string, since?: string, recovered?: boolean) =>
    ledger.subscribed(
      client,
      [{ topic: 't', offset, ...(recovered === undefined ? {} : { recovered }) }],
      since === undefined ? undefined : { t: since },
      true,
    );
  const receive = (client: string, offset: string, id = offset) =>
    ledger.message(client, 't', offset, id);
  const kinds = () => violations.byKind().map(([kind]) => kind);

  it('passes an honest stream across a reconnect that recovered', () => {
    subscribe('c', `${E}-0`);
    receive('c', `${E}-1`);
    ledger.connectionEnded('c');
    subscribe('c', `${E}-3`, `${E}-1`, true);
    receive('c', `${E}-2`);
    receive('c', `${E}-3`);
    receive('c', `${E}-4`);
    expect(ledger.finish(['c'])).toMatchObject({ delivered: 4, recovered: 2, lost: 0 });
    expect(kinds()).toEqual([]);
  });

  it('finds a duplicate offset and an out-of-order message', () => {
    subscribe('c', `${E}-0`);
    receive('c', `${E}-1`);
    receive('c', `${E}-2`);
    receive('c', `${E}-2`);
    receive('c', `${E}-1`);
    expect(ledger.finish(['c'])).toMatchObject({ duplicates: 1, outOfOrder: 1 });
    expect(kinds()).toEqual(['duplicate offset', 'out of order']);
  });

  it('finds a gap within an epoch', () => {
    subscribe('c', `${E}-0`);
    receive('c', `${E}-1`);
    receive('c', `${E}-4`);
    expect(ledger.finish(['c'])).toMatchObject({ lost: 2 });
    expect(kinds()).toEqual(['gap']);
  });

  it('finds a silent jump to a new epoch over messages someone else saw', () => {
    subscribe('a', `${E}-0`);
    subscribe('b', `${E}-0`);
    receive('a', `${E}-1`);
    receive('b', `${E}-1`);
    receive('b', `${E}-2`);
    receive('a', `${F}-1`);
    receive('b', `${F}-1`);
    expect(ledger.finish(['a', 'b'])).toMatchObject({ lost: 1 });
    expect(kinds()).toEqual(['gap']);
  });

  it('accepts a new epoch when nothing was missed, and a gap announced by recovered: false', () => {
    subscribe('a', `${E}-0`);
    receive('a', `${E}-1`);
    receive('a', `${F}-1`);
    ledger.connectionEnded('a');
    subscribe('a', `${F}-5`, `${F}-1`, false);
    receive('a', `${F}-6`);
    // The server's own announcement on a held topic (history lost while it was cut off).
    ledger.subscribed('a', [{ topic: 't', offset: `${F}-9`, recovered: false }], undefined, false);
    receive('a', `${F}-10`);
    expect(ledger.finish(['a'])).toMatchObject({ lost: 0, resyncs: 2, coveredByResync: 7 });
    expect(kinds()).toEqual([]);
  });

  it('finds a recovery from a position the client does not hold', () => {
    subscribe('c', `${E}-0`);
    receive('c', `${E}-2`);
    ledger.connectionEnded('c');
    subscribe('c', `${E}-5`, `${E}-1`, true);
    expect(kinds()).toEqual(['gap', 'inconsistent subscribed reply']);
  });

  it('finds a message on a topic the connection does not hold', () => {
    subscribe('c', `${E}-0`);
    ledger.connectionEnded('c');
    receive('c', `${E}-1`);
    expect(kinds()).toEqual(['message outside a subscription']);
  });

  it('finds what a client still lacks at the end, including a publisher-confirmed offset', () => {
    subscribe('c', `${E}-0`);
    receive('c', `${E}-1`);
    ledger.confirmed('t', `${E}-3`, 'chat-3');
    expect(ledger.caughtUp(['c'])).toBe(false);
    expect(ledger.finish(['c'])).toMatchObject({ lost: 2 });
    expect(kinds()).toEqual(['not delivered by the end']);
  });

  it('finds two messages at one offset, and one message at two offsets', () => {
    subscribe('a', `${E}-0`);
    subscribe('b', `${E}-0`);
    receive('a', `${E}-1`, 'L1');
    receive('b', `${E}-1`, 'L2');
    receive('a', `${E}-2`, 'L3');
    receive('a', `${E}-3`, 'L3');
    expect(kinds()).toEqual(['two messages at one offset', 'one message at two offsets']);
  });

  it('knows since when a client has been owed every message', () => {
    subscribe('c', `${E}-0`);
    const owed = ledger.owedSince(['c']).get('t');
    expect(owed).toBeLessThanOrEqual(Date.now());
    expect(ledger.owedSince(['other']).has('t')).toBe(false);
  });
});
