import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import type { WatchedLink } from './link-watch';

/**
 * Groups `items` by the master that serves their slot in the client's slot
 * map, each group with that master's connection (undefined where the map
 * names no master, or its connection is not ready). The map may be stale
 * (a slot moved, a failover): a caller that sends a group to its master
 * must have the call check, before it writes anything, that every key is
 * still served there (see RESERVE_ON_NODE_SCRIPT), and fall back to calls
 * routed by key otherwise.
 */
export function groupByMaster<T>(
  cluster: Cluster,
  items: Iterable<T>,
  slotOf: (item: T) => number,
): Map<Redis | undefined, T[]> {
  const masters = readyMasters(cluster);
  const groups = new Map<Redis | undefined, T[]>();
  for (const item of items) {
    const owner = cluster.slots[slotOf(item)]?.[0];
    const node = owner === undefined ? undefined : masters.get(owner);
    const group = groups.get(node);
    if (group) group.push(item);
    else groups.set(node, [item]);
  }
  return groups;
}

/** The masters whose connection is ready, by their address in the slot map (`host:port`). */
export function readyMasters(cluster: Cluster): Map<string, Redis> {
  const masters = new Map<string, Redis>();
  for (const node of cluster.nodes('master')) {
    if (node.status === 'ready') masters.set(`${node.options.host}:${node.options.port}`, node);
  }
  return masters;
}

/**
 * The client's node connections as they are now (ioredis opens and drops
 * them as the slot map changes), each named `<name>:<host>:<port>`: what
 * LinkWatch PINGs on a cluster.
 */
export function nodeLinks(name: string, cluster: Cluster): WatchedLink[] {
  return cluster
    .nodes('all')
    .map((node): WatchedLink => [`${name}:${node.options.host}:${node.options.port}`, node]);
}

/**
 * Errors a node answers before it runs a script (so the script wrote
 * nothing): it is no master now, it is loading, the cluster is down. A
 * caller may then redo the call's work by other calls without doubling it.
 */
export function refusedBeforeRunning(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ReplyError' &&
    /^(READONLY|LOADING|CLUSTERDOWN|MASTERDOWN) /.test(error.message)
  );
}
