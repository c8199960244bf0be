import type { WebSocket } from 'ws';
import type { Connection } from './connection';

const CONNECTION = Symbol('realtime.connection');

type SocketWithConnection = WebSocket & { [CONNECTION]?: Connection };

/** Links a socket to its connection; a property, because a lookup per message must be cheap. */
export function attachConnection(socket: WebSocket, connection: Connection): void {
  (socket as SocketWithConnection)[CONNECTION] = connection;
}

export function connectionOf(socket: WebSocket): Connection | undefined {
  return (socket as SocketWithConnection)[CONNECTION];
}
