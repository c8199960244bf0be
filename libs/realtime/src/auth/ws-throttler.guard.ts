import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ThrottlerGuard, type ThrottlerStorage } from '@nestjs/throttler';
import type { WebSocket } from 'ws';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS, REALTIME_THROTTLER_STORAGE } from '../realtime.constants';
import { connectionOf } from '../registry/socket-connection';

const SUBSCRIPTIONS = 'subscriptions';

/**
 * @nestjs/throttler on the `subscribe` and `unsubscribe` handlers (the
 * gateway applies it to those two): each connection may change its
 * subscriptions `limits.subscriptionChurnRate` times per `messageWindowMs`;
 * past that a request gets RATE_LIMITED. The overall message rate is charged
 * earlier, before parsing (MessageRateLimiter).
 */
@Injectable()
export class WsThrottlerGuard extends ThrottlerGuard {
  constructor(
    @Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions,
    @Inject(REALTIME_THROTTLER_STORAGE) storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    const { subscriptionChurnRate: limit, messageWindowMs: ttl } = options.limits;
    super(
      { throttlers: [{ name: SUBSCRIPTIONS, limit, ttl, blockDuration: 0 }], setHeaders: false },
      storage,
      reflector,
    );
  }

  protected override getRequestResponse(context: ExecutionContext) {
    const client = context.switchToWs().getClient<Record<string, never>>();
    return { req: client, res: client };
  }

  protected override getTracker(socket: Record<string, unknown>): Promise<string> {
    return Promise.resolve(connectionOf(socket as unknown as WebSocket)?.id ?? 'unregistered');
  }

  /** The default key hashes per handler; one plain key per connection counts all events together. */
  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    name: string,
  ): string {
    return `${name}:${tracker}`;
  }

  protected override throwThrottlingException(): Promise<void> {
    throw new RealtimeException(ErrorCode.RateLimited, 'too many subscription changes');
  }
}
