import type { Cluster } from 'ioredis';

/** What this module relies on of ioredis's Cluster beyond its public API. */
interface ClusterInternals {
  setStatus(status: 'close'): void;
  handleCloseEvent(): void;
}

/**
 * Makes a Cluster's `disconnect()` end it even when it holds no node
 * connection. ioredis ends a disconnected cluster only when its node pool
 * drains, and a cluster whose last slot refresh failed (every node refused
 * the credentials, or none answered) has an empty pool already: it stayed
 * `disconnecting` for good, with no `end`. Bull's queue close waits for
 * that `end` on each of its connections, and so did the host's shutdown,
 * until the process was killed. Left as it is if ioredis no longer has
 * these internals.
 */
export function endWhenDisconnected(cluster: Cluster): void {
  const internals = cluster as unknown as Partial<ClusterInternals>;
  if (typeof internals.setStatus !== 'function' || typeof internals.handleCloseEvent !== 'function')
    return;
  const ended = internals as ClusterInternals;
  const disconnect = cluster.disconnect.bind(cluster);
  cluster.disconnect = (reconnect = false) => {
    const poolEmpty = cluster.nodes('all').length === 0;
    disconnect(reconnect);
    if (reconnect || !poolEmpty || cluster.status !== 'disconnecting') return;
    // What ioredis does for a cluster that never connected: closed, then (closing by hand) ended.
    ended.setStatus('close');
    ended.handleCloseEvent();
  };
}
