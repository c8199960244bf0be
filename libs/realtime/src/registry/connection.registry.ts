import { Injectable } from '@nestjs/common';
import { normalizeIp } from '@nestjs/throttler';
import type { Connection } from './connection';

/**
 * The key per-IP limits count under: one IPv6 /64 counts as one client, since
 * a single host usually owns the whole prefix.
 */
export function ipLimitKey(ip: string): string {
  // Addresses reach here canonical (canonicalIp): an IPv4 one is its own key.
  return ip.includes(':') ? normalizeIp(ip) : ip;
}

/** Told of every connection added and removed, and of a user id an `auth` gave an anonymous one. */
export interface ConnectionListener {
  added(connection: Connection): void;
  removed(connection: Connection): void;
  userChanged(connection: Connection, previousUserId: string | null): void;
}

/** Open connections by id, user and IP; every index shrinks back to nothing on release. */
@Injectable()
export class ConnectionRegistry {
  private readonly byId = new Map<string, Connection>();
  /** A user's one connection, or a set once they have several (most users have one). */
  private readonly byUser = new Map<string, Connection | Set<Connection>>();
  private readonly perIp = new Map<string, number>();
  /**
   * One string per client address with open connections, and how many use
   * it: the thousands of connections from one address (a NAT, a proxy) share
   * it instead of holding a copy each.
   */
  private readonly addresses = new Map<string, { ip: string; connections: number }>();
  private listener: ConnectionListener | undefined;

  /** One listener (presence); set once at start-up. */
  listen(listener: ConnectionListener): void {
    this.listener = listener;
  }

  get size(): number {
    return this.byId.size;
  }

  get userCount(): number {
    return this.byUser.size;
  }

  /** The string of this address that open connections already hold, else `ip` itself. */
  sharedIp(ip: string): string {
    return this.addresses.get(ip)?.ip ?? ip;
  }

  add(connection: Connection): void {
    this.byId.set(connection.id, connection);
    const address = this.addresses.get(connection.ip);
    if (address) address.connections++;
    else this.addresses.set(connection.ip, { ip: connection.ip, connections: 1 });
    const key = ipLimitKey(connection.ip);
    this.perIp.set(key, (this.perIp.get(key) ?? 0) + 1);
    this.indexUser(connection, connection.principal.userId);
    this.listener?.added(connection);
  }

  /** Idempotent: a connection may be released by close and by disconnect. */
  remove(connection: Connection): boolean {
    if (this.byId.get(connection.id) !== connection) return false;
    this.byId.delete(connection.id);
    const address = this.addresses.get(connection.ip);
    if (address && --address.connections === 0) this.addresses.delete(connection.ip);
    const key = ipLimitKey(connection.ip);
    const left = (this.perIp.get(key) ?? 1) - 1;
    if (left > 0) this.perIp.set(key, left);
    else this.perIp.delete(key);
    this.unindexUser(connection, connection.principal.userId);
    this.listener?.removed(connection);
    return true;
  }

  /** Moves a connection to another user index (anonymous → user on `auth`). */
  reindexUser(connection: Connection, previousUserId: string | null): void {
    if (!this.byId.has(connection.id)) return;
    this.unindexUser(connection, previousUserId);
    this.indexUser(connection, connection.principal.userId);
    this.listener?.userChanged(connection, previousUserId);
  }

  ofUser(userId: string): ReadonlySet<Connection> {
    const entry = this.byUser.get(userId);
    if (entry === undefined) return EMPTY;
    return entry instanceof Set ? entry : new Set([entry]);
  }

  countForIp(ip: string): number {
    return this.perIp.get(ipLimitKey(ip)) ?? 0;
  }

  countForUser(userId: string): number {
    const entry = this.byUser.get(userId);
    if (entry === undefined) return 0;
    return entry instanceof Set ? entry.size : 1;
  }

  all(): IterableIterator<Connection> {
    return this.byId.values();
  }

  private indexUser(connection: Connection, userId: string | null): void {
    if (userId === null) return;
    const entry = this.byUser.get(userId);
    if (entry === undefined) this.byUser.set(userId, connection);
    else if (entry instanceof Set) entry.add(connection);
    else if (entry !== connection) this.byUser.set(userId, new Set([entry, connection]));
  }

  private unindexUser(connection: Connection, userId: string | null): void {
    if (userId === null) return;
    const entry = this.byUser.get(userId);
    if (entry === connection) {
      this.byUser.delete(userId);
    } else if (entry instanceof Set) {
      entry.delete(connection);
      if (entry.size === 1) this.byUser.set(userId, entry.values().next().value as Connection);
    }
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();
