import { setImmediate as nextTurn } from 'node:timers/promises';
import type WebSocket from 'ws';
import { ANONYMOUS } from '../auth/principal';
import type { SocketWriter } from '../transport/socket-writer.service';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { CloseCode } from '../protocol';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { HeartbeatScheduler, PINGS_PER_TURN } from './heartbeat.scheduler';

const CONNECTIONS = 2 * PINGS_PER_TURN + 200;

describe('HeartbeatScheduler', () => {
  let pinged: number;
  let scheduler: HeartbeatScheduler;
  let registry: ConnectionRegistry;
  const closed: Array<[Connection, number]> = [];

  beforeEach(() => {
    pinged = 0;
    closed.length = 0;
    registry = new ConnectionRegistry();
    const socket = { readyState: 1 } as unknown as WebSocket;
    for (let i = 0; i < CONNECTIONS; i++) {
      registry.add(new Connection(`c${i}`, socket, '10.0.0.1', ANONYMOUS));
    }
    const writer = {
      ping: () => pinged++,
      close: (connection: Connection, code: number) => closed.push([connection, code]),
    };
    scheduler = new HeartbeatScheduler(
      resolveRealtimeOptions({ heartbeat: { intervalMs: 60_000, pongTimeoutMs: 20 } }),
      registry,
      writer as unknown as SocketWriter,
    );
  });
  afterEach(() => scheduler.onApplicationShutdown());

  it(`pings ${PINGS_PER_TURN} connections per turn, so deliveries go out between slices`, async () => {
    scheduler['beat']();
    expect(pinged).toBe(PINGS_PER_TURN);
    await nextTurn();
    expect(pinged).toBe(2 * PINGS_PER_TURN);
    await nextTurn();
    expect(pinged).toBe(CONNECTIONS);
    await nextTurn();
    expect(pinged).toBe(CONNECTIONS);
  });

  it('does not start a beat while the last one is still being sent', async () => {
    scheduler['beat']();
    scheduler['beat']();
    expect(pinged).toBe(PINGS_PER_TURN);
    for (let turn = 0; turn < 4; turn++) await nextTurn();
    expect(pinged).toBe(CONNECTIONS);
  });

  it('closes with 4000 those that did not answer within pongTimeoutMs of the last ping, and only those', async () => {
    const connections = [...registry.all()];
    scheduler['beat']();
    for (let turn = 0; turn < 3; turn++) await nextTurn();
    // Pongs from every connection but the first and the last one pinged.
    for (const connection of connections.slice(1, -1)) connection.awaitingPong = false;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(closed).toEqual([
      [connections[0], CloseCode.HeartbeatTimeout],
      [connections[connections.length - 1], CloseCode.HeartbeatTimeout],
    ]);
  });
});
