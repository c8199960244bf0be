import { Inject, Injectable } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';

/**
 * `limited`: over the rate, the message gets RATE_LIMITED; `flood`: over twice
 * the rate in one window, the connection closes with 4008.
 */
export type MessageRate = 'allowed' | 'limited' | 'flood';

/**
 * Inbound messages per connection in fixed windows of `limits.messageWindowMs`,
 * charged when a frame arrives, before it is parsed: garbage and floods pay
 * the same as well-formed requests. Two numbers on the connection, no table
 * and no key string per message.
 */
@Injectable()
export class MessageRateLimiter {
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(@Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions) {
    this.limit = options.limits.messageRate;
    this.windowMs = options.limits.messageWindowMs;
  }

  charge(connection: Connection, now = Date.now()): MessageRate {
    if (connection.rateWindowEnd <= now) {
      connection.rateWindowEnd = now + this.windowMs;
      connection.rateHits = 0;
    }
    const hits = ++connection.rateHits;
    if (hits <= this.limit) return 'allowed';
    return hits > 2 * this.limit ? 'flood' : 'limited';
  }
}
