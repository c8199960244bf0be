import type { TestRedis } from './redis-server';

/**
 * (Re)defines a Redis user on every node with this password, every key,
 * channel and command allowed. ACLs are per node, even on a cluster.
 */
export function setUserPassword(nodes: TestRedis[], user: string, password: string) {
  return Promise.all(
    nodes.map((node) =>
      node.command('ACL', 'SETUSER', user, 'on', 'resetpass', `>${password}`, '~*', '&*', '+@all'),
    ),
  );
}

/** Drops the user's open connections on every node, as a restart of Redis or a proxy would. */
export function killUserClients(nodes: TestRedis[], user: string) {
  return Promise.all(nodes.map((node) => node.command('CLIENT', 'KILL', 'USER', user)));
}

/** Connections every node accepted so far (INFO stats): while AUTH is refused, one per attempt. */
export async function connectionsAccepted(nodes: TestRedis[]): Promise<number> {
  const stats = await Promise.all(nodes.map((node) => node.command('INFO', 'stats')));
  return stats.reduce(
    (sum, info) => sum + Number(/total_connections_received:(\d+)/.exec(info)?.[1]),
    0,
  );
}
