import { HealthIndicatorService } from '@nestjs/terminus';
import type { RealtimeEngine } from '../engine/realtime-engine.port';
import { ConnectionRegistry } from '../registry/connection.registry';
import { RealtimeHealthIndicator } from './realtime.health';

describe('RealtimeHealthIndicator', () => {
  const engine = {
    name: 'memory',
    isHealthy: jest.fn(() => Promise.resolve(true)),
    stats: jest.fn(() => Promise.resolve({ state: 'ready' })),
  };
  const indicator = new RealtimeHealthIndicator(
    engine as unknown as RealtimeEngine,
    new ConnectionRegistry(),
    new HealthIndicatorService(),
  );

  it('is up while the engine is healthy and the instance accepts handshakes', async () => {
    expect(await indicator.check()).toEqual({
      realtime: { status: 'up', engine: 'memory', state: 'ready', connections: 0 },
    });
  });

  it('is down, draining, from the start of shutdown (or a drain), without asking the engine', async () => {
    indicator.markDraining();
    engine.isHealthy.mockClear();
    expect(await indicator.check()).toEqual({
      realtime: { status: 'down', engine: 'memory', draining: true, connections: 0 },
    });
    expect(engine.isHealthy).not.toHaveBeenCalled();
  });
});
