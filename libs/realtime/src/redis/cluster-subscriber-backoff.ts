import type { Cluster } from 'ioredis';
import { ReconnectBackoff } from './reconnect-backoff';

/**
 * What this module relies on of ioredis's ClusterSubscriber (not exported):
 * the connection a Cluster subscribes on, replaced by a new one to some node
 * whenever it ends (`onSubscriberEnd`, read as each new connection is made).
 */
interface ClusterSubscriberInternals {
  onSubscriberEnd: () => void;
  selectSubscriber: () => void;
  isStarted(): boolean;
  getInstance(): { once(event: 'ready', listener: () => void): unknown } | null;
}

/**
 * Spaces out a Cluster's subscriber replacements as ReconnectBackoff spaces
 * out a connection's reconnects. ioredis replaces an ended subscriber at
 * once, with no delay: while every node refuses its credentials (a password
 * changed), Bull's subscriber on a cluster was replaced, and refused,
 * hundreds of times a second (1,651 connections in 3 s in the spec). The count resets once a replacement is ready (it has
 * a ready check: Redis accepted it). Left as it is if ioredis no longer has
 * these internals.
 */
export function backOffClusterSubscriber(cluster: Cluster): void {
  const subscriber = (cluster as unknown as { subscriber?: Partial<ClusterSubscriberInternals> })
    .subscriber;
  if (
    typeof subscriber?.onSubscriberEnd !== 'function' ||
    typeof subscriber.selectSubscriber !== 'function'
  ) {
    return;
  }
  const internals = subscriber as ClusterSubscriberInternals;
  const backoff = new ReconnectBackoff();
  const select = internals.selectSubscriber.bind(internals);
  let wait: NodeJS.Timeout | undefined;
  internals.selectSubscriber = () => {
    select();
    internals.getInstance()?.once('ready', () => backoff.held());
  };
  internals.onSubscriberEnd = () => {
    if (wait !== undefined || !internals.isStarted()) return;
    wait = setTimeout(() => {
      wait = undefined;
      if (internals.isStarted()) internals.selectSubscriber();
    }, backoff.delay());
  };
  cluster.on('end', () => {
    clearTimeout(wait);
    wait = undefined;
  });
}
