import { Injectable } from '@nestjs/common';
import type { Connection } from './connection';

/** Told of every subscription added and removed, synchronously (presence keeps its entries so). */
export interface SubscriptionListener {
  added(connection: Connection, topic: string): void;
  removed(connection: Connection, topic: string): void;
}

/**
 * Topic → local subscribers, and (on the connection) connection → topics.
 * Fan-out is a plain loop over one of these sets.
 */
@Injectable()
export class SubscriptionRegistry {
  private readonly subscribers = new Map<string, Set<Connection>>();
  private total = 0;
  private listener: SubscriptionListener | undefined;

  /** One listener (presence); set once at start-up. */
  listen(listener: SubscriptionListener): void {
    this.listener = listener;
  }

  get topicCount(): number {
    return this.subscribers.size;
  }

  get subscriptionCount(): number {
    return this.total;
  }

  subscribersOf(topic: string): ReadonlySet<Connection> | undefined {
    return this.subscribers.get(topic);
  }

  /** Returns true when this is the topic's first local subscriber. */
  add(connection: Connection, topic: string): boolean {
    if (connection.topics.has(topic)) return false;
    connection.topics.add(topic);
    this.total++;
    this.listener?.added(connection, topic);
    const set = this.subscribers.get(topic);
    if (set) {
      set.add(connection);
      return false;
    }
    this.subscribers.set(topic, new Set([connection]));
    return true;
  }

  /** Returns true when the topic has no local subscriber left. */
  remove(connection: Connection, topic: string): boolean {
    if (!connection.topics.delete(topic)) return false;
    this.total--;
    this.listener?.removed(connection, topic);
    const set = this.subscribers.get(topic);
    if (!set) return false;
    set.delete(connection);
    if (set.size > 0) return false;
    this.subscribers.delete(topic);
    return true;
  }

  /** Removes every subscription of a connection; returns the topics left without local subscribers. */
  removeAll(connection: Connection): string[] {
    const emptied: string[] = [];
    for (const topic of [...connection.topics]) {
      if (this.remove(connection, topic)) emptied.push(topic);
    }
    return emptied;
  }
}
