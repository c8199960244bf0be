import { DemoProcess } from './support/demo-process';
import { TestRedis } from './support/redis-server';

/** The support the Redis-mode suites stand on: a redis-server of their own, and the demo as a process. */
describe('test support', () => {
  it('starts, stops and restarts its own redis-server on a free port (never 6379)', async () => {
    const redis = await TestRedis.start();
    try {
      expect(redis.port).not.toBe(6379);
      await redis.command('SET', 'k', 'v');
      expect(await redis.command('GET', 'k')).toBe('$1\r\nv');
      await redis.stop();
      await expect(redis.command('PING')).rejects.toThrow();
      await redis.restart();
      expect(await redis.command('GET', 'k')).toBe('$-1');
    } finally {
      await redis.stop();
    }
  });

  it('runs the built demo as a process and stops it with SIGTERM', async () => {
    const demo = await DemoProcess.start();
    const health = await demo.http('GET', '/health');
    expect(health.status).toBe(200);
    await demo.stop();
    expect(await demo.exitStatus()).toBe('exit 0');
  });
});
