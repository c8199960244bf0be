import Redis, { type Command } from 'ioredis';
import type { Writable } from 'node:stream';

type CommandStream = Parameters<Redis['sendCommand']>[1];

function uncorkLater(socket: Writable, redis: TurnBatchedRedis): void {
  redis.endTurn(socket);
}

/**
 * An ioredis connection whose commands of one event-loop turn leave in one
 * write. A write syscall costs tens of microseconds on a busy machine, and
 * the handshakes, closes and publishes of one turn (each its own I/O
 * callback, so ioredis's auto-pipelining, which flushes on the next tick,
 * would not join them) then share one, and Redis answers them in one too.
 * The socket is corked at the first command of a turn and uncorked when the
 * turn ends (`setImmediate`), so no command waits past the current turn.
 */
export class TurnBatchedRedis extends Redis {
  private corkedSocket: Writable | undefined;

  override sendCommand(command: Command, stream?: CommandStream): unknown {
    this.corkForTurn();
    return super.sendCommand(command, stream);
  }

  /** @internal the end of the turn in which `socket` was corked. */
  endTurn(socket: Writable): void {
    if (this.corkedSocket === socket) this.corkedSocket = undefined;
    socket.uncork();
  }

  private corkForTurn(): void {
    if (this.corkedSocket !== undefined) return;
    const socket = this.stream as Writable | undefined;
    if (!socket?.writable) return;
    socket.cork();
    this.corkedSocket = socket;
    setImmediate(uncorkLater, socket, this);
  }
}
