import { Logger } from '@nestjs/common';
import type WebSocket from 'ws';
import type { HandshakeService } from '../auth/handshake.service';
import { ANONYMOUS } from '../auth/principal';
import type { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import type { EngineLifecycle } from '../engine/engine-lifecycle.service';
import type { RealtimeHealthIndicator } from '../health/realtime.health';
import type { RealtimeJobs } from '../jobs/realtime-jobs.service';
import { resolveRealtimeOptions } from '../options/resolve-options';
import type { LifecycleDispatcher } from '../presence/lifecycle/lifecycle-dispatcher';
import type { PresenceTracker } from '../presence/presence.tracker';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import type { SocketWriter } from '../transport/socket-writer.service';
import { RealtimeLifecycleService } from './realtime-lifecycle.service';

const GRACE_MS = 1_000;

/** A lifecycle service over fakes that write down, in order, what shutdown asked of them. */
function setUp() {
  const steps: string[] = [];
  let jobsEnded!: () => void;
  const running = new Promise<void>((resolve) => (jobsEnded = resolve));
  const connections = new ConnectionRegistry();
  connections.add(new Connection('c1', { readyState: 1 } as WebSocket, '10.0.0.1', ANONYMOUS));
  const step =
    (name: string, result: () => Promise<void> = () => Promise.resolve()) =>
    () => {
      steps.push(name);
      return result();
    };
  const fakes = {
    handshake: { stopAccepting: () => steps.push('refuse handshakes') },
    health: { markDraining: () => steps.push('not ready') },
    writer: {
      closeAfterPending: (connection: Connection, code: number) => {
        steps.push(`close ${code}`);
        connections.remove(connection);
      },
    },
    presence: { stop: step('presence stops') },
    offline: { stop: step('offline stops') },
    jobs: { stop: step('jobs stop', () => running), close: step('queues close') },
    events: { close: step('events flush') },
    engine: { close: step('engine closes') },
  };
  const lifecycle = new RealtimeLifecycleService(
    resolveRealtimeOptions({ shutdown: { graceMs: GRACE_MS } }),
    fakes.handshake as unknown as HandshakeService,
    connections,
    fakes.writer as unknown as SocketWriter,
    fakes.presence as unknown as PresenceTracker,
    fakes.offline as unknown as OfflineDeliveryService,
    fakes.jobs as unknown as RealtimeJobs,
    fakes.events as unknown as LifecycleDispatcher,
    fakes.engine as unknown as EngineLifecycle,
    fakes.health as unknown as RealtimeHealthIndicator,
  );
  return { lifecycle, steps, jobsEnded, fakes };
}

describe('RealtimeLifecycleService: the shutdown order', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('refuses handshakes, drains the sockets while jobs run, and closes events, queues and engine after the jobs', async () => {
    const { lifecycle, steps, jobsEnded } = setUp();
    let done = false;
    void lifecycle.beforeApplicationShutdown().then(() => (done = true));
    await jest.advanceTimersByTimeAsync(100);
    // Nothing waited on the running jobs before the handshakes were refused and the sockets closed.
    expect(steps).toEqual([
      'refuse handshakes',
      'not ready',
      'jobs stop',
      'presence stops',
      // (the drain stops accepting too: it is also called alone, before a planned restart)
      'refuse handshakes',
      'not ready',
      'close 1001',
    ]);
    expect(done).toBe(false);
    jobsEnded();
    await jest.advanceTimersByTimeAsync(0);
    // Offline delivery stops after the drain (a retained message sent during it is handed over);
    // events flush after their last producers (the closes, the jobs), before the queues close.
    expect(steps.slice(7)).toEqual([
      'offline stops',
      'events flush',
      'queues close',
      'engine closes',
    ]);
    expect(done).toBe(true);
  });

  it('refuses handshakes and reports not ready from onModuleDestroy, the first hook of shutdown', () => {
    const { lifecycle, steps } = setUp();
    lifecycle.onModuleDestroy();
    expect(steps).toEqual(['refuse handshakes', 'not ready']);
  });

  it('waits for running jobs at most shutdown.graceMs, then goes on', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { lifecycle, steps } = setUp();
    let done = false;
    void lifecycle.beforeApplicationShutdown().then(() => (done = true));
    await jest.advanceTimersByTimeAsync(GRACE_MS - 1);
    expect(steps).not.toContain('events flush');
    await jest.advanceTimersByTimeAsync(1);
    expect(steps.slice(-3)).toEqual(['events flush', 'queues close', 'engine closes']);
    expect(done).toBe(true);
  });

  it('a step that fails is logged and the next steps still run', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { lifecycle, steps, jobsEnded, fakes } = setUp();
    fakes.events.close = () => Promise.reject(new Error('Redis gone'));
    jobsEnded();
    await lifecycle.beforeApplicationShutdown();
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Redis gone'));
    expect(steps.slice(-2)).toEqual(['queues close', 'engine closes']);
  });

  it('takes at most twice shutdown.graceMs when Redis answers nothing at all', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { lifecycle, steps, fakes } = setUp();
    const never = () => new Promise<void>(() => undefined);
    fakes.jobs.close = never;
    fakes.events.close = never;
    fakes.engine.close = never;
    let done = false;
    void lifecycle.beforeApplicationShutdown().then(() => (done = true));
    await jest.advanceTimersByTimeAsync(2 * GRACE_MS - 1);
    expect(done).toBe(false);
    // The steps still waiting when the second grace ran out get no time of their own.
    await jest.advanceTimersByTimeAsync(50);
    expect(done).toBe(true);
    expect(steps).toContain('offline stops');
  });
});
