import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { WebSocket } from 'ws';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS, REALTIME_THROTTLER_STORAGE } from '../realtime.constants';
import { connectionOf } from '../registry/socket-connection';

/** Counts every message; listed first so it keeps counting once `messages` refuses. */
const FLOOD = 'flood';
const MESSAGES = 'messages';

/**
 * @nestjs/throttler applied to WebSocket messages, per connection and across
 * all events: over the rate a message gets RATE_LIMITED; over twice the rate
 * in one window the connection is closed with 4008.
 */
@Injectable()
export class WsThrottlerGuard extends ThrottlerGuard {
  private readonly closeGraceMs: number;

  constructor(
    @Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions,
    @Inject(REALTIME_THROTTLER_STORAGE) storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    const { messageRate: limit, messageWindowMs: ttl } = options.limits;
    super(
      {
        throttlers: [
          { name: FLOOD, limit: 2 * limit, ttl, blockDuration: 0 },
          { name: MESSAGES, limit, ttl, blockDuration: 0 },
        ],
        setHeaders: false,
      },
      storage,
      reflector,
    );
    this.closeGraceMs = options.shutdown.graceMs;
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

  protected override throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    if (detail.key.startsWith(FLOOD)) {
      connectionOf(context.switchToWs().getClient<WebSocket>())?.close(
        CloseCode.RateLimitExceeded,
        this.closeGraceMs,
      );
    }
    throw new RealtimeException(ErrorCode.RateLimited, 'too many messages');
  }
}
