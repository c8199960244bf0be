import Redis, { type Cluster, type Command } from 'ioredis';
import type { Writable } from 'node:stream';

type CommandStream = Parameters<Redis['sendCommand']>[1];

/** The socket a connection corked in this turn (undefined once uncorked). */
const CORKED = Symbol('realtime.corked-socket');
type Corkable = Redis & { [CORKED]?: Writable };

function uncorkLater(socket: Writable, redis: Corkable): void {
  if (redis[CORKED] === socket) redis[CORKED] = undefined;
  socket.uncork();
}

/** Corks the connection's socket at its first command of a turn, until the turn ends. */
function corkForTurn(redis: Corkable): void {
  if (redis[CORKED] !== undefined) return;
  const socket = redis.stream as Writable | undefined;
  if (!socket?.writable) return;
  socket.cork();
  redis[CORKED] = socket;
  setImmediate(uncorkLater, socket, redis);
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
  override sendCommand(command: Command, stream?: CommandStream): unknown {
    corkForTurn(this);
    return super.sendCommand(command, stream);
  }
}

/**
 * The same one write per turn for every node connection of a Redis Cluster
 * client. ioredis creates those itself (so they cannot be TurnBatchedRedis),
 * and announces each with `+node` before it sends it anything. A turn's
 * commands for one node (a handshake's, an inbox read with a presence
 * entry, the per-slot calls of a batch) then leave in one write per node
 * instead of one each.
 */
export function batchTurnsPerNode(cluster: Cluster): void {
  cluster.on('+node', (node: Corkable) => {
    const send = node.sendCommand.bind(node);
    node.sendCommand = (command: Command, stream?: CommandStream) => {
      corkForTurn(node);
      return send(command, stream);
    };
  });
}
