import { resolveRealtimeOptions } from '../options/resolve-options';
import type { Connection } from '../registry/connection';
import { MessageRateLimiter } from './message-rate.limiter';

describe('MessageRateLimiter', () => {
  const limiter = new MessageRateLimiter(
    resolveRealtimeOptions({ limits: { messageRate: 3, messageWindowMs: 1_000 } }),
  );
  const connection = () => ({ rateWindowEnd: 0, rateHits: 0 }) as Connection;

  it('allows the rate, limits up to twice it, then floods; a new window starts afresh', () => {
    const c = connection();
    const verdicts = Array.from({ length: 8 }, () => limiter.charge(c, 10_000));
    expect(verdicts).toEqual([
      'allowed',
      'allowed',
      'allowed',
      'limited',
      'limited',
      'limited',
      'flood',
      'flood',
    ]);
    expect(limiter.charge(c, 10_999)).toBe('flood');
    expect(limiter.charge(c, 11_000)).toBe('allowed');
  });

  it('counts each connection on its own', () => {
    const a = connection();
    const b = connection();
    for (let i = 0; i < 7; i++) limiter.charge(a, 0);
    expect(limiter.charge(b, 0)).toBe('allowed');
  });
});
