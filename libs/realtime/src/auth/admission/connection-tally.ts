import type { Socket } from 'node:net';
import { ipLimitKey } from '../../registry/connection.registry';

/** The slot a socket holds: the tally keys it counts toward (null: not counted there). */
export interface HeldSlot {
  ip: string | null;
  user: string | null;
}

const SLOT = Symbol('realtime.admission-slot');
type SlotSocket = Socket & { [SLOT]?: HeldSlot };

/**
 * This process's slots per IP and per user as Redis should see them:
 * handshakes in progress as well as open connections (so that two concurrent
 * handshakes cannot both take the last slot). Keys are `ip:<address or /64>`
 * and `user:<id>`; every entry shrinks back to nothing on release.
 */
export class ConnectionTally {
  private readonly counts = new Map<string, number>();
  /** One close listener for every socket; `this` is the socket. */
  private readonly onClose: (this: Socket) => void;

  constructor(onRelease: (slot: HeldSlot) => void) {
    const release = (slot: HeldSlot) => {
      if (slot.ip !== null) this.decrement(slot.ip);
      if (slot.user !== null) this.decrement(slot.user);
      onRelease(slot);
    };
    this.onClose = function (this: SlotSocket) {
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
    if (slot.ip !== null) this.increment(slot.ip);
    if (slot.user !== null) this.increment(slot.user);
    (socket as SlotSocket)[SLOT] = slot;
    socket.on('close', this.onClose);
    if (socket.destroyed) this.onClose.call(socket);
  }

  /** Gives back a slot that `hold` counted but the reservation then refused. */
  drop(socket: Socket): void {
    socket.removeListener('close', this.onClose);
    this.onClose.call(socket);
  }

  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
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
