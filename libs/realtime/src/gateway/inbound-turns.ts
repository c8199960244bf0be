import type { Connection } from '../registry/connection';

/** A frame as ws hands it over. */
export type InboundFrame = readonly [raw: Buffer, isBinary: boolean];

/** What one connection may have handled in one event-loop turn: this many frames… */
export const MAX_FRAMES_PER_TURN = 256;
/** …or this many bytes of them, whichever comes first (a first frame always goes through). */
export const MAX_BYTES_PER_TURN = 64 * 1024;

/**
 * Shares each event-loop turn between connections. A connection whose
 * frames in this turn pass the budget (a backlog of costly frames, a burst)
 * has its socket paused and the rest of what ws already read kept in
 * order; the next turn, after the poll phase has read every other socket,
 * goes on with it under a fresh budget, then resumes the socket. So one
 * client can delay others by at most its budget's cost per turn, while a
 * burst of small requests is still handled in a few turns (its fan-out
 * batched by the writer), not one turn per message.
 */
export class InboundTurns {
  private tick = 1;
  private turnEndScheduled = false;
  private waiting: Connection[] = [];

  constructor(private readonly handle: (connection: Connection, frame: InboundFrame) => void) {}

  offer(connection: Connection, frame: InboundFrame): void {
    const backlog = connection.inbound;
    if (backlog !== undefined) {
      backlog.push(frame);
    } else if (this.spend(connection, frame)) {
      this.handle(connection, frame);
    } else {
      connection.inbound = [frame];
      // ws stops reading the socket; frames it has already read still arrive, and queue.
      connection.socket.pause();
      this.wait(connection);
    }
  }

  private spend(connection: Connection, [raw]: InboundFrame): boolean {
    if (connection.turn !== this.tick) {
      connection.turn = this.tick;
      connection.turnFrames = 0;
      connection.turnBytes = 0;
      this.scheduleTurnEnd();
    }
    const bytes = connection.turnBytes + raw.length;
    if (connection.turnFrames > 0) {
      if (connection.turnFrames >= MAX_FRAMES_PER_TURN || bytes > MAX_BYTES_PER_TURN) return false;
    }
    connection.turnFrames++;
    connection.turnBytes = bytes;
    return true;
  }

  private wait(connection: Connection): void {
    this.waiting.push(connection);
    this.scheduleTurnEnd();
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.endTurn);
  }

  /** A new turn: the connections that waited go on, in the order they began to wait. */
  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    this.tick++;
    const waiting = this.waiting;
    this.waiting = [];
    for (const connection of waiting) this.goOn(connection);
  };

  private goOn(connection: Connection): void {
    const backlog = connection.inbound as InboundFrame[];
    let next = 0;
    while (next < backlog.length && this.spend(connection, backlog[next])) {
      this.handle(connection, backlog[next++]);
    }
    backlog.splice(0, next);
    if (backlog.length > 0) return this.wait(connection);
    connection.inbound = undefined;
    connection.socket.resume();
  }
}
