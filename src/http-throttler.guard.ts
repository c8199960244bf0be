import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { AuthenticatedRequest } from './auth/authenticated-user';

/**
 * `@nestjs/throttler` for the demo's HTTP routes: each route allows
 * `HTTP_RATE_PER_MIN` requests per minute per signed-in user (bound after
 * HttpAuthGuard, which sets `req.user`), or per address where nobody is
 * signed in. Bound per route, not as a global guard: a global ThrottlerGuard
 * also runs on realtime messages, where it has no request to read.
 */
@Injectable()
export class HttpThrottlerGuard extends ThrottlerGuard {
  protected override getTracker(req: AuthenticatedRequest): Promise<string> {
    return Promise.resolve(req.user ? `user:${req.user.userId}` : `ip:${req.ip ?? 'unknown'}`);
  }

  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    return Promise.resolve(context.getType() !== 'http');
  }
}
