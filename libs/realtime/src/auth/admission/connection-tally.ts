import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ipLimitKey } from '../../registry/connection.registry';

/** The slot a socket holds: the tally keys it counts toward (null: not counted there). */
export interface HeldSlot {
  ip: string | null;
  user: string | null;
}

const SLOT = Symbol('realtime.admission-slot');

/** WebSocket's readyState once its `close` event has been emitted. */
const CLOSED = 3;

/**
 * What a slot is held on until it closes: a handshake's TCP socket, or the
 * WebSocket of a connection that signed in with `auth` (its user's slot).
 */
type SlotHolder = (Socket | WebSocket) & { [SLOT]?: HeldSlot };

/**
 * This process's slots per IP and per user as Redis should see them:
 * handshakes in progress as well as open connections (so that two concurrent
 * handshakes cannot both take the last slot). Keys are `ip:<address or /64>`
 * and `user:<id>`; every entry shrinks back to nothing on release.
 */
export class ConnectionTally {
  private readonly counts = new Map<string, number>();
  /** One close listener for every socket; `this` is the socket. */
  private readonly onClose: (this: SlotHolder) => void;

  constructor(onRelease: (slot: HeldSlot) => void) {
    const release = (slot: HeldSlot) => {
      if (slot.ip !== null) this.decrement(slot.ip);
      if (slot.user !== null) this.decrement(slot.user);
      onRelease(slot);
    };
    this.onClose = function (this: SlotHolder) {
      const slot = this[SLOT];
      if (slot === undefined) return;
      this[SLOT] = undefined;
      release(slot);
    };
  }

  static ipKey(ip: string): string {
    return `ip:${ipLimitKey(ip)}`;
  }

  static userKey(userId: string): string {
    return `user:${userId}`;
  }

  count(key: string | null): number {
    return key === null ? 0 : (this.counts.get(key) ?? 0);
  }

  /** Counts the slot now and releases it when the socket closes (at once if it already has). */
  hold(socket: Socket, slot: HeldSlot): void {
    this.attach(socket, slot, socket.destroyed);
  }

  /**
   * The same for the user's slot of a connection that signed in: held on its
   * WebSocket (the handshake's slot stays on the TCP socket under it, which
   * the session does not see), released when that closes, as the
   * handshake's is. One at a time: a connection's `auth`s run one after another.
   */
  holdUntilClosed(socket: WebSocket, slot: HeldSlot): void {
    this.attach(socket, slot, socket.readyState === CLOSED);
  }

  /** Gives back a slot that `hold` or `holdUntilClosed` counted but the reservation then refused. */
  drop(socket: Socket | WebSocket): void {
    socket.removeListener('close', this.onClose);
    this.onClose.call(socket);
  }

  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  private attach(holder: SlotHolder, slot: HeldSlot, closed: boolean): void {
    if (slot.ip !== null) this.increment(slot.ip);
    if (slot.user !== null) this.increment(slot.user);
    holder[SLOT] = slot;
    holder.on('close', this.onClose);
    if (closed) this.onClose.call(holder);
  }

  private increment(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private decrement(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}
