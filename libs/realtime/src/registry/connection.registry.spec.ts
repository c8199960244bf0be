import type WebSocket from 'ws';
import type { Principal } from '../auth/principal';
import { ANONYMOUS } from '../auth/principal';
import { Connection } from './connection';
import { ConnectionRegistry } from './connection.registry';
import { SubscriptionRegistry } from './subscription.registry';

const socket = { readyState: 1 } as WebSocket;
const user = (userId: string): Principal => ({
  ...ANONYMOUS,
  userId,
  expiresAt: Date.now() + 60_000,
});
const connection = (id: string, ip: string, principal: Principal = ANONYMOUS) =>
  new Connection(id, socket, ip, principal);

describe('ConnectionRegistry', () => {
  it('indexes by id, user and IP, and counts an IPv6 /64 as one address', () => {
    const registry = new ConnectionRegistry();
    const a = connection('a', '10.0.0.1', user('u1'));
    const b = connection('b', '2001:db8::1', user('u1'));
    const c = connection('c', '2001:db8::2');
    [a, b, c].forEach((x) => registry.add(x));
    expect(registry.size).toBe(3);
    expect([...registry.all()]).toEqual([a, b, c]);
    expect([...registry.ofUser('u1')]).toEqual([a, b]);
    expect(registry.countForUser('u1')).toBe(2);
    expect(registry.countForIp('2001:db8::ffff')).toBe(2);
    expect(registry.countForIp('10.0.0.1')).toBe(1);
  });

  it('keeps one string per address with open connections, and forgets it with the last', () => {
    const registry = new ConnectionRegistry();
    const addresses = registry['addresses'];
    const a = connection('a', '10.0.0.7');
    registry.add(a);
    const b = connection('b', registry.sharedIp('10.0.0.7'));
    registry.add(b);
    expect([...addresses.values()]).toEqual([{ ip: '10.0.0.7', connections: 2 }]);
    registry.remove(a);
    registry.remove(a);
    expect(addresses.get('10.0.0.7')?.connections).toBe(1);
    registry.remove(b);
    expect(addresses.size).toBe(0);
  });

  it('removes idempotently and leaves no empty index behind', () => {
    const registry = new ConnectionRegistry();
    const a = connection('a', '10.0.0.1', user('u1'));
    registry.add(a);
    expect(registry.remove(a)).toBe(true);
    expect(registry.remove(a)).toBe(false);
    expect(registry.size).toBe(0);
    expect(registry.userCount).toBe(0);
    expect(registry.countForIp('10.0.0.1')).toBe(0);
  });

  it('moves an anonymous connection into the user index when it signs in', () => {
    const registry = new ConnectionRegistry();
    const a = connection('a', '10.0.0.1');
    registry.add(a);
    a.principal = user('u9');
    registry.reindexUser(a, null);
    expect(registry.countForUser('u9')).toBe(1);
    registry.remove(a);
    expect(registry.userCount).toBe(0);
  });

  it('holds nothing after many connects and disconnects', () => {
    const connections = new ConnectionRegistry();
    const subscriptions = new SubscriptionRegistry();
    for (let i = 0; i < 50_000; i++) {
      const c = connection(
        `c${i}`,
        `10.0.${i % 200}.${i % 250}`,
        i % 3 ? user(`u${i % 97}`) : ANONYMOUS,
      );
      connections.add(c);
      subscriptions.add(c, `topic:${i % 1000}`);
      subscriptions.add(c, 'all');
      connections.remove(c);
      subscriptions.removeAll(c);
    }
    expect(connections.size).toBe(0);
    expect(connections.userCount).toBe(0);
    expect(subscriptions.topicCount).toBe(0);
    expect(subscriptions.subscriptionCount).toBe(0);
  });
});

describe('SubscriptionRegistry', () => {
  it('reports the first and the last local subscriber of a topic', () => {
    const registry = new SubscriptionRegistry();
    const a = connection('a', '1.1.1.1');
    const b = connection('b', '1.1.1.2');
    expect(registry.add(a, 't')).toBe(true);
    expect(registry.add(b, 't')).toBe(false);
    expect(registry.add(b, 't')).toBe(false);
    expect(registry.subscriptionCount).toBe(2);
    expect(registry.remove(a, 't')).toBe(false);
    expect(registry.remove(a, 't')).toBe(false);
    expect(registry.remove(b, 't')).toBe(true);
    expect(registry.subscribersOf('t')).toBeUndefined();
  });

  it('removeAll returns the topics left without subscribers', () => {
    const registry = new SubscriptionRegistry();
    const a = connection('a', '1.1.1.1');
    const b = connection('b', '1.1.1.2');
    registry.add(a, 'shared');
    registry.add(a, 'mine');
    registry.add(b, 'shared');
    expect(registry.removeAll(a)).toEqual(['mine']);
    expect(a.topics.size).toBe(0);
    expect(registry.topicCount).toBe(1);
  });
});
